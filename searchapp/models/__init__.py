"""Embedding models behind one small interface, chosen by name through a registry."""

from searchapp.models.base import Embedder, ModelIdentity, ModelSpec
from searchapp.models.registry import load_embedder, register_backend

__all__ = ["Embedder", "ModelIdentity", "ModelSpec", "load_embedder", "register_backend"]
