"""The runtime apart from the lab (issue 30): analysing an image, the models it loads and the
service import nothing from training/ and no torch, and no module of the package imports
itself back through another (no import loop, lazy imports inside functions counted)."""

from __future__ import annotations

import ast
import subprocess
import sys

from .conftest import EXAMPLES, REPO

# Folder -> import name, as pyproject.toml's package-dir maps them.
PACKAGES = {"synthcheck": "detector", "synthcheck.analyzers": "detector/analyzers", "synthcheck.datasets": "datasets",
            "synthcheck.models": "models", "synthcheck.training": "training", "synthcheck.service": "service",
            "synthcheck.service.routers": "service/routers"}
# Everything but the lab: training/, the data builders it uses, and the CLI (which adds the
# training commands to its parser; the test below checks it loads no trainer).
LAB = ("synthcheck.training", "synthcheck.datasets", "synthcheck.cli")


def _modules() -> dict[str, ast.Module]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted((REPO / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = ast.parse(path.read_text(), str(path))
    return found


def _imports(name: str, tree: ast.Module, modules: dict[str, ast.Module]) -> set[str]:
    """The package's modules that `name` imports anywhere in its code (inside functions too)."""
    package = name if name in PACKAGES else name.rsplit(".", 1)[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules and "." in candidate:
                candidate = candidate.rsplit(".", 1)[0]
            if candidate in modules and candidate != name:
                targets.add(candidate)
    return targets


def test_no_module_imports_itself_back_through_others():
    modules = _modules()
    graph = {name: _imports(name, tree, modules) for name, tree in modules.items()}
    loops = []

    def visit(name: str, path: list[str], done: set[str]) -> None:
        for target in sorted(graph[name]):
            if target in path:
                loops.append(path[path.index(target):] + [target])
            elif target not in done:
                visit(target, path + [target], done)
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert not loops, "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)


def test_the_runtime_packages_import_no_training_code():
    modules = _modules()
    offenders = {name: sorted(t for t in _imports(name, tree, modules) if t.startswith("synthcheck.training"))
                 for name, tree in modules.items() if not name.startswith(LAB)}
    assert not {name: found for name, found in offenders.items() if found}


def test_analysing_and_serving_load_nothing_from_training_and_no_torch():
    probe = (
        "import sys\n"
        "import synthcheck.models.registry, synthcheck.models.face_probe, synthcheck.models.faces\n"
        "import synthcheck.service.app\n"
        "from synthcheck import analyze\n"
        f"report = analyze({str(EXAMPLES / 'astronaut_face.jpg')!r})\n"
        "assert report.classifier is not None and report.faces, report.evidence\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('synthcheck.training')"
        " or m.split('.')[0] in ('torch', 'torchvision', 'timm')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "LOADED []" in done.stdout, done.stdout[-800:]


def test_the_cli_adds_the_training_commands_without_loading_a_trainer():
    probe = ("import sys\nfrom synthcheck.cli import main\n"
             f"code = main(['scan', {str(EXAMPLES / 'plain_photo.jpg')!r}, '--format', 'jsonl'])\n"
             "print('CODE', code, sorted(m for m in sys.modules if m.startswith('synthcheck.training')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "CODE 0 ['synthcheck.training', 'synthcheck.training.commands']" in done.stdout, done.stdout[-800:]
