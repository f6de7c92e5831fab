"""The error types (issue 30): every error synthcheck raises is defined in errors.py, one
base with typed subclasses, each with the stable `code` of the JSONL contract."""

from __future__ import annotations

import ast
from pathlib import Path

from synthcheck import errors

ROOT = Path(__file__).resolve().parents[1]
# the installed packages' source folders (pyproject's package-dir)
PACKAGE_DIRS = ("detector", "datasets", "models", "service")


def _error_classes() -> dict[str, type[errors.SynthcheckError]]:
    return {name: value for name, value in vars(errors).items()
            if isinstance(value, type) and issubclass(value, errors.SynthcheckError)}


def test_codes_are_unique():
    codes = [cls.code for cls in _error_classes().values()]
    assert len(codes) == len(set(codes))


def test_moved_errors_keep_their_codes_and_bases():
    assert errors.BackboneMissingError.code == "backbone_missing"
    assert issubclass(errors.BackboneMissingError, errors.ModelError)
    assert errors.DataFetchError.code == "data_fetch_failed"
    assert errors.DataFetchError.__bases__ == (errors.SynthcheckError,)
    assert not issubclass(errors.DataFetchError, errors.ConfigurationError)


def test_corpus_errors_keep_their_codes_and_bases():
    assert errors.RepositoryMissingError.code == "repository_missing"
    assert issubclass(errors.RepositoryMissingError, errors.CorpusMissingError)
    assert errors.SourceRefusedError.code == "source_refused"
    assert errors.RevisionMissingError.code == "revision_missing"
    assert errors.SourceRefusedError.__bases__ == errors.RevisionMissingError.__bases__ == (errors.ConfigurationError,)


def test_backbone_missing_error_is_still_importable_from_backbones():
    # backbone_file()'s documented error: code outside synthcheck may import it from there
    from synthcheck.models.backbones import BackboneMissingError

    assert BackboneMissingError is errors.BackboneMissingError


def test_no_error_class_is_defined_outside_errors_py():
    """A class deriving from one of errors.py's classes, anywhere else in the packages, is
    an error defined in the wrong place (read from the source: importing every module
    would load torch)."""
    names = set(_error_classes())
    misplaced = []
    for folder in PACKAGE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "detector" / "errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef):
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", None) for b in node.bases}
                    if bases & names:
                        misplaced.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert misplaced == []
