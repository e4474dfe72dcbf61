"""`searchapp models fetch NAME --to FILE`: the weights of an open_clip (architecture, tag) saved
as one file, on a connected machine, to be copied to an offline one and used there with
`--pretrained FILE`. Offline, it fails at once with one line (the reachability probe of
`models.weights`), and it never leaves a partial file behind."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from searchapp.errors import ModelNotFoundError, WeightsUnavailableError


@dataclass(frozen=True)
class FetchedWeights:
    name: str
    tag: str
    path: Path
    size: int
    sha256: str


def _tag_for(name: str, tag: str | None) -> str:
    from open_clip.pretrained import list_pretrained_tags_by_model

    tags = [str(t) for t in list_pretrained_tags_by_model(name)]
    if tag is not None:
        return tag
    if len(tags) == 1:
        return tags[0]
    if not tags:
        raise ModelNotFoundError(
            f"open_clip has no pretrained weights for {name!r}; `searchapp models` lists them."
        )
    raise ModelNotFoundError(
        f"{name} has several pretrained tags; choose one with --pretrained: {', '.join(tags)}."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_weights(name: str, tag: str | None, target: Path, cache_dir: Path) -> FetchedWeights:
    """Download (or take from the cache) the weights of `name` with `tag` and save them to
    `target` whole (a temporary file renamed into place)."""
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    from searchapp.models.weights import ensure_tag_available

    tag = _tag_for(name, tag)
    cfg = get_pretrained_cfg(name, tag)
    if not cfg:
        raise ModelNotFoundError(
            f"open_clip has no weights {name} ({tag}); `searchapp models` lists the pairs."
        )
    what = f"{name} ({tag})"
    if urlparse(str(cfg.get("url", ""))).scheme != "file":
        try:
            ensure_tag_available(cfg, what)
        except WeightsUnavailableError:
            raise WeightsUnavailableError(
                f"Cannot download {what}: this machine is offline (or the model hub is "
                f"unreachable). Run `searchapp models fetch {name} --pretrained {tag} --to FILE` "
                "on a machine with internet access, copy FILE here, and index with "
                "--pretrained FILE."
            ) from None
    try:
        source = Path(download_pretrained(cfg, cache_dir=str(cache_dir)))
    except Exception as exc:  # the hub's and urllib's many failures: one line
        raise WeightsUnavailableError(f"Could not download {what}: {exc}") from None
    target = target.expanduser().absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return FetchedWeights(name, tag, target, target.stat().st_size, _sha256(target))
