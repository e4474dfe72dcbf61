"""The text tower's weights, left in the memory-mapped checkpoint until a text is first encoded.

Indexing photos runs only the image tower; the text tower (126 MB of ViT-B-32-256's 302 MB in
bf16) is needed once the vocabulary is embedded, or never (`similar`, a re-index). While a zip
checkpoint is read memory-mapped (`checkpoint_loading.weights_read_into`), the text tower's
tensors are kept as views of the file instead of being copied into the model: untouched file
pages are not resident. Their parameters hold an empty tensor meanwhile, so a forward pass that
skipped `materialize` fails loudly instead of computing with wrong weights. `materialize`
copies them in exactly as `load_state_dict` would have (the same rounding into the model's
dtype), handing each tensor's file pages back once copied. torch is imported only when called.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

IMAGE_SIDE_PREFIXES = ("visual.", "logit_scale", "logit_bias")


def is_text_side(key: str) -> bool:
    """A state-dict key outside the image tower and the zero-shot scale and bias."""
    return not key.startswith(IMAGE_SIDE_PREFIXES)


class DeferredWeights:
    """Text-side tensors of a checkpoint, moved into `model` at the first `materialize`."""

    def __init__(
        self,
        model: Any,
        tensors: dict[str, torch.Tensor],
        release: Callable[[list[torch.Tensor]], None],
    ) -> None:
        import torch

        self._tensors = tensors
        self._release = release
        self._lock = threading.Lock()
        for key in tensors:
            slot = model.get_parameter(key)
            slot.data = torch.empty(0, dtype=slot.dtype, device=slot.device)

    def materialize(self, model: Any) -> None:
        """Copy the deferred tensors into `model` (its current dtype and device); once."""
        with self._lock:
            if not self._tensors:
                return
            tensors, self._tensors = self._tensors, {}
            for key, source in tensors.items():
                slot = model.get_parameter(key)
                slot.data = source.to(device=slot.device, dtype=slot.dtype, copy=True)
                self._release([source])


def split_for_deferral(
    model: Any, state_dict: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(what to load now, what to defer): text-side parameters whose shape matches the model's;
    anything else (buffers, mismatched shapes, unknown keys) is loaded now, so `load_state_dict`
    reports it as before."""
    parameters = dict(model.named_parameters())
    now: dict[str, Any] = {}
    later: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        slot = parameters.get(key)
        if is_text_side(key) and slot is not None and tuple(slot.shape) == tuple(tensor.shape):
            later[key] = tensor
        else:
            now[key] = tensor
    return now, later
