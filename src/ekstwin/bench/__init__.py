"""Benchmarks that ``ekstwin bench`` runs (wall-clock timing is allowed here, and only here and in the CLI)."""
