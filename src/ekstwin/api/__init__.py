"""A Kubernetes-compatible HTTP API over the twin's store, for kubectl and the official clients.

``create_app(store, token=..., on_write=...)`` returns a Starlette app; ``ekstwin serve`` runs it under
uvicorn beside the real-time driver. Modules: ``app`` (routing, auth), ``discovery`` (resource lists,
OpenAPI stubs), ``handlers`` (the verbs), ``patches`` (merge, strategic-merge, JSON patch), ``query``
(selectors), ``watch`` (streams), ``tables`` (server-side printing), ``status`` (errors as Status objects).

Importing the package does not import Starlette (the ``api`` extra), so helpers such as ``tls`` stay usable
and the CLI can print a friendly "install the api extra" message.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from ekstwin.api.app import create_app
        return create_app
    raise AttributeError(name)
