"""Prometheus metrics, in a registry per application (tests build several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("synthcheck_http_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("synthcheck_http_request_duration_seconds", "HTTP request latency",
                                 ["route"], registry=self.registry,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.results = Counter("synthcheck_results", "analysed files by policy and risk level",
                               ["policy", "level"], registry=self.registry)
        self.analysis_errors = Counter("synthcheck_analysis_errors", "files that could not be analysed, by code",
                                       ["code"], registry=self.registry)
        self.audit = Counter("synthcheck_audit_records", "audit records by where they went "
                             "(recorded, fallback, lost)", ["status"], registry=self.registry)
