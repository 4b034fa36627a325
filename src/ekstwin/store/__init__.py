"""Layer 2: the versioned object store, its watch log and its secondary indexes (no clock, no I/O).

``store.Store`` is the entry point; read its module docstring for the ownership rules that replace
deep copies. ``watch`` holds the event log (``WatchEvent``, ``Gone``), ``indexes`` the index names.
"""
