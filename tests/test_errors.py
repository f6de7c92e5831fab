"""The error types (issue 30): every error synthcheck raises is defined in errors.py, one
base with typed subclasses, each with the stable `code` of the JSONL contract."""

from __future__ import annotations

from synthcheck import errors


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


def test_backbone_missing_error_is_still_importable_from_backbones():
    # backbone_file()'s documented error: code outside synthcheck may import it from there
    from synthcheck.models.backbones import BackboneMissingError

    assert BackboneMissingError is errors.BackboneMissingError

