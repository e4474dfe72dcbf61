"""What every vision-language backend provides: answers (whole or streamed) to a prompt made of
photos, earlier turns of the conversation and a question."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class VlmSpec:
    """Which model answers: `backend` names a registered backend; `model` is a Hugging Face id or
    local folder (transformers) or the server's model name (openai)."""

    backend: str
    model: str
    url: str | None = None
    key: str | None = field(default=None, repr=False)

    @property
    def identity(self) -> str:
        """Stored beside every caption, so a caption is redone when the model changes."""
        return f"{self.backend}:{self.model}"


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class Prompt:
    """One request: the photos (attached to the first user turn), earlier turns, the question."""

    images: tuple[Image.Image, ...]
    question: str
    history: tuple[Turn, ...] = ()

    def turns(self) -> list[Turn]:
        return [*self.history, Turn("user", self.question)]


class VisionLanguageModel(Protocol):
    spec: VlmSpec

    def stream(self, prompt: Prompt, max_new_tokens: int) -> Iterator[str]:
        """The answer piece by piece, as the model produces it."""

    def answer(self, prompt: Prompt, max_new_tokens: int) -> str:
        """The whole answer."""

    def answer_batch(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[str]:
        """Answers to several prompts, computed together where the backend can."""

    def unload(self) -> None:
        """Release the weights (or connections) now; the next call loads again."""
