"""The service's one typed settings object. Every field can be set with an environment
variable `SYNTHCHECK_<FIELD>` (e.g. `SYNTHCHECK_DATABASE_URL`)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

from ..options import DEFAULT_MAX_PIXELS


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTHCHECK_", extra="ignore")

    # Storage of API keys and the audit log. SQLite by default; any SQLAlchemy URL
    # works, e.g. postgresql+psycopg://user:pass@host/db.
    database_url: str = "sqlite:///synthcheck-audit.db"
    # Where an audit record goes when the database cannot take it (JSON lines), so that
    # no decision is lost silently; `synthcheck audit replay` would load it back later.
    audit_fallback_path: Path = Path("synthcheck-audit-fallback.jsonl")

    # Keys for development and tests, comma-separated; stored keys come from `synthcheck keys`.
    api_keys: CsvList = Field(default_factory=list)
    admin_api_keys: CsvList = Field(default_factory=list)
    # How often stored keys are re-read (a revoked key stops working within this time);
    # keys are cached so that analysis keeps answering while the database is down.
    key_refresh_s: float = 30.0

    # Limits.
    max_upload_bytes: int = 50 * 1024 * 1024
    max_batch_files: int = 32
    max_batch_bytes: int = 200 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    rate_limit_per_minute: int = 600
    request_timeout_s: float = 30.0

    # Analysis processes (models are loaded once in each). 0: the CPU count.
    workers: int = 0
    trust_anchors: Path | None = None
    classifier: str | None = "default"

    # Browsers may call the API from these origins; empty: CORS off.
    cors_origins: CsvList = Field(default_factory=list)

    @field_validator("api_keys", "admin_api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        return _csv(value)

    @property
    def analysis_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)
