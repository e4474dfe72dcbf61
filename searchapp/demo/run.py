"""The demo flow: draw the synthetic library, train (or reuse) the tiny model, index the library
with the normal indexer, and run a few searches through the normal search service.

Everything lives under `<data dir>/demo/`, with a library of its own (`demo/library`), so the
demo never touches the user's real library or its model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.config import Settings
from searchapp.demo.train import (
    MODEL_NAME,
    TrainedModel,
    TrainSettings,
    load_trained,
    model_dir,
    train,
)
from searchapp.demo.world import HELD_OUT_SEED, LIBRARY_SEED, SHAPES, write_pictures

if TYPE_CHECKING:
    from searchapp.indexing import IndexSummary
    from searchapp.search import PhotoHit

log = logging.getLogger(__name__)

DEMO_FOLDER = "demo"
PER_COMBINATION = 10  # 5 shapes x 6 colours x 10 = 300 photos
EXAMPLE_QUERIES = (
    "a red circle",
    "a small blue star",
    "a large orange square",
    "a photo of a green cross",
)
EXAMPLE_TOP_K = 3

StepProgress = Callable[[int, int], None]
ProgressFactory = Callable[[], AbstractContextManager[StepProgress]]


def _no_progress() -> AbstractContextManager[StepProgress]:
    return nullcontext(lambda done, total: None)


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps its photos, its trained models and its library."""

    root: Path

    @classmethod
    def under(cls, data_dir: Path) -> DemoPaths:
        return cls(data_dir / DEMO_FOLDER)

    @property
    def photos(self) -> Path:
        return self.root / "photos"

    @property
    def query_photos(self) -> Path:
        """Pictures outside the library, to search by example."""
        return self.root / "query-photos"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def library(self) -> Path:
        """The demo library's data directory (pass it as `--data-dir`)."""
        return self.root / "library"

    @property
    def shapes_labels(self) -> Path:
        """The demo world's shapes, one label per line, for `classify --labels`."""
        return self.root / "shapes.txt"


@dataclass(frozen=True)
class DemoHooks:
    """How the front end shows what the demo is doing; by default, nothing."""

    stage: Callable[[str], None] = lambda message: None
    training: ProgressFactory = _no_progress
    indexing: ProgressFactory = _no_progress


@dataclass(frozen=True)
class DemoResult:
    paths: DemoPaths
    model: TrainedModel
    reused_model: bool
    summary: IndexSummary
    searches: list[tuple[str, list[PhotoHit]]]
    similar: tuple[Path, list[PhotoHit]]
    """A picture from outside the library, and the library's pictures most like it."""


def run_demo(
    settings: Settings,
    train_settings: TrainSettings | None = None,
    hooks: DemoHooks | None = None,
) -> DemoResult:
    """Run the whole demo for the data directory in `settings`."""
    hooks = hooks or DemoHooks()
    paths = DemoPaths.under(settings.data_dir)
    hooks.stage(f"Drawing the synthetic photo library in {paths.photos}")
    pictures = write_pictures(paths.photos, PER_COMBINATION, LIBRARY_SEED)
    queries = write_pictures(paths.query_photos, 1, HELD_OUT_SEED)
    paths.shapes_labels.write_text("".join(f"{shape}\n" for shape in SHAPES))
    log.info("%d library photos, %d query photos", len(pictures), len(queries))

    model, reused = _model(paths, train_settings or TrainSettings(), hooks)
    demo_settings = settings.model_copy(update={"data_dir": paths.library})
    with hooks.indexing() as progress:
        summary = index_photos(demo_settings, paths.photos, model, progress)
    searches, similar = example_searches(demo_settings, queries[0].path)
    return DemoResult(paths, model, reused, summary, searches, similar)


def _model(
    paths: DemoPaths, settings: TrainSettings, hooks: DemoHooks
) -> tuple[TrainedModel, bool]:
    """The model trained before for these settings, else a new one."""
    directory = model_dir(paths.models, settings)
    cached = load_trained(directory)
    if cached is not None:
        hooks.stage(f"Reusing the toy model trained before: {cached.checkpoint}")
        return cached, True
    hooks.stage(
        f"Training the toy model ({settings.steps} steps, at most "
        f"{settings.max_seconds / 60:.0f} minutes); it is cached in {paths.models}"
    )
    with hooks.training() as progress:
        trained = train(directory, settings, lambda done, total, loss: progress(done, total))
    return trained, False


def index_photos(
    settings: Settings, photos: Path, model: TrainedModel, progress: StepProgress
) -> IndexSummary:
    """`searchapp index PHOTOS --model-config X.json --pretrained X.pt --no-tag` through the
    same application layer the command uses; with `--reindex` when the toy model was trained
    anew (another checkpoint), so the library moves to it."""
    from searchapp.models.base import ModelSpec
    from searchapp.service import IndexRequest, LibraryService

    spec = ModelSpec(MODEL_NAME, str(model.checkpoint), model.config_path)
    with LibraryService(settings) as service:
        retrained = not service.uses_model(spec)
        request = IndexRequest(spec, reindex=retrained, tag=False)
        return service.index([photos], request, progress, writer="searchapp demo").summary


def example_searches(
    settings: Settings, query_image: Path, top_k: int = EXAMPLE_TOP_K
) -> tuple[list[tuple[str, list[PhotoHit]]], tuple[Path, list[PhotoHit]]]:
    """A few text searches and one search by example, through the application layer."""
    from searchapp.query import Query
    from searchapp.search import SearchOptions
    from searchapp.service import LibraryService

    options = SearchOptions(top_k)
    with LibraryService(settings) as service:
        searches = [
            (query, service.search(query, options=options).results) for query in EXAMPLE_QUERIES
        ]
        similar = (query_image, service.search(Query.image(query_image), options=options).results)
    return searches, similar
