"""The REST API fuzzed from its own OpenAPI document (schemathesis): every operation, with valid and
invalid input, against a real gateway process, answers without a server error and as documented
(status code, content type, body schema). CI-sized: a few dozen examples per operation."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from schemathesis.checks import not_a_server_error

from hotline.openapi import openapi_document
from tests.mail_servers import free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "30"))

schema = schemathesis.openapi.from_dict(openapi_document())
# signing out would end the token that the other operations use
schema = schema.exclude(path="/api/auth/token", method="DELETE")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A real gateway (SQLite, demo users and reference data, no bot) on a free port."""
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATA_DIR=str(tmp / "data"), HOTLINE_BOT_ENABLED="false", HOTLINE_HTTP_PORT=str(port),
               HOTLINE_USER_KDF_TIME_COST="1", HOTLINE_USER_KDF_MEMORY_KIB="1024", HOTLINE_LOG_LEVEL="WARNING",
               # the look-up limits would answer most look-ups with 429, which is not what is fuzzed here
               HOTLINE_LOOKUP_PER_CLIENT="100000", HOTLINE_LOOKUP_PER_CASE="100000", PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "hotline.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=tmp, check=True, capture_output=True, timeout=300)
    subprocess.run([*cli, "demo-data", "--history", "0"], env=env, cwd=tmp, check=True, capture_output=True,
                   timeout=300)
    log = open(tmp / "gateway.log", "ab")
    process = subprocess.Popen([*cli, "run", "--no-migrate"], env=env, cwd=tmp, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp / "gateway.log").read_text(errors="replace")[-3000:]
            try:
                if requests.get(f"{url}/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the gateway did not become healthy"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        errors = (tmp / "gateway.log").read_text(errors="replace")
        assert "Traceback" not in errors, errors[-5000:]


@pytest.fixture(scope="module")
def admin_token(gateway) -> str:
    answer = requests.post(f"{gateway}/api/auth/token", json={"username": "admin", "password": "hotline-admin"},
                           timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _security(operation) -> list:
    return operation.definition.raw.get("security") or []


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented(case, gateway, admin_token):
    # a bearer requirement named (alone, or beside {}: a token optional): the staff's side is fuzzed
    headers = {"Authorization": f"Bearer {admin_token}"} if any(_security(case.operation)) else {}
    case.call_and_validate(base_url=gateway, headers=headers, timeout=120,  # a busy CI machine
                           checks=CHECKS)


@schema.include(lambda ctx: {} in _security(ctx.operation) and any(_security(ctx.operation))).parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_operations_open_to_anyone_answer_as_documented_without_a_token(case, gateway):
    """An operation whose token is optional (a citizen's submission): its anonymous side too."""
    case.call_and_validate(base_url=gateway, timeout=120, checks=CHECKS)
