from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modal_functions.api.main import create_app

from api_support import TOKEN, FakeBackend, make_settings


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
