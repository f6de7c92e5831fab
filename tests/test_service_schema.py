"""schemathesis against the service's OpenAPI schema, on a live server: generated
requests (valid and invalid parameters, bodies, headers) never get a 5xx, and every
response conforms to the schema's declared status codes and content types."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .service_helpers import live_server

KEY, ADMIN = "schema-key", "schema-admin"
# CI runs a fixed set of examples (no flaky CI); set SYNTHCHECK_SCHEMA_EXAMPLES and
# SYNTHCHECK_SCHEMA_RANDOM=1 to explore further.
EXAMPLES_PER_OPERATION = int(os.environ.get("SYNTHCHECK_SCHEMA_EXAMPLES", "30"))
DERANDOMIZE = os.environ.get("SYNTHCHECK_SCHEMA_RANDOM") != "1"


@pytest.fixture(scope="module")
def api_url(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("schema"), api_keys=KEY, admin_api_keys=ADMIN,
                     rate_limit_per_minute="0") as url:
        yield url


def test_api_conforms_to_its_schema(api_url):
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/analyze", "/v1/analyze/batch", "/v1/audit", "/v1/models"}
    for operation in operations:
        _check_operation(operation)


def _check_operation(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=DERANDOMIZE,
              suppress_health_check=list(HealthCheck))
    def check(case):
        # Image uploads are "any binary" in the schema, but most random bytes are no
        # image: those are rightly refused (422), so schema-valid need not mean accepted.
        excluded = [positive_data_acceptance] if operation.path.startswith("/v1/analyze") else []
        case.call_and_validate(headers={"X-API-Key": ADMIN}, excluded_checks=excluded)

    check()
