"""Generation settings that image-generator UIs write into the file: PNG text chunks
(A1111/Forge `parameters`, ComfyUI `prompt`/`workflow`, InvokeAI, NovelAI, Fooocus),
EXIF UserComment in JPEG/WebP (A1111), and ComfyUI's workflow in WebP EXIF."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from PIL import ExifTags, Image

from ..image_input import ImageInput
from ..report import Evidence
from .base import AnalyzerBase, Findings

SOURCE = "generator_text"
WEIGHT = 6.0  # a file carrying its own generation recipe is hard to explain otherwise
MODEL_FILE = re.compile(r"\.(safetensors|ckpt|pt|pth|gguf|bin|sft)$", re.IGNORECASE)
A1111_KEYS = re.compile(r"(?:^|\n)Steps: \d+,.*(?:Sampler|Seed): ", re.DOTALL)


def _short(text: Any, limit: int = 300) -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def parse_a1111(text: str) -> dict[str, Any] | None:
    """Parse Stable Diffusion WebUI (A1111/Forge) 'parameters' text:
    prompt, optional 'Negative prompt:' line(s), then 'Steps: 20, Sampler: …, Seed: …'."""
    if not A1111_KEYS.search(text):
        return None
    head, _, settings_line = text.strip().rpartition("\nSteps: ")
    settings_line = "Steps: " + settings_line
    prompt, _, negative = head.partition("\nNegative prompt:")
    settings: dict[str, str] = {}
    # values may be quoted and contain commas: 'Lora hashes: "a: 1, b: 2"'
    for key, value in re.findall(r'\s*([\w \-/]+):\s*("(?:\\.|[^"])*"|[^,]*)(?:,|$)', settings_line):
        settings[key.strip()] = value.strip().strip('"')
    return {
        "ui": "Stable Diffusion WebUI (A1111/Forge)",
        "prompt": _short(prompt),
        "negative_prompt": _short(negative) if negative else None,
        "model": settings.get("Model"),
        "model_hash": settings.get("Model hash"),
        "seed": settings.get("Seed"),
        "sampler": settings.get("Sampler"),
        "steps": settings.get("Steps"),
        "size": settings.get("Size"),
    }


def _comfy_nodes(graph: Any) -> list[dict[str, Any]]:
    if isinstance(graph, dict) and isinstance(graph.get("nodes"), list):  # UI workflow
        return [n for n in graph["nodes"] if isinstance(n, dict)]
    if isinstance(graph, dict):  # API prompt: {node_id: {class_type, inputs}}
        return [n for n in graph.values() if isinstance(n, dict) and "class_type" in n]
    return []


def parse_comfyui(prompt_text: str | None, workflow_text: str | None) -> dict[str, Any] | None:
    nodes = _comfy_nodes(_json(prompt_text)) if prompt_text else []
    nodes += _comfy_nodes(_json(workflow_text)) if workflow_text else []
    if not nodes:
        return None
    models: dict[str, None] = {}
    seeds, prompts = [], []
    for node in nodes:
        values = list((node.get("inputs") or {}).values()) if isinstance(node.get("inputs"), dict) else []
        values += node.get("widgets_values") or [] if isinstance(node.get("widgets_values"), list) else []
        for value in values:
            if isinstance(value, str) and MODEL_FILE.search(value):
                models[value] = None
        raw_inputs = node.get("inputs")
        inputs: dict[str, Any] = raw_inputs if isinstance(raw_inputs, dict) else {}
        for key in ("seed", "noise_seed"):
            if isinstance(inputs.get(key), int):
                seeds.append(inputs[key])
        if "CLIPTextEncode" in str(node.get("class_type") or node.get("type")) and isinstance(
            inputs.get("text"), str
        ):
            prompts.append(inputs["text"])
    return {
        "ui": "ComfyUI",
        "models": list(models)[:20],
        "seed": seeds[0] if seeds else None,
        "prompt": _short(prompts[0]) if prompts else None,
        "node_count": len(nodes),
    }


def parse_invokeai(info: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("invokeai_metadata", "sd-metadata"):
        data = _json(info[key]) if isinstance(info.get(key), str) else None
        if isinstance(data, dict):
            raw_image = data.get("image")
            image: dict[str, Any] = raw_image if isinstance(raw_image, dict) else {}
            model = data.get("model")
            if isinstance(model, dict):
                model = model.get("name") or model.get("model_name")
            prompt = data.get("positive_prompt") or image.get("prompt")
            if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
                prompt = prompt[0].get("prompt")
            return {"ui": "InvokeAI", "model": model or data.get("model_weights"),
                    "seed": data.get("seed") or image.get("seed"), "prompt": _short(prompt), "chunk": key}
    if isinstance(info.get("Dream"), str):
        return {"ui": "InvokeAI (legacy Dream)", "prompt": _short(info["Dream"]), "chunk": "Dream"}
    if "invokeai_graph" in info:
        return {"ui": "InvokeAI", "chunk": "invokeai_graph"}
    return None


def parse_novelai(info: dict[str, Any]) -> dict[str, Any] | None:
    software, source = str(info.get("Software", "")), str(info.get("Source", ""))
    if "novelai" not in (software + source).lower():
        return None
    comment = _json(info["Comment"]) if isinstance(info.get("Comment"), str) else None
    comment = comment if isinstance(comment, dict) else {}
    return {"ui": "NovelAI", "model": source or None, "seed": comment.get("seed"),
            "prompt": _short(comment.get("prompt") or info.get("Description"))}


def parse_fooocus(info: dict[str, Any]) -> dict[str, Any] | None:
    params = _json(info["parameters"]) if isinstance(info.get("parameters"), str) else None
    is_fooocus = "fooocus_scheme" in info or (
        isinstance(params, dict) and "fooocus" in str(params.get("version", "")).lower())
    if not is_fooocus:
        return None
    params = params if isinstance(params, dict) else {}
    return {"ui": "Fooocus", "model": params.get("base_model"), "seed": params.get("seed"),
            "prompt": _short(params.get("prompt")), "version": params.get("version")}


def _exif_texts(image: Image.Image) -> dict[str, str]:
    """Text-bearing EXIF fields where generators hide their settings."""
    exif = image.getexif()
    out: dict[str, str] = {}
    for tag, name in ((0x010F, "Make"), (0x0110, "Model"), (0x010E, "ImageDescription")):
        value = exif.get(tag)
        if isinstance(value, str):
            out[name] = value
    comment = exif.get_ifd(ExifTags.IFD.Exif).get(0x9286)
    if isinstance(comment, bytes):
        # UserComment: 8-byte charset header, then the text (A1111 writes UNICODE = UTF-16).
        header, body = comment[:8], comment[8:]
        if header.startswith(b"UNICODE"):
            encoding = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
            out["UserComment"] = body.decode(encoding, "replace")
        else:
            out["UserComment"] = body.decode("utf-8", "replace")
    elif isinstance(comment, str):
        out["UserComment"] = comment
    return {k: v.replace("\x00", "") for k, v in out.items()}


class GeneratorTextAnalyzer(AnalyzerBase):
    name = SOURCE

    def analyze(self, image: ImageInput) -> Findings:
        info = {k: v for k, v in image.image.info.items() if isinstance(k, str)}
        texts = {k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                 for k, v in info.items() if isinstance(v, (str, bytes)) and k not in ("icc_profile", "exif")}
        exif_texts = _exif_texts(image.image)

        found: list[tuple[str, dict[str, Any]]] = []  # (where, parsed)
        parsers: list[tuple[str, Callable[[], dict[str, Any] | None]]] = [
            ("text chunk 'parameters'", lambda: parse_fooocus(texts)),
            ("text chunk 'parameters'", lambda: parse_a1111(texts["parameters"])
             if isinstance(texts.get("parameters"), str) else None),
            ("text chunks 'prompt'/'workflow'", lambda: parse_comfyui(texts.get("prompt"), texts.get("workflow"))),
            ("InvokeAI text chunk", lambda: parse_invokeai(texts)),
            ("text chunks 'Software'/'Comment'", lambda: parse_novelai(texts)),
            ("EXIF UserComment", lambda: parse_a1111(exif_texts["UserComment"])
             if "UserComment" in exif_texts else None),
            ("JPEG comment", lambda: parse_a1111(texts["comment"]) if isinstance(texts.get("comment"), str) else None),
            ("EXIF Make/Model (ComfyUI WebP)", lambda: parse_comfyui(
                exif_texts.get("Model", "").removeprefix("prompt:")
                if exif_texts.get("Model", "").startswith("prompt:") else None,
                exif_texts.get("Make", "").removeprefix("workflow:")
                if exif_texts.get("Make", "").startswith("workflow:") else None)),
        ]
        for where, parse in parsers:
            parsed = parse()
            if parsed and not any(p["ui"] == parsed["ui"] for _, p in found):
                found.append((where, parsed))

        evidence = []
        for where, parsed in found:
            facts = [f"model {parsed['model']}" if parsed.get("model") else None,
                     f"models {', '.join(parsed['models'][:3])}" if parsed.get("models") else None,
                     f"seed {parsed['seed']}" if parsed.get("seed") is not None else None,
                     f"prompt \"{_short(parsed['prompt'], 80)}\"" if parsed.get("prompt") else None]
            facts_text = ", ".join(f for f in facts if f)
            evidence.append(Evidence(
                SOURCE, "generator_parameters",
                f"The {where} holds {parsed['ui']} generation settings"
                + (f": {facts_text}." if facts_text else "."),
                WEIGHT, {"where": where, **parsed}))
        return Findings(evidence=evidence)
