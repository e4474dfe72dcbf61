"""The application layer's vision-language use cases: caption a photo (stored and reused while
the model and prompt stay the same), caption a library or folder as a resumable job, answer
questions about one photo (multi-turn, streamed), about each photo of a page of results
(batched) or about a set of photos at once.

The model loads lazily, once, on the first request that needs it: search never waits for it, and
a VLM that cannot load only fails the requests that need one."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.errors import InvalidImageError, SearchAppError
from searchapp.store.caption_store import NewCaption
from searchapp.vlm.base import Prompt, Turn
from searchapp.vlm.images import read_photo
from searchapp.vlm.registry import load_vlm, vlm_spec

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.store import Store
    from searchapp.vlm.base import VisionLanguageModel
    from searchapp.vlm.caption_job import CaptionRun, Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caption:
    path: str
    caption: str
    model: str
    prompt: str
    cached: bool
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "caption": self.caption,
            "model": self.model,
            "prompt": self.prompt,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Answer:
    path: str
    question: str
    answer: str
    model: str

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "question": self.question,
            "answer": self.answer,
            "model": self.model,
        }


class VisionAssistant:
    """`photo_file` maps a photo id to its file (the service's check that it is still there)."""

    def __init__(
        self, settings: Settings, store: Store, photo_file: Callable[[int], Path] | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.photo_file = photo_file
        self._lock = threading.Lock()
        self._vlm: VisionLanguageModel | None = None

    @property
    def vlm(self) -> VisionLanguageModel:
        """The configured VLM (backend object; its weights load on the first answer)."""
        with self._lock:
            if self._vlm is None:
                self._vlm = load_vlm(self.settings, vlm_spec(self.settings))
            return self._vlm

    def configured(self) -> bool:
        """Whether this installation chose a vision-language model (a server URL, a local model
        folder, or a model or backend named in the settings); front ends offer captions and
        questions only then, and say how to configure one otherwise."""
        chosen = self.settings.model_fields_set & {"vlm_url", "vlm_model", "vlm_backend"}
        return bool(self.settings.vlm_url or chosen or Path(self.settings.vlm_model).is_dir())

    def close(self) -> None:
        with self._lock:
            if self._vlm is not None:
                self._vlm.unload()
                self._vlm = None

    def _indexed_image(self, absolute: str) -> int | None:
        try:
            st = os.stat(absolute)
        except OSError as exc:
            raise InvalidImageError(f"Cannot read {absolute}: {exc.strerror or exc}") from None
        return self.store.captions.indexed_image(absolute, st.st_size, st.st_mtime_ns)

    # -- captions ---------------------------------------------------------------------------

    def caption(self, path: Path, prompt: str | None = None, refresh: bool = False) -> Caption:
        """A photo's caption; an indexed photo's is stored, and reused until the model or the
        prompt changes (or `refresh`)."""
        started = time.perf_counter()
        prompt = prompt or self.settings.vlm_caption_prompt
        model = vlm_spec(self.settings).identity
        absolute = os.path.abspath(path)
        image_id = self._indexed_image(absolute)
        if image_id is not None and not refresh:
            stored = self.store.captions.caption(image_id)
            if stored is not None and stored.model == model and stored.prompt == prompt:
                elapsed = time.perf_counter() - started
                return Caption(absolute, stored.text, model, prompt, True, elapsed)
        image = read_photo(Path(absolute), self.settings.vlm_image_side)
        text = self.vlm.answer(Prompt((image,), prompt), self.settings.vlm_max_new_tokens)
        if image_id is not None:
            self.store.captions.write([NewCaption(image_id, model, prompt, text)])
        return Caption(absolute, text, model, prompt, False, time.perf_counter() - started)

    def caption_library(
        self,
        folder: Path | None = None,
        prompt: str | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        limit: int | None = None,
    ) -> CaptionRun:
        """Caption every indexed photo (under `folder`) without a current caption."""
        from searchapp.vlm.caption_job import CaptionJob

        root = None if folder is None else os.path.abspath(folder)
        job = CaptionJob(self.store, self.vlm, self.settings, prompt)
        return job.run(root, progress, stop, limit)

    def caption_new(self, limit: int) -> tuple[CaptionRun | None, str | None]:
        """Up to `limit` photos captioned (the background indexer between rounds). Captions are
        an extra: a failure is returned as a reason, never stops the indexing."""
        try:
            return self.caption_library(limit=limit), None
        except SearchAppError as exc:
            return None, str(exc)
        except Exception as exc:
            log.warning("automatic captioning failed", exc_info=True)
            return None, f"{type(exc).__name__}: {exc}"

    def pending_captions(self, folder: Path | None = None, prompt: str | None = None) -> int:
        model = vlm_spec(self.settings).identity
        root = None if folder is None else os.path.abspath(folder)
        return self.store.captions.pending_count(
            model, prompt or self.settings.vlm_caption_prompt, root
        )

    def file_of(self, photo_id: int) -> Path:
        """The file of an indexed photo, for requests that name photos by id (the API)."""
        assert self.photo_file is not None
        return self.photo_file(photo_id)

    # -- questions --------------------------------------------------------------------------

    def _prompt(self, path: Path, question: str, history: Sequence[Turn]) -> Prompt:
        image = read_photo(Path(os.path.abspath(path)), self.settings.vlm_image_side)
        return Prompt((image,), question, tuple(history))

    def ask(self, path: Path, question: str, history: Sequence[Turn] = ()) -> Answer:
        """An answer about one photo; `history` holds the earlier turns of the conversation."""
        prompt = self._prompt(path, question, history)
        text = self.vlm.answer(prompt, self.settings.vlm_max_new_tokens)
        return Answer(os.path.abspath(path), question, text, self.vlm.spec.identity)

    def ask_stream(self, path: Path, question: str, history: Sequence[Turn] = ()) -> Iterator[str]:
        """The answer as the model produces it. The photo is read before the first piece, so a
        bad photo fails before anything is sent."""
        prompt = self._prompt(path, question, history)
        return self.vlm.stream(prompt, self.settings.vlm_max_new_tokens)

    def ask_each(self, paths: Sequence[Path], question: str) -> list[Answer]:
        """The same question about every photo (a page of results), in batches."""
        answers: list[Answer] = []
        size = self.settings.vlm_batch_size
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            prompts = [self._prompt(path, question, ()) for path in chunk]
            texts = self.vlm.answer_batch(prompts, self.settings.vlm_max_new_tokens)
            answers.extend(
                Answer(os.path.abspath(p), question, t, self.vlm.spec.identity)
                for p, t in zip(chunk, texts, strict=True)
            )
        return answers

    def ask_about_set(self, paths: Sequence[Path], question: str) -> str:
        """One answer about several photos together (for models that take several images)."""
        images = tuple(
            read_photo(Path(os.path.abspath(p)), self.settings.vlm_image_side) for p in paths
        )
        return self.vlm.answer(Prompt(images, question), self.settings.vlm_max_new_tokens)
