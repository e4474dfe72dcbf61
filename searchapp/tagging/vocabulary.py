"""Vocabularies: label lists read from text files, and the prompt templates that embed them.

A label file is UTF-8 text, one label per line. Clean-up, applied the same way to every file:
surrounding and repeated whitespace is collapsed, blank lines and lines starting with `#` are
skipped, and repeated labels (ignoring case) keep their first occurrence. What can't be a label
list is refused with a message: a binary or non-UTF-8 file, a line over `MAX_LABEL_CHARS`
characters, no labels at all, or more than `MAX_LABELS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from searchapp.errors import SearchAppError

DEFAULT_VOCABULARY = "default"
MAX_LABEL_CHARS = 100
MAX_LABELS = 20_000
MAX_TEMPLATES = 200
_WHITESPACE = re.compile(r"\s+")


class LabelFileError(SearchAppError):
    """A labels or templates file that can't be used, with what to change."""


@dataclass(frozen=True)
class LabelList:
    name: str
    labels: tuple[str, ...]
    duplicates_dropped: int = 0


def _text_lines(text: str) -> list[tuple[int, str]]:
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _WHITESPACE.sub(" ", raw).strip()
        if line and not line.startswith("#"):
            lines.append((number, line))
    return lines


def _read_text(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelFileError(f"Cannot read the {what} file {path}: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise LabelFileError(
            f"{path} is not a text file ({what}: one per line, UTF-8); it looks binary."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8, one per line."
        ) from None


def parse_labels(text: str, name: str, source: str) -> LabelList:
    labels: list[str] = []
    seen: set[str] = set()
    dropped = 0
    for number, line in _text_lines(text):
        if len(line) > MAX_LABEL_CHARS:
            raise LabelFileError(
                f"Line {number} of {source} is {len(line)} characters long; a label is a few "
                f"words (at most {MAX_LABEL_CHARS} characters). Is this the right file?"
            )
        key = line.casefold()
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        labels.append(line)
    if not labels:
        raise LabelFileError(
            f"{source} has no labels; write one label per line (e.g. beach, dog, birthday cake)."
        )
    if len(labels) > MAX_LABELS:
        raise LabelFileError(
            f"{source} has {len(labels)} labels; at most {MAX_LABELS} are supported."
        )
    return LabelList(name, tuple(labels), dropped)


def read_label_file(path: Path) -> LabelList:
    """A user's vocabulary, named after the file's stem."""
    name = path.stem
    if name == DEFAULT_VOCABULARY:
        raise LabelFileError(
            f"'{DEFAULT_VOCABULARY}' is the built-in vocabulary's name; rename {path.name} "
            "(the vocabulary is named after the file)."
        )
    return parse_labels(_read_text(path, "labels"), name, str(path))


def parse_templates(text: str, source: str) -> tuple[str, ...]:
    templates: list[str] = []
    for number, line in _text_lines(text):
        if line.count("{}") != 1:
            raise LabelFileError(
                f"Line {number} of {source} must contain {{}} exactly once, where the label goes "
                f'(e.g. "a photo of {{}}."): {line!r}'
            )
        if line not in templates:
            templates.append(line)
    if not templates:
        raise LabelFileError(
            f'{source} has no templates; write one per line, e.g. "a photo of {{}}."'
        )
    if len(templates) > MAX_TEMPLATES:
        raise LabelFileError(f"{source} has {len(templates)} templates; at most {MAX_TEMPLATES}.")
    return tuple(templates)


def read_template_file(path: Path) -> tuple[str, ...]:
    return parse_templates(_read_text(path, "templates"), str(path))


def _packaged(name: str) -> str:
    return resources.files("searchapp.tagging").joinpath("data", name).read_text("utf-8")


def default_labels() -> LabelList:
    return parse_labels(_packaged("default-labels.txt"), DEFAULT_VOCABULARY, "default-labels.txt")


def default_templates() -> tuple[str, ...]:
    return parse_templates(_packaged("templates.txt"), "templates.txt")
