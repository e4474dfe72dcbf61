"""What the pipeline's stages hand each other, and what a run reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from searchapp.store import FailedFile, ImageMeta, LinkedFile
from searchapp.store.records import FileStat


@dataclass(frozen=True)
class Prepared:
    """A decoded, preprocessed image waiting for the model."""

    stat: FileStat
    content_hash: str
    meta: ImageMeta
    pixels: Any


@dataclass(frozen=True)
class Encoded:
    """A JPEG left encoded, to be decoded in its batch on the model's device."""

    stat: FileStat
    content_hash: str
    meta: ImageMeta
    data: bytes


@dataclass(frozen=True)
class Decoded:
    """A picture decoded before the model had loaded; preprocessed once it has."""

    stat: FileStat
    content_hash: str
    meta: ImageMeta
    image: Image.Image


@dataclass(frozen=True)
class Confirmed:
    """A file read again (`index --verify`) whose content is the one indexed: only its stat is
    brought up to date."""

    stat: FileStat
    content_hash: str


Outcome = Prepared | Decoded | Encoded | LinkedFile | Confirmed | FailedFile


@dataclass
class Batch:
    """The outcomes gathered for one model call and one store transaction."""

    prepared: list[Prepared] = field(default_factory=list)
    decoded: list[Decoded] = field(default_factory=list)
    encoded: list[Encoded] = field(default_factory=list)
    linked: list[LinkedFile] = field(default_factory=list)
    confirmed: list[LinkedFile] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)

    def add(self, item: Outcome) -> None:
        if isinstance(item, Prepared):
            self.prepared.append(item)
        elif isinstance(item, Decoded):
            self.decoded.append(item)
        elif isinstance(item, Encoded):
            self.encoded.append(item)
        elif isinstance(item, LinkedFile):
            self.linked.append(item)
        elif isinstance(item, Confirmed):
            self.confirmed.append(LinkedFile(item.stat, item.content_hash))
        else:
            self.failed.append(item)

    @property
    def other_count(self) -> int:
        return len(self.linked) + len(self.confirmed) + len(self.failed)

    @property
    def to_embed(self) -> int:
        return len(self.prepared) + len(self.decoded) + len(self.encoded)

    @property
    def size(self) -> int:
        return self.to_embed + self.other_count
