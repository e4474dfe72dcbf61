"""Semantic search for photo libraries: the core library every front end uses."""

__version__ = "0.1.0"
