"""A library is a data directory: the store, its model and the derived vector index.

It decides which model a command uses: the one the library was indexed with, unless indexing
asks for another with `reindex`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.config import Settings
from searchapp.errors import LibraryEmptyError, ModelMismatchError, ModelNotFoundError
from searchapp.models.base import ModelSpec, ZeroShotScoring
from searchapp.models.registry import get_backend
from searchapp.process_memory import release_library_pages, return_freed_heap
from searchapp.store import Store, StoredModel

if TYPE_CHECKING:
    from searchapp.live_index import LiveVectorIndex
    from searchapp.models.base import Embedder, ImageEncoder, TextEncoder
    from searchapp.models.export_cache import Manifest
    from searchapp.models.onnx_embedder import OnnxImageEncoder, OnnxTextEncoder
    from searchapp.models.runtime import RuntimeChoice
    from searchapp.vector_backend import VectorBackend, VectorSearcher

log = logging.getLogger(__name__)


class Library:
    def __init__(self, settings: Settings, single_query: bool = False) -> None:
        """`single_query`: this process answers one query and exits (a CLI query command), so
        the query encoders start without repacking their weights (see `open_session`)."""
        self.settings = settings
        self.single_query = single_query
        self._manifests: dict[str, Manifest] = {}
        self.store = Store(settings.database, retry_seconds=settings.database_retry_seconds)
        self._embedder: Embedder | None = None
        self._live_index: LiveVectorIndex | None = None
        self._backend: tuple[int, VectorBackend] | None = None  # (model id, backend)
        self.runtime_choice: RuntimeChoice | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._background_index_builds = False
        self._image_encoder: OnnxImageEncoder | None = None
        self._text_encoder: OnnxTextEncoder | None = None

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.unload()
            self._embedder = None
        self._image_encoder = self._text_encoder = None
        if self._backend is not None:
            self._backend[1].close()
            self._backend = None
        self.store.close()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    @property
    def model_loaded(self) -> bool:
        """Whether the whole model (the indexing runtime's) is in memory."""
        return self._embedder is not None

    def release_model(self) -> None:
        """Unload the whole model (the indexing runtime's), keeping the exported query towers:
        tagging after an index needs only the text tower, and the image tower's weights and
        buffers would double its memory. The next `embedder` call loads it again."""
        if self._embedder is not None:
            self._embedder.unload()
            self._embedder = None

    # -- model choice -----------------------------------------------------------------------

    def _spec_of(self, model: StoredModel) -> ModelSpec:
        config_path = None
        if model.config_json is not None:
            config_path = self._model_config_file(model.identity.name, model.config_json)
        pretrained = model.pretrained
        checkpoint_missing = pretrained is not None and not Path(pretrained).is_file()
        if checkpoint_missing and model.identity.is_local_checkpoint:
            raise ModelNotFoundError(
                f"The checkpoint this library was indexed with is missing: {pretrained}. "
                "Put it back, or index again with --reindex and other model flags."
            )
        return ModelSpec(model.identity.name, pretrained, config_path, model.identity.backend)

    def model_spec(self, model: StoredModel) -> ModelSpec:
        """How to load a stored model elsewhere (an indexing worker): name, weights, config."""
        return self._spec_of(model)

    def _model_config_file(self, name: str, config_json: str) -> Path:
        """The stored architecture as a file open_clip can register: in the data directory, or
        (a read-only library) in a temporary folder of this process."""
        config_path = self.settings.model_configs_dir / f"{name}.json"
        if config_path.is_file() and config_path.read_text() == config_json:
            return config_path
        try:
            config_path.parent.mkdir(parents=True, exist_ok=True)
            config_path.write_text(config_json)
        except OSError:
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="searchapp-")
            config_path = Path(self._scratch.name) / f"{name}.json"
            config_path.write_text(config_json)
        return config_path

    def indexing_model(self, requested: ModelSpec | None, reindex: bool = False) -> StoredModel:
        """The model to index with: the library's, or `requested` when new or when re-indexing.

        A new model is recorded but becomes the library's model only once it has loaded
        (`load_for_indexing`), so a checkpoint that fails to load changes nothing.
        """
        active = self.store.active_model()
        if requested is None:
            if active is not None:
                return active
            requested = ModelSpec()
        backend = get_backend(requested.backend)
        identity = backend.identify(requested)
        if active is not None and active.identity.key == identity.key:
            return active
        if active is not None and not reindex:
            raise ModelMismatchError(
                f"This library was indexed with {active.identity.describe()}, not "
                f"{identity.describe()}. Add --reindex to re-embed every photo with the new model, "
                "or leave out the model flags to keep the library's model."
            )
        architecture = backend.architecture_config(requested)
        config_json = None
        if requested.config_path is not None:
            config_json = json.dumps(architecture, indent=2)
        pretrained = requested.pretrained
        if pretrained and identity.is_local_checkpoint:
            pretrained = str(Path(pretrained).expanduser().resolve())
        dim = int(architecture["embed_dim"])
        return self.store.register_model(identity, pretrained, config_json, dim)

    def input_size(self, model: StoredModel) -> int | None:
        """The model's image input size, read from its architecture without loading weights."""
        spec = self._spec_of(model)
        vision = get_backend(spec.backend).architecture_config(spec).get("vision_cfg", {})
        size = vision.get("image_size") if isinstance(vision, dict) else None
        if isinstance(size, (list, tuple)):
            return int(max(size))
        return int(size) if isinstance(size, int) else None

    def load_for_indexing(self, model: StoredModel) -> Embedder:
        """Load the model's weights; once they load, it is the library's model."""
        embedder = self.embedder(model)
        active = self.store.active_model()
        if active is None or active.id != model.id:
            self.store.activate_model(model.id)
            log.info("library model is now %s", model.identity.describe())
        return embedder

    def query_model(self, requested: ModelSpec | None = None) -> StoredModel:
        """The library's model; a query that names another one is refused."""
        active = self.store.active_model()
        if active is None:
            raise LibraryEmptyError(
                "Nothing is indexed yet in this data directory. Run `searchapp index PATH` first."
            )
        if requested is not None:
            identity = get_backend(requested.backend).identify(requested)
            if identity.key != active.identity.key:
                raise ModelMismatchError(
                    f"This library was indexed with {active.identity.describe()}; queries must use "
                    f"the same model, not {identity.describe()}. Leave out the model flags, or "
                    "re-index with `searchapp index --reindex` and the new model."
                )
        return active

    def embedder(self, model: StoredModel) -> Embedder:
        """The whole model in the runtime chosen for this machine (see `models.runtime`)."""
        if self._embedder is None or self._embedder.identity.key != model.identity.key:
            from searchapp.models.runtime import RuntimeLoader

            loader = RuntimeLoader(self._spec_of(model), self.settings, model.identity)
            self._embedder = loader.load()
            self.runtime_choice = loader.choice
            release_library_pages()
            return_freed_heap()
        return self._embedder

    def _export(self, model: StoredModel) -> Manifest | None:
        """The model's exported towers (user cache); loading the model makes them if missing."""
        from searchapp.models.export_cache import load_manifest

        manifest = self._manifests.get(model.identity.key)
        if manifest is not None:
            return manifest
        manifest = load_manifest(self.settings.cache_dir, model.identity)
        if manifest is None and self._embedder is None:
            self.embedder(model)
            manifest = load_manifest(self.settings.cache_dir, model.identity)
        if manifest is not None:
            self._manifests[model.identity.key] = manifest
        return manifest

    def image_encoder(self, model: StoredModel) -> ImageEncoder:
        """For query photos: the exported image tower on ONNX Runtime (fp32, no torch), so a
        query photo gets the same vector in every process; the model where none exists."""
        if self._image_encoder is None:
            manifest = self._export(model)
            if manifest is None or manifest.image is None:
                return self.embedder(model)
            from searchapp.models.onnx_embedder import OnnxImageEncoder

            self._image_encoder = OnnxImageEncoder(manifest, "fp32", not self.single_query)
        return self._image_encoder

    def text_encoder(self, model: StoredModel) -> TextEncoder:
        """For queries and label embeddings: the exported text tower on ONNX Runtime (fp32, no
        torch), whether or not the model is loaded, so every query of the library gets the same
        vector; the model where its text tower could not be exported."""
        if self._text_encoder is None:
            manifest = self._export(model)
            if manifest is None or manifest.text is None:
                return self.embedder(model)
            from searchapp.models.onnx_embedder import OnnxTextEncoder

            self._text_encoder = OnnxTextEncoder(manifest, "fp32", not self.single_query)
        return self._text_encoder

    def label_precision(self, model: StoredModel) -> str:
        """The precision label embeddings are computed in: int8 where the library runs
        `--precision int8` and the export has an int8 text tower (its vectors agree with fp32's
        to a cosine of 0.999; README, *Runtimes*); the loaded model's where this process holds
        it in torch at bf16 or fp16 (an index run: half the time of ONNX Runtime fp32 on a CPU
        with native bf16, cosine to fp32 0.9999); else fp32 (the query encoder)."""
        if str(self.settings.precision) == "int8":
            return self._int8_label_precision(model)
        loaded = self._embedder
        if (
            loaded is not None
            and loaded.identity.key == model.identity.key
            and getattr(loaded, "runtime", "torch") == "torch"
            and loaded.precision in ("bf16", "fp16")
        ):
            return loaded.precision
        return "fp32"

    def _int8_label_precision(self, model: StoredModel) -> str:
        manifest = self._export(model)
        if manifest is not None and manifest.graph_path("text", "int8") is None:
            from searchapp.models.export_cache import load_manifest

            manifest = load_manifest(self.settings.cache_dir, model.identity)  # int8 made since
            if manifest is not None:
                self._manifests[model.identity.key] = manifest
        if manifest is None or manifest.text is None:
            return "fp32"
        return "fp32" if manifest.graph_path("text", "int8") is None else "int8"

    def label_encoder(self, model: StoredModel, precision: str) -> TextEncoder:
        """The text encoder for label embeddings in `precision` (from `label_precision`)."""
        if precision in ("bf16", "fp16"):
            return self.embedder(model)
        if precision == "fp32":
            return self.text_encoder(model)
        from searchapp.models.onnx_embedder import OnnxTextEncoder

        manifest = self._export(model)
        assert manifest is not None
        return OnnxTextEncoder(manifest, "int8")

    def zero_shot_scoring(self, model: StoredModel) -> ZeroShotScoring:
        """The model's zero-shot constants, from its export when there is one."""
        manifest = self._export(model)
        if manifest is None:
            return self.embedder(model).zero_shot_scoring()
        scoring = manifest.scoring
        bias = scoring.get("logit_bias")
        return ZeroShotScoring(
            str(scoring["family"]),
            float(scoring["logit_scale"]),
            None if bias is None else float(bias),
        )

    def vector_backend(self, model: StoredModel) -> VectorBackend:
        """The backend `SEARCHAPP_VECTOR_BACKEND` names, for the model's vectors (opened once;
        an unreachable or misconfigured one raises `VectorBackendError` with one line)."""
        if self._backend is None or self._backend[0] != model.id:
            from searchapp.vector_backend import open_vector_backend

            if self._backend is not None:
                self._backend[1].close()
                self._backend = None
            backend = open_vector_backend(
                self.settings, self.store, model, self._background_index_builds
            )
            self._backend = (model.id, backend)
        return self._backend[1]

    def vector_index(self, model: StoredModel) -> VectorSearcher:
        """Current for the store as it is now; a process that asks again only pays for what
        changed (see `LiveVectorIndex`, `vector_milvus`)."""
        return self.vector_backend(model).current()

    def rebuild_vector_index(self, model: StoredModel) -> VectorSearcher:
        """Build the index again from the store (it gave impossible scores)."""
        return self.vector_backend(model).rebuild()

    def live_index(self, model: StoredModel) -> LiveVectorIndex:
        """The FAISS index: the backend itself when it is FAISS; else one of this process
        (near-duplicate groups and `doctor` read FAISS's structure)."""
        from searchapp.live_index import LiveVectorIndex
        from searchapp.vector_faiss import FaissBackend

        if self.settings.vector_backend == "faiss":
            backend = self.vector_backend(model)
            if isinstance(backend, FaissBackend):
                return backend.live
        if self._live_index is None or self._live_index.model.id != model.id:
            self._live_index = LiveVectorIndex(
                self.store,
                model,
                self.settings.vectors_dir,
                self.settings.ann_min_photos,
                self._background_index_builds,
                self.settings.cache_dir / "verified",
            )
        return self._live_index

    def enable_background_index_builds(self) -> None:
        """For long-running processes (`serve`, `watch`): when the library crosses
        `ann_min_photos` or the index's delta grows large, rebuild it in a background thread
        while the current one keeps answering, then swap it in."""
        from searchapp.vector_faiss import FaissBackend

        self._background_index_builds = True
        if self._live_index is not None:
            self._live_index.background_builds = True
        if self._backend is not None and isinstance(self._backend[1], FaissBackend):
            self._backend[1].live.background_builds = True

    def vector_index_status(self) -> dict[str, object]:
        """`vector_index` in `searchapp status`: backend, kind, parameters, whether a build runs
        (the open backend's report, else the FAISS files' or the configured Milvus)."""
        if self._backend is not None:
            return self._backend[1].status()
        if self.settings.vector_backend != "faiss":
            from searchapp.milvus_client import milvus_uri

            return {
                "backend": self.settings.vector_backend,
                "kind": None,
                "params": {"uri": milvus_uri(self.settings)},
                "count": None,
                "building": False,
                "build": None,
            }
        from searchapp.vector_file import index_status

        report = index_status(self.settings.vectors_dir, False)
        report["backend"] = "faiss"
        return report
