"""A graph that holds its weights inline opens as a rewritten copy whose weights are mapped from
a file beside it: the same outputs, made once, remade when damaged or when the source changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from searchapp.models.mapped_graph import MAPPED_DIR, mapped_graph

SIDE = 64


def _inline_graph(path: Path, seed: int) -> Path:
    weights = np.random.default_rng(seed).standard_normal((SIDE, SIDE)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["model_input", "weights"], ["output"])],
        "inline",
        [helper.make_tensor_value_info("model_input", TensorProto.FLOAT, [1, SIDE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, SIDE])],
        [numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save_model(model, str(path))
    return path


def _outputs(path: Path) -> NDArray[np.float32]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = np.linspace(-1, 1, SIDE, dtype=np.float32)[None, :]
    return np.asarray(session.run(None, {"model_input": feed})[0])


def test_an_inline_graph_opens_as_a_copy_with_mapped_weights(tmp_path: Path) -> None:
    source = _inline_graph(tmp_path / "text.onnx", seed=1)

    mapped = mapped_graph(source, onnxruntime, min_bytes=0)

    assert mapped != source and mapped.name == source.name
    weights = mapped.with_name(f"{source.name}.data")
    assert weights.stat().st_size >= SIDE * SIDE * 4
    assert mapped.stat().st_size < SIDE * SIDE * 4
    np.testing.assert_array_equal(_outputs(mapped), _outputs(source))
    made = mapped.stat().st_mtime_ns
    assert mapped_graph(source, onnxruntime, min_bytes=0) == mapped
    assert mapped.stat().st_mtime_ns == made


def test_a_graph_under_the_size_opens_as_itself(tmp_path: Path) -> None:
    source = _inline_graph(tmp_path / "text.onnx", seed=1)

    assert mapped_graph(source, onnxruntime) == source
    assert not (tmp_path / MAPPED_DIR).exists()


@pytest.mark.parametrize("damage", ["truncate", "remove"])
def test_a_damaged_copy_is_made_again(tmp_path: Path, damage: str) -> None:
    source = _inline_graph(tmp_path / "text.onnx", seed=1)
    weights = mapped_graph(source, onnxruntime, min_bytes=0).with_name("text.onnx.data")
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        weights.unlink()

    mapped = mapped_graph(source, onnxruntime, min_bytes=0)

    np.testing.assert_array_equal(_outputs(mapped), _outputs(source))


def test_a_changed_source_gets_a_new_copy_and_the_old_one_goes(tmp_path: Path) -> None:
    source = _inline_graph(tmp_path / "text.onnx", seed=1)
    first = mapped_graph(source, onnxruntime, min_bytes=0)
    _inline_graph(source, seed=2)

    second = mapped_graph(source, onnxruntime, min_bytes=0)

    assert second.parent != first.parent and not first.parent.exists()
    np.testing.assert_array_equal(_outputs(second), _outputs(source))


def test_a_cache_that_cannot_be_written_opens_the_source(tmp_path: Path) -> None:
    source = _inline_graph(tmp_path / "text.onnx", seed=1)
    (tmp_path / MAPPED_DIR).write_text("not a directory", encoding="utf-8")

    assert mapped_graph(source, onnxruntime, min_bytes=0) == source
