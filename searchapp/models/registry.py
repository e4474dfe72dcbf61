"""A registry of embedding backends, so tests and plugins add models the way users pick them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from searchapp.errors import ModelNotFoundError

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.models.base import Embedder, ModelIdentity, ModelSpec


class Backend(Protocol):
    def identify(self, spec: ModelSpec) -> ModelIdentity:
        """The identity the spec resolves to, without loading weights."""

    def architecture_config(self, spec: ModelSpec) -> dict[str, Any]:
        """The architecture as data (with `embed_dim`, and `vision_cfg.image_size` where the
        model has one), stored so the model can be rebuilt from the library alone."""

    def load(
        self, spec: ModelSpec, settings: Settings, identity: ModelIdentity | None = None
    ) -> Embedder:
        """Load weights onto the configured device and precision.

        A known `identity` (read from the library) skips re-hashing a local checkpoint.
        """


_BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, backend: Backend) -> None:
    _BACKENDS[name] = backend


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS and name == "open_clip":
        from searchapp.models.open_clip_backend import OpenClipBackend

        register_backend("open_clip", OpenClipBackend())
    try:
        return _BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted({*_BACKENDS, "open_clip"}))
        raise ModelNotFoundError(
            f"Unknown model backend '{name}'. Known backends: {known}."
        ) from None


def load_embedder(
    spec: ModelSpec, settings: Settings, identity: ModelIdentity | None = None
) -> Embedder:
    return get_backend(spec.backend).load(spec, settings, identity)
