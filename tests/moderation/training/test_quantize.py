"""Per-token int8 quantisation of the accurate tier's graph (needs onnx, not torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="quantisation runs at training time (train extra)")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from rostra.moderation.training.quantize import quantize_per_token  # noqa: E402

VOCAB, DIM, OUT = 10_001, 16, 8


def _float_model(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(VOCAB, DIM)).astype(np.float32)
    weight = rng.normal(size=(DIM, OUT)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["emb"], axis=0),
            helper.make_node("MatMul", ["emb", "weight"], ["out"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "seq", OUT])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return table, weight


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    folder = tmp_path_factory.mktemp("quantize")
    table, weight = _float_model(folder / "f.onnx")
    quantize_per_token(folder / "f.onnx", folder / "q.onnx")
    return folder / "f.onnx", folder / "q.onnx", table, weight


def _run(path: Path, ids: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"ids": ids})[0]


def test_quantised_model_is_close_to_the_float_one(models: tuple) -> None:
    _, quantised, table, weight = models
    ids = np.random.default_rng(1).integers(0, VOCAB, size=(4, 7))
    expected = table[ids] @ weight
    got = _run(quantised, ids)
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max()


def test_quantised_model_is_smaller_and_stores_int8(models: tuple) -> None:
    float_model, quantised, _, _ = models
    assert quantised.stat().st_size < 0.4 * float_model.stat().st_size
    kinds = {i.data_type for i in onnx.load(str(quantised)).graph.initializer}
    assert TensorProto.INT8 in kinds


def test_a_row_scores_the_same_whatever_its_batch_neighbours(models: tuple) -> None:
    quantised = models[1]
    ids = np.random.default_rng(2).integers(0, VOCAB, size=(5, 6))
    batch = _run(quantised, ids)
    for row in range(len(ids)):
        alone = _run(quantised, ids[row : row + 1])
        np.testing.assert_allclose(batch[row], alone[0], atol=1e-5)
