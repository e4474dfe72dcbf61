"""Caption a whole library or a folder in the background, resumably.

Work is chosen from the store each round (images with no caption by this model and prompt), and
each batch's captions are committed in one transaction, so a run killed at any moment loses at
most the batch in flight and the next run starts where it stopped; a photo is captioned again only
when the model or the prompt changes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.errors import InvalidImageError
from searchapp.store.caption_store import NewCaption
from searchapp.vlm.base import Prompt
from searchapp.vlm.images import read_photo

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.store import Store
    from searchapp.vlm.base import VisionLanguageModel

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CaptionRun:
    captioned: int
    unreadable: int
    remaining: int
    seconds: float
    model: str
    prompt: str

    def as_dict(self) -> dict[str, object]:
        return {
            "captioned": self.captioned,
            "unreadable": self.unreadable,
            "remaining": self.remaining,
            "seconds": round(self.seconds, 3),
            "model": self.model,
            "prompt": self.prompt,
        }


class CaptionJob:
    def __init__(
        self, store: Store, vlm: VisionLanguageModel, settings: Settings, prompt: str | None = None
    ) -> None:
        self.store = store
        self.vlm = vlm
        self.settings = settings
        self.prompt = prompt or settings.vlm_caption_prompt
        self.model = vlm.spec.identity

    def pending(self, root: str | None = None) -> int:
        return self.store.captions.pending_count(self.model, self.prompt, root)

    def run(
        self,
        root: str | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        limit: int | None = None,
    ) -> CaptionRun:
        """Caption every image (under `root`) not yet captioned with this model and prompt;
        with `limit`, stop after the batch that reaches it."""
        started = time.perf_counter()
        total = self.pending(root)
        done = unreadable = 0
        after = 0
        side = self.settings.vlm_image_side
        while stop is None or not stop.is_set():
            batch = self.store.captions.pending(
                self.model, self.prompt, root, after, self.settings.vlm_batch_size
            )
            if not batch:
                break
            after = batch[-1].image_id
            readable, prompts = [], []
            for item in batch:
                try:
                    image = read_photo(Path(item.path), side, self.settings.max_image_megapixels)
                except InvalidImageError as exc:
                    log.warning("not captioned: %s", exc)
                    unreadable += 1
                    continue
                readable.append(item)
                prompts.append(Prompt((image,), self.prompt))
            texts = self.vlm.answer_batch(prompts, self.settings.vlm_max_new_tokens)
            self.store.captions.write(
                [
                    NewCaption(item.image_id, self.model, self.prompt, text)
                    for item, text in zip(readable, texts, strict=True)
                ]
            )
            done += len(readable)
            if progress is not None:
                progress(done + unreadable, total)
            if limit is not None and done + unreadable >= limit:
                break
        return CaptionRun(
            done,
            unreadable,
            self.pending(root),
            time.perf_counter() - started,
            self.model,
            self.prompt,
        )
