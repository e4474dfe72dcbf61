"""Ending a finished command without the interpreter's teardown.

Once a command has printed its answer and closed its library, all that is left is the teardown
of the imported modules: 0.2-0.3 s after a query (SQLAlchemy, pydantic, ONNX Runtime, FAISS) and
2.2 s after an index run that held torch (measured on Zen 4), more than a query and a third of
the tagging after an index. A command that may leave at once asks for it (`request`); `main`
does it only after the command returned without an error (`exit_now`)."""

from __future__ import annotations

import logging
import os
import sys

_requested = False


def request() -> None:
    global _requested
    _requested = True


def reset() -> None:
    global _requested
    _requested = False


def requested() -> bool:
    return _requested


def exit_now() -> None:
    """Flush what was written and end the process without the interpreter's teardown."""
    try:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # e.g. a closed pipe: the ordinary exit reports it
    os._exit(0)
