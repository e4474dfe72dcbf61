"""A batch's JPEGs decoded together on the model's device at flush, with a per-file fallback
to the CPU decoder for what the device decoder rejects."""

from __future__ import annotations

import logging
from collections.abc import Callable

from indexer.device_decode import TensorPreprocess, decode_jpegs
from indexer.records import Batch, Outcome, Prepared
from searchapp.store.records import FileStat

log = logging.getLogger("indexer.pipeline")
DecodeOnCpu = Callable[[FileStat, str, bytes], Outcome]


def decode_encoded_on_device(
    batch: Batch, device: str, preprocess: TensorPreprocess, decode_on_cpu: DecodeOnCpu
) -> None:
    """Turn the batch's JPEGs into device tensors; a JPEG the device decoder rejects goes
    through the CPU decoder, which says what is wrong with it."""
    items = batch.encoded
    batch.encoded = []
    orientations = [item.meta.orientation for item in items]
    try:
        pixels = list(decode_jpegs([i.data for i in items], orientations, device, preprocess))
    except RuntimeError:
        log.info("batch JPEG decode on %s failed; decoding one by one", device)
        for item in items:
            try:
                pixels = list(
                    decode_jpegs([item.data], [item.meta.orientation], device, preprocess)
                )
            except RuntimeError:
                batch.add(decode_on_cpu(item.stat, item.content_hash, item.data))
            else:
                batch.add(Prepared(item.stat, item.content_hash, item.meta, pixels[0]))
        return
    for item, tensor in zip(items, pixels, strict=True):
        batch.prepared.append(Prepared(item.stat, item.content_hash, item.meta, tensor))
