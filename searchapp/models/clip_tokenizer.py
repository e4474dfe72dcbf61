"""CLIP's byte-pair-encoding tokenizer without torch or open_clip, for fast query start-up.

The same algorithm and vocabulary as open_clip's `SimpleTokenizer` (the vocabulary file is read
from the installed open_clip package without importing it). Only the `lower` and `whitespace`
clean-ups are supported; the exporter checks that its tokens equal open_clip's before a saved
query encoder may use it.
"""

from __future__ import annotations

import gzip
import html
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
MERGES = 49152 - 256 - 2
SUPPORTED_CLEAN = ("lower", "whitespace")


def open_clip_bpe_path() -> Path | None:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / BPE_FILE
        if path.is_file():
            return path
    return None


@lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, [chr(code) for code in codes], strict=True))


PLAIN_TEXT = re.compile(r"[ -%'-~\t\n]*")
"""Text that ftfy's `fix_text` returns unchanged: printable ASCII, tabs and new lines, no `&`
(HTML entities), so most queries skip importing ftfy (~60 ms) and running it."""


def fix_text(text: str) -> str:
    if PLAIN_TEXT.fullmatch(text):
        return text
    import ftfy

    return str(ftfy.fix_text(text))


class ClipTokenizer:
    def __init__(self, bpe_path: Path, context_length: int = 77, clean: str = "lower") -> None:
        import regex

        if clean not in SUPPORTED_CLEAN:
            raise ValueError(f"unsupported clean-up {clean!r}")
        self.context_length = context_length
        self.clean = clean
        self._byte_encoder = _bytes_to_unicode()
        with gzip.open(bpe_path) as fh:
            merges = fh.read().decode("utf-8").split("\n")[1 : MERGES + 1]
        vocabulary = list(self._byte_encoder.values())
        vocabulary += [symbol + "</w>" for symbol in vocabulary]
        vocabulary += [merge.replace(" ", "") for merge in merges]
        special = ["<start_of_text>", "<end_of_text>"]
        vocabulary += special
        self._encoder = {token: index for index, token in enumerate(vocabulary)}
        # Merges as their "first second" lines (symbols hold no spaces): no tuple per merge.
        self._ranks = dict(zip(merges, range(len(merges)), strict=True))
        self._cache: dict[str, str] = {token: token for token in special}
        self._pattern = regex.compile(
            "|".join(special) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE,
        )
        self.sot_token_id = self._encoder[special[0]]
        self.eot_token_id = self._encoder[special[1]]

    def _clean(self, text: str) -> str:
        text = html.unescape(html.unescape(fix_text(text))).strip()
        text = " ".join(text.split()).strip()
        return text.lower() if self.clean == "lower" else text

    def _bpe(self, token: str) -> str:
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        word: tuple[str, ...] = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            pairs = {f"{word[i]} {word[i + 1]}" for i in range(len(word) - 1)}
            bigram = min(pairs, key=lambda pair: self._ranks.get(pair, MERGES + 1))
            if bigram not in self._ranks:
                break
            first, second = bigram.split(" ")
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        result = " ".join(word)
        self._cache[token] = result
        return result

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for token in self._pattern.findall(self._clean(text)):
            symbols = "".join(self._byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self._encoder[piece] for piece in self._bpe(symbols).split(" "))
        return ids

    def __call__(self, texts: list[str]) -> NDArray[np.int64]:
        """(len(texts), context_length) token ids, as open_clip's tokenizer returns them."""
        result = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            tokens = [self.sot_token_id, *self.encode(text), self.eot_token_id]
            if len(tokens) > self.context_length:
                tokens = tokens[: self.context_length]
                tokens[-1] = self.eot_token_id
            result[row, : len(tokens)] = tokens
        return result
