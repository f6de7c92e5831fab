"""The service's one typed settings object. Every field can be set with an environment
variable `SYNTHCHECK_<FIELD>` (e.g. `SYNTHCHECK_DATABASE_URL`)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated

from platformdirs import user_data_path
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ..options import DEFAULT_MAX_PIXELS, AnalysisOptions


def data_dir() -> Path:
    """Where the service keeps its own files by default: the per-user data directory
    ($XDG_DATA_HOME/synthcheck, else ~/.local/share/synthcheck on Linux), never the
    working directory (in a checkout, that would be the repository)."""
    return user_data_path("synthcheck", appauthor=False)


def _default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'audit.db'}"


def _default_fallback_path() -> Path:
    return data_dir() / "audit-fallback.jsonl"


# The databases the service is built and tested with (SQLAlchemy URLs).
SUPPORTED_DATABASES = "sqlite:///path/to/audit.db or postgresql+psycopg://user:pass@host/db"


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTHCHECK_", extra="ignore")

    # Each description is what `synthcheck serve --help` says of the variable (listed from
    # this class, so the help cannot miss a setting).
    database_url: str = Field(default_factory=_default_database_url, description=(
        f"where the API keys and the audit log are stored: {SUPPORTED_DATABASES}; refused at "
        "start-up if it cannot be reached or written"))
    # JSON lines, so that no decision is lost silently.
    audit_fallback_path: Path = Field(default_factory=_default_fallback_path, description=(
        "where an audit record goes when the database cannot take it"))
    # An auditable deployment must not run on the fallback file unnoticed: without this, a
    # database that cannot take records refuses start-up and makes /readyz 503.
    audit_fallback: bool = Field(False, description=(
        "true: start, and stay ready, while the database cannot be reached or written, with the "
        "audit records in the fallback file"))

    # Stored keys come from `synthcheck keys`.
    api_keys: CsvList = Field(default_factory=list, description="keys for development and tests, comma-separated")
    admin_api_keys: CsvList = Field(default_factory=list, description=(
        "admin keys (may read the audit log) for development and tests, comma-separated"))
    # Keys are cached so that analysis keeps answering while the database is down.
    key_refresh_s: float = Field(30.0, description=(
        "how often stored keys are re-read, in seconds (a revoked key stops working within this time)"))

    max_upload_bytes: int = Field(50 * 1024 * 1024, description="largest file, in bytes (413 above)")
    max_batch_files: int = Field(32, description="most files in one batch request (413 above)")
    max_batch_bytes: int = Field(200 * 1024 * 1024, description="largest batch request, in bytes (413 above)")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, description="most pixels in one image: the decompression-bomb limit "
                            "(422 above)")
    rate_limit_per_minute: int = Field(600, description="requests per minute per key (a batch costs one per file); "
                                       "0: no limit")
    request_timeout_s: float = Field(30.0, description="analysis time per file, in seconds (504 after)")

    # Models are loaded once in each analysis process.
    workers: int = Field(0, description="analysis processes; 0: the CPU count")
    trust_anchors: Path | None = Field(None, description=(
        "a PEM file of C2PA signer roots you trust, added to the built-in trust lists"))
    builtin_trust: bool = Field(True, description="false: no built-in trust list (only SYNTHCHECK_TRUST_ANCHORS)")
    interim_trust: bool = Field(True, description="false: without the frozen interim trust list")
    classifier: str | None = Field("default", description="the shipped classifier model's name")
    # It needs the classifier: a detector pass on every image, a score per face.
    faces: bool = Field(True, description="the faces check")
    # The slowest heuristic; as `scan --no-watermark`.
    watermarks: bool = Field(True, description="the invisible-watermark check")

    cors_origins: CsvList = Field(default_factory=list, description=(
        "origins allowed to call the API from a browser, comma-separated; empty: CORS off"))

    @field_validator("api_keys", "admin_api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        return _csv(value)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL (e.g. {SUPPORTED_DATABASES})") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"{url.drivername}:// databases are not supported; use {SUPPORTED_DATABASES}")
        try:  # the driver, now: a missing one would otherwise surface as a traceback at first use
            url.get_dialect().import_dbapi()
        except ImportError as exc:
            raise ValueError(f"the driver of {url.drivername}:// ({exc.name}) is not installed; "
                             f"use {SUPPORTED_DATABASES}") from None
        return value

    @cached_property
    def options(self) -> AnalysisOptions:
        """The analysis options these settings give, built once: the one place where the
        service's settings become what `scan`'s flags also build (AnalysisOptions). The trust
        anchors are read and checked here; `synthcheck serve` asks for this before it starts,
        so broken anchors, which would make every manifest unreadable, refuse start-up."""
        from ..errors import ConfigurationError, TrustAnchorError

        try:
            return AnalysisOptions(max_pixels=self.max_pixels, max_file_bytes=self.max_upload_bytes,
                                   trust_anchors=self.trust_anchors, builtin_trust=self.builtin_trust,
                                   interim_trust=self.interim_trust, watermarks=self.watermarks,
                                   classifier=self.classifier, faces=self.faces)
        except TrustAnchorError as exc:
            raise ConfigurationError(f"SYNTHCHECK_TRUST_ANCHORS: {exc}") from None

    def check_classifier(self) -> None:
        """The classifier's model and backbone, checked at start-up (ModelError if unusable)."""
        if self.classifier is not None:
            from ..models import check_available

            check_available(self.classifier, faces=self.faces)

    def ensure_local_dirs(self) -> None:
        """Create the folders of a SQLite database file and of the fallback file (ConfigurationError,
        naming the variable, when one cannot be made)."""
        from sqlalchemy.engine import make_url

        from ..errors import ConfigurationError

        url = make_url(self.database_url)
        folders = [(self.audit_fallback_path.parent, "SYNTHCHECK_AUDIT_FALLBACK_PATH")]
        # (a URI-form database, file:...?uri=true, is not a path: making its "folder" would
        # create a folder named "file:" where the command runs)
        if (url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:"
                and not url.query.get("uri")):
            folders.insert(0, (Path(url.database).expanduser().parent, "SYNTHCHECK_DATABASE_URL"))
        for folder, variable in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigurationError(f"{variable}: cannot create the folder {folder} ({exc.strerror})") from None

    def where(self) -> str:
        """Where the keys and audit log live, for a start-up line (password hidden)."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)

    @property
    def analysis_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)
