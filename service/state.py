"""Everything the service holds for its lifetime, built once at start-up."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from ..options import AnalysisOptions
from .audit import AuditLog
from .db import make_sessionmaker, open_database
from .executor import AnalysisExecutor
from .keys import KeyRing
from .metrics import Metrics
from .ratelimit import RateLimiter
from .settings import Settings

log = logging.getLogger("synthcheck.service")


@dataclass
class ServiceState:
    settings: Settings
    options: AnalysisOptions
    engine: Engine
    sessions: sessionmaker
    keyring: KeyRing
    audit: AuditLog
    executor: AnalysisExecutor
    metrics: Metrics
    limiter: RateLimiter
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, settings: Settings) -> ServiceState:
        settings.ensure_local_dirs()
        log.info("keys and audit log in %s", settings.where())
        settings.check_classifier()  # refused at start-up, not as a failure on every request
        options = settings.options
        engine = open_database(settings, serving=True)
        sessions = make_sessionmaker(engine)
        keyring = KeyRing(sessions, settings.api_keys, settings.admin_api_keys, settings.key_refresh_s)
        keyring.refresh()
        state = cls(settings=settings, options=options, engine=engine, sessions=sessions, keyring=keyring,
                    audit=AuditLog(sessions, settings.audit_fallback_path),
                    executor=AnalysisExecutor(options, settings.analysis_workers, settings.request_timeout_s),
                    metrics=Metrics(), limiter=RateLimiter(settings.rate_limit_per_minute))
        threading.Thread(target=state._warm_up, name="synthcheck-warm-up", daemon=True).start()
        return state

    def _warm_up(self) -> None:
        if self.executor.ready():
            self.ready.set()
        else:
            log.error("the analysis workers did not start; /readyz stays 503")

    def close(self) -> None:
        self.executor.close()
        self.engine.dispose()
