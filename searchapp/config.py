"""One settings object, read from `SEARCHAPP_*` environment variables and CLI overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
EmbeddingPrecision = Literal["auto", "fp32", "bf16", "fp16", "int8"]
Runtime = Literal["auto", "torch", "onnx"]
DEFAULT_VLM_MODEL = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"
DEFAULT_CAPTION_PROMPT = "Describe this photo in one sentence."


def default_data_dir() -> Path:
    return Path(user_data_dir("searchapp", appauthor=False))


def default_cache_dir() -> Path:
    return Path(user_cache_dir("searchapp", appauthor=False))


class Settings(BaseSettings):
    """Everything a front end can configure. `None` means "choose automatically"."""

    model_config = SettingsConfigDict(env_prefix="SEARCHAPP_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    """The metadata store: None is the SQLite file in the data directory (the default);
    `postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE` puts it on PostgreSQL (extra
    `[scale]`), shared by every worker and server of a deployment; the data directory then
    keeps only what is derived (the vector index, thumbnails)."""
    database_retry_seconds: float = Field(default=30.0, ge=0)
    """How long a lost PostgreSQL connection is retried (with backoff) before a command stops."""
    device: Device = "auto"
    precision: EmbeddingPrecision = "auto"
    runtime: Runtime = "auto"
    cache_dir: Path = Field(default_factory=default_cache_dir)
    batch_size: int | None = Field(default=None, ge=1)
    decode_workers: int | None = Field(default=None, ge=1)
    max_image_megapixels: float = Field(default=180.0, gt=0)
    max_file_megabytes: float = Field(default=512.0, gt=0)
    fast_jpeg_decode: bool = True
    # A JPEG is decoded at reduced scale to no less than this multiple of the model's input
    # before the final resize (README, "Reduced-scale decoding": agreement with a full decode).
    jpeg_draft_scale: float = Field(default=2.0, ge=1.0)
    gpu_jpeg_decode: bool = True
    auto_tag: bool = True
    # Libraries with fewer photos are searched exactly; larger ones through an approximate
    # (IVF-SQ8) index. 50k: where exact search stops being a few milliseconds (README, Scale).
    ann_min_photos: int = Field(default=50_000, ge=1)

    # -- vector backend (searchapp.vector_backend) --------------------------------------------
    vector_backend: str = "faiss"
    """`faiss` (index files beside the store) or `milvus` (`milvus_uri`)."""
    milvus_uri: str | None = None
    """A milvus-lite file (a path ending in .db; default `<data dir>/milvus.db`) or a Milvus
    server URI (`http://HOST:19530`)."""
    milvus_token: SecretStr | None = None
    milvus_timeout_seconds: float = Field(default=10.0, gt=0)
    milvus_index: str = "FLAT"
    """The collection's index type: FLAT (exact), or HNSW / IVF_FLAT / IVF_SQ8 on a server."""

    # -- distributed indexing (`index --ray`, indexer/ray_runner) -------------------------------
    ray_address: str | None = None
    """A Ray cluster (`ray://HOST:10001`, `HOST:6379` or `auto`); unset or `local`: a local Ray."""
    ray_embed_actors: int | None = Field(default=None, ge=1)
    """Embedding actors (default: one per GPU, else one per two CPUs of the cluster)."""

    # -- HTTP API (searchapp.api) -------------------------------------------------------------
    api_token: SecretStr | None = None
    """With a token, every API route but /health needs `Authorization: Bearer TOKEN`."""
    max_upload_megabytes: float = Field(default=50.0, gt=0)

    # -- vision-language model (captions, questions): searchapp.vlm ---------------------------
    vlm_backend: str = "transformers"
    vlm_model: str = DEFAULT_VLM_MODEL
    vlm_url: str | None = None
    vlm_key: SecretStr | None = None
    vlm_device: Device = "auto"
    vlm_precision: Precision = "auto"
    vlm_load_in_4bit: bool = False
    vlm_idle_unload_seconds: float = Field(default=600.0, ge=0)
    vlm_timeout_seconds: float = Field(default=120.0, gt=0)
    vlm_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    vlm_max_new_tokens: int = Field(default=96, ge=1)
    vlm_image_side: int = Field(default=768, ge=32)
    vlm_batch_size: int = Field(default=4, ge=1)
    vlm_caption_prompt: str = DEFAULT_CAPTION_PROMPT
    vlm_auto_caption: bool = False

    @property
    def database_path(self) -> Path:
        return self.data_dir / "library.sqlite3"

    @property
    def database(self) -> Path | str:
        """What `Store` opens: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def vectors_dir(self) -> Path:
        return self.data_dir / "vectors"

    @property
    def thumbnails_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def model_configs_dir(self) -> Path:
        return self.data_dir / "model-configs"
