"""File names are bytes on POSIX. Inside the program a path is the `str` Python gives for it
(`os.fsdecode`: bytes that are not UTF-8 become surrogates U+DC80..U+DCFF), which `open` and
`os.stat` turn back into the exact bytes. Text that leaves the program (the store's TEXT column,
terminals, JSON) uses the *shown* form instead: valid UTF-8 where a byte that is not UTF-8 and a
control character are written `\\xNN` and a backslash `\\\\` (as `ls -b` does). The shown form is
injective and reversible, so it is both the display and the store's lossless key: `caf\\xe9.jpg`
(the byte 0xE9) and a file literally named `caf\\\\xe9.jpg` are two different rows and lines."""

from __future__ import annotations

import base64
import os
import re

_SURROGATE_BYTES = range(0xDC80, 0xDD00)
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})")


def _shown_char(char: str) -> str:
    code = ord(char)
    if char == "\\":
        return "\\\\"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code < 0xE000:
        return f"\\u{code:04x}"
    return char


def shown_path(path: str) -> str:
    """The displayable, valid-UTF-8 form of a path (identity for ordinary names)."""
    if path.isprintable() and "\\" not in path:
        return path
    return "".join(_shown_char(char) for char in path)


def _unescape(match: re.Match[str]) -> str:
    escape = match.group(1)
    if escape == "\\":
        return "\\"
    code = int(escape[1:], 16)
    if escape[0] == "x" and code >= 0x80:
        return chr(0xDC00 + code)
    return chr(code)


def path_from_shown(shown: str) -> str:
    """The path a shown form stands for (the inverse of `shown_path`)."""
    if "\\" not in shown:
        return shown
    return _ESCAPE.sub(_unescape, shown)


def path_bytes(path: str) -> bytes:
    """The exact bytes of a file name, as the OS has them."""
    return os.fsencode(path)


def path_bytes_b64(path: str) -> str:
    """The lossless JSON field beside a shown path: the name's bytes, standard base64."""
    return base64.b64encode(path_bytes(path)).decode("ascii")


def printable_message(text: str) -> str:
    """A message that may quote a path, safe to print: undecodable bytes written `\\xNN`, the
    rest as it is."""
    if not any(0xD800 <= ord(char) < 0xE000 for char in text):
        return text
    return "".join(_shown_char(c) if 0xD800 <= ord(c) < 0xE000 else c for c in text)
