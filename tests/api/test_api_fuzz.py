"""Property-based fuzzing of the whole compute-plane API, from its own OpenAPI document.

Schemathesis generates requests for every documented operation, valid and invalid, sends them
to a real `canvascast serve` (every kind, in-house pools) on 127.0.0.1, and checks each
response: never a 5xx, a documented status, a body that matches the documented schema and
content type, schema-invalid input refused with a 4xx, and an `Allow` header naming exactly
the methods a path serves. A stateful run then follows the document's links from each job it
creates (get, cancel, events) with the real id. Seeded (`derandomize`), so a run is reproducible.
"""

from __future__ import annotations

import collections
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api_support import TOKEN, make_settings
from modal_functions.api.main import create_app
from modal_functions.api.server_process import ServerProcess
from modal_functions.runtime.testing import write_config

CONFIG = f"""
[auth.openapi.HTTPBearer]
bearer = "{TOKEN}"

# DELETE /v1/jobs/ID cancels: the job stays readable, as `cancelled` (a finished one unchanged).
[checks.use_after_free]
enabled = false

# Valid by the schema yet refused by a check no JSON Schema can state: an artifact that does
# not exist (404), a timeline whose times do not fit its fps (422), a reference to an
# unreachable URL or unknown key (400). The other checks stay at their defaults.
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429"]
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    cfg = write_config(tmp_path_factory.mktemp("cfg") / "modal.toml")
    # A short sync wait: a valid render or alignment still running comes back as 202 to poll.
    s = ServerProcess(tmp_path_factory.mktemp("fuzz"), TOKEN, modal_toml=cfg, args=["--no-access-log"],
                      env={"COMPUTE_SYNC_WAIT_S": "2"})
    s.start()
    yield s
    s.stop()


# The document the server serves, built in-process (no server, no lifespan); the test below
# checks it is the one the running server publishes.
DOCUMENT = create_app(make_settings(Path("/nonexistent/canvascast-openapi-only"))).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.config.SchemathesisConfig.from_str(CONFIG))


def test_the_fuzzed_document_is_the_one_the_server_serves(fuzz_server):
    assert httpx.get(f"{fuzz_server.url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_every_operation_keeps_its_contract(case, fuzz_server):
    response = case.call_and_validate(base_url=fuzz_server.url, timeout=60)  # the token: CONFIG's auth (negative cases drop it)
    STATUSES.setdefault(case.operation.label, collections.Counter())[response.status_code] += 1


STATUSES: dict[str, collections.Counter] = {}


def test_the_fuzz_got_past_the_door_on_every_operation():
    """Guards the test itself: a fuzz refused at the door throughout (401, 405, 422) would check nothing."""
    if not STATUSES:
        pytest.skip("run with the fuzz test above")
    assert set(STATUSES) == {op.ok().label for op in schema.get_all_operations()}
    # Past auth and schema validation, into the handler (a random job id's 404 counts: it was looked up).
    reached = {label: any(code not in (401, 405, 422) for code in counts) for label, counts in STATUSES.items()}
    assert all(reached.values()), {label: dict(STATUSES[label]) for label, ok in reached.items() if not ok}
    assert any(200 <= code < 300 for counts in STATUSES.values() for code in counts)


def test_job_lifecycles_keep_their_contract(fuzz_server):
    """Stateful: submit, then follow the OpenAPI links (get, cancel, events) with the real job id.

    This reaches what random ids cannot: real jobs of every kind, read back, cancelled and
    streamed, each response checked against the documented `Job`.
    """
    seen: collections.Counter = collections.Counter()

    class Lifecycle(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": fuzz_server.url, "timeout": 60, "headers": {"Authorization": f"Bearer {TOKEN}"}}

        def call(self, case, **kwargs):
            response = super().call(case, **kwargs)
            seen[(case.operation.label, response.status_code)] += 1
            return response

    Lifecycle.run(settings=settings(max_examples=25, stateful_step_count=6, derandomize=True, deadline=None,
                                    database=None, suppress_health_check=list(HealthCheck)))
    # The links were followed with real ids: a job was found, cancelled and streamed.
    for label in ("GET /v1/jobs/{job_id}", "DELETE /v1/jobs/{job_id}", "GET /v1/jobs/{job_id}/events"):
        assert seen[(label, 200)] > 0, sorted(seen.items())
