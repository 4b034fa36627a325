"""``python -m ekstwin``: the same command line as the ``ekstwin`` console script."""

from ekstwin.cli import main

if __name__ == "__main__":
    main()
