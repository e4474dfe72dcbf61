"""An offline demo: a synthetic photo world and a tiny CLIP model trained on it.

Nothing in the core imports this package; only `searchapp demo` (searchapp/cli/demo.py) and the
tests do. The model is a toy, good only for the world it was trained on: it lets a newcomer (or
CI) see semantic search work without downloading pretrained weights.
"""
