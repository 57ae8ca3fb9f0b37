from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modal_functions.api.main import create_app
from modal_functions.settings import Settings

from api_support import TOKEN, FakeBackend


def make_settings(tmp_path, **overrides) -> Settings:
    values = {"COMPUTE_TOKEN": TOKEN, "CANVASCAST_DATA_DIR": str(tmp_path), "COMPUTE_MAX_BODY_BYTES": 64 * 1024,
              "COMPUTE_SYNC_WAIT_S": 10.0, "CANVASCAST_ENV": "local"}
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def backend():
    b = FakeBackend()
    yield b
    b.close()


@pytest.fixture
def app_factory(tmp_path, backend):
    def make(fake=None, faults=False, **overrides):
        return create_app(make_settings(tmp_path, **overrides), fake or backend, faults_enabled=faults)
    return make


@pytest.fixture
def client(app_factory):
    with TestClient(app_factory(), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c
