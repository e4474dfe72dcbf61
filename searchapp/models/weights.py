"""Find out, within seconds, whether a model's weights are on disk or can be downloaded.

open_clip and huggingface_hub retry an unreachable hub for close to a minute before failing with a
long traceback. We look in the local caches first and, when the weights are missing, probe the
host once with a short timeout, so that an offline user gets one clear message at once.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from searchapp.errors import WeightsUnavailableError

PROBE_TIMEOUT_S = 3.0
HF_CONFIG_NAME = "open_clip_config.json"
HF_WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def _hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def _hf_cached(repo_id: str, filenames: tuple[str, ...]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo_id=repo_id, filename=filename)
        if isinstance(found, str) and Path(found).is_file():
            return True
    return False


def _safe_alternatives(filename: str) -> tuple[str, ...]:
    if filename.endswith((".bin", ".pth")):
        return (filename[:-4] + ".safetensors", filename)
    return (filename,)


def host_reachable(url: str) -> bool:
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return True
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _unavailable(what: str, host: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"The weights for {what} are not on this machine and {host} cannot be reached. "
        "Run the same command once on a machine with internet access (weights are cached under "
        "~/.cache/huggingface), or pass a local checkpoint with --pretrained /path/to/weights.pt."
    )


def ensure_hf_repo_available(repo_id: str, what: str) -> None:
    if _hf_cached(repo_id, (HF_CONFIG_NAME,)) and _hf_cached(repo_id, HF_WEIGHT_NAMES):
        return
    endpoint = _hf_endpoint()
    if _hf_offline() or not host_reachable(endpoint):
        raise _unavailable(what, urlparse(endpoint).hostname or endpoint)


def ensure_tag_available(pretrained_cfg: dict[str, Any], what: str) -> None:
    """`pretrained_cfg` is open_clip's entry for a (model, tag) pair."""
    if "file" in pretrained_cfg:
        return
    hub = pretrained_cfg.get("hf_hub", "")
    if hub:
        repo_id, filename = os.path.split(hub)
        candidates = _safe_alternatives(filename) if filename else HF_WEIGHT_NAMES
        if _hf_cached(repo_id, candidates):
            return
        endpoint = _hf_endpoint()
        if _hf_offline() or not host_reachable(endpoint):
            raise _unavailable(what, urlparse(endpoint).hostname or endpoint)
        return
    url = pretrained_cfg.get("url", "")
    if url:
        cached = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if cached.is_file():
            return
        if not host_reachable(url):
            raise _unavailable(what, urlparse(url).hostname or url)
