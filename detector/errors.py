"""One base error with typed subclasses, each carrying the stable `code` that
appears in a report's `error` field (part of the JSONL contract)."""

from __future__ import annotations


class SynthcheckError(Exception):
    """Base class of every error synthcheck reports for an input."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnreadablePathError(SynthcheckError):
    code = "unreadable_path"


class EmptyFileError(SynthcheckError):
    code = "empty_file"


class FileTooLargeError(SynthcheckError):
    code = "file_too_large"


class UnsupportedFormatError(SynthcheckError):
    code = "unsupported_format"


class CorruptImageError(SynthcheckError):
    code = "corrupt_image"


class ImageTooLargeError(SynthcheckError):
    """More pixels than the configured limit: a decompression bomb, or simply too big."""

    code = "image_too_large"


class AnalysisTimeoutError(SynthcheckError):
    code = "timeout"


class InternalError(SynthcheckError):
    """An unexpected failure outside any single analyzer (a worker died, ...)."""

    code = "internal_error"


class ConfigurationError(SynthcheckError, ValueError):
    """A setting that makes analysis impossible or misleading (refused at start-up, never
    turned into per-file results)."""

    code = "configuration_error"


class TrustAnchorError(ConfigurationError):
    """The C2PA trust-anchor file is missing, unreadable or holds no usable certificate."""

    code = "trust_anchors"


class UnknownPolicyError(ConfigurationError):
    """A policy name that policy.POLICIES does not define. A ValueError too (through
    ConfigurationError), as get_policy's error was before it had a type of its own."""

    code = "unknown_policy"


class ModelError(SynthcheckError):
    code = "model_error"


class ModelNotFoundError(ModelError):
    code = "model_not_found"


class ModelIntegrityError(ModelError):
    """The weights on disk are not the ones the model card describes."""

    code = "model_integrity"


class BackboneMissingError(ModelError):
    """A pretrained backbone is not set up in the cache (or not the file its conversion
    wrote): the message names `synthcheck setup`."""

    code = "backbone_missing"


class CorpusMissingError(ConfigurationError):
    """A training or evaluation corpus named by a config is not there (not built, not mounted)."""

    code = "corpus_missing"


class RepositoryMissingError(CorpusMissingError):
    """A repository of a corpus's source table is neither in --repos nor reachable by `git clone`."""

    code = "repository_missing"


class SourceRefusedError(ConfigurationError):
    """A source that must never be trained on: reserved for evaluation, or already in ../shared."""

    code = "source_refused"


class RevisionMissingError(ConfigurationError):
    """The local copy of a repository does not hold the pinned commit."""

    code = "revision_missing"


class DataFetchError(SynthcheckError):
    """A training corpus's source archive could not be downloaded or unpacked, or is reserved
    for evaluation (datasets/artwork.py)."""

    code = "data_fetch_failed"
