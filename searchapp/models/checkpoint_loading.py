"""Reading a checkpoint into an open_clip model quickly and without holding its weights twice.
torch and open_clip are imported only when called."""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from searchapp.models.deferred_weights import DeferredWeights, split_for_deferral
from searchapp.models.huge_pages import MADV_DONTNEED, libc_madvise

if TYPE_CHECKING:
    import torch

INIT_FUNCTIONS = (
    "normal_",
    "uniform_",
    "trunc_normal_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "constant_",
    "zeros_",
    "ones_",
    "orthogonal_",
)


@contextlib.contextmanager
def skipped_weight_init() -> Iterator[None]:
    """Skip random initialisation of weights a checkpoint is about to overwrite (open_clip
    loads state dicts strictly, so nothing stays uninitialised). Saves seconds per load."""
    import torch

    saved = {name: getattr(torch.nn.init, name) for name in INIT_FUNCTIONS}
    try:
        for name in INIT_FUNCTIONS:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


class ReadWeights:
    """What `weights_read_into` left for later: the text tower, when it was deferred."""

    deferred: DeferredWeights | None = None


@contextlib.contextmanager
def weights_read_into(dtype: torch.dtype) -> Iterator[ReadWeights]:
    """While open_clip builds a model, cast it to `dtype` before its checkpoint is read, and
    memory-map a zip checkpoint instead of reading it whole, handing its pages back as they are
    copied (`PagesReleasedAsCopied`): the fp32 weights are never held twice, nor the file whole
    (peak RSS of loading ViT-B-32-256 in bf16 in a fresh process 2136 -> 1185 MiB). The values
    are the same: `load_state_dict` rounds into the cast parameters as a cast after would. From
    a memory-mapped checkpoint the text tower is not copied yet (`deferred_weights`)."""
    from open_clip import factory

    read = ReadWeights()

    load_config: Any = None
    try:
        from torch.utils.serialization import config

        load_config = config.load
    except ImportError:  # a torch without the load config (before 2.5) reads the file whole
        pass
    original = factory.load_checkpoint

    def load_cast_first(model: Any, checkpoint_path: str, *args: Any, **kwargs: Any) -> Any:
        model.to(dtype=dtype)
        numpy_archive = str(checkpoint_path).endswith((".npz", ".npy"))  # big_vision weights
        if load_config is None or numpy_archive or not zipfile.is_zipfile(checkpoint_path):
            return original(model, checkpoint_path, *args, **kwargs)
        saved = load_config.mmap
        load_config.mmap = True
        released = PagesReleasedAsCopied(model, checkpoint_path)
        model.load_state_dict = _loading_text_tower_later(model, read, released)
        try:
            return original(model, checkpoint_path, *args, **kwargs)
        finally:
            del model.load_state_dict
            load_config.mmap = saved
            released.close()

    factory.load_checkpoint = load_cast_first
    try:
        yield read
    finally:
        factory.load_checkpoint = original


def _loading_text_tower_later(
    model: Any, read: ReadWeights, released: PagesReleasedAsCopied
) -> Any:
    """`model.load_state_dict` that loads the image side now and defers the text tower."""
    import torch

    def load_state_dict(state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        now, later = split_for_deferral(model, state_dict)
        result = torch.nn.Module.load_state_dict(model, now, strict=False, assign=assign)
        missing = [key for key in result.missing_keys if key not in later]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(model).__name__}: "
                f"missing keys {missing[:5]}, unexpected keys {result.unexpected_keys[:5]}"
            )
        if later:
            read.deferred = DeferredWeights(model, later, released.release_tensors)
        return type(result)(missing, result.unexpected_keys)

    return load_state_dict


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _mapped_ranges(path: str) -> list[tuple[int, int]]:
    """Where this process maps `path` (none without /proc)."""
    target = os.path.realpath(path)
    ranges = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].rstrip("\n") == target:
                    start, end = (int(part, 16) for part in fields[0].split("-"))
                    ranges.append((start, end))
    except (OSError, ValueError):
        return []
    return ranges


class PagesReleasedAsCopied:
    """While a memory-mapped checkpoint is read into a model, the file's pages of each module's
    tensors are handed back to the kernel once they were copied (`MADV_DONTNEED` on the file
    mapping only; a page read again comes back from the file), so the whole checkpoint is never
    resident at once. Linux only; elsewhere nothing happens."""

    def __init__(self, model: Any, checkpoint_path: str) -> None:
        self._path = checkpoint_path
        self._pending: list[Any] = []
        self._ranges: list[tuple[int, int]] | None = None
        self._madvise = libc_madvise()
        self._handles: list[Any] = []
        if self._madvise is None:
            return
        self._handles = [
            module.register_load_state_dict_pre_hook(self._before_module)
            for module in model.modules()
        ]

    def _before_module(self, module: Any, state_dict: Any, prefix: str, *_: Any) -> None:
        """Every module visited before this one has been copied: release what it read."""
        self.release()
        names = [*module._parameters, *module._buffers]
        self._pending = [state_dict[prefix + n] for n in names if prefix + n in state_dict]

    def release(self) -> None:
        pending, self._pending = self._pending, []
        self.release_tensors(pending)

    def release_tensors(self, tensors: list[Any]) -> None:
        """Hand back the file's pages under `tensors` (views of the mapped checkpoint)."""
        if self._madvise is None or not tensors:
            return
        if self._ranges is None:
            self._ranges = _mapped_ranges(self._path)
        for tensor in tensors:
            storage = tensor.untyped_storage()
            start = storage.data_ptr()
            end = start + storage.nbytes()
            first, last = -(-start // PAGE) * PAGE, end // PAGE * PAGE
            if last > first and any(lo <= first and last <= hi for lo, hi in self._ranges):
                self._madvise(first, last - first, MADV_DONTNEED)

    def close(self) -> None:
        self.release()
        for handle in self._handles:
            handle.remove()
        self._handles = []
