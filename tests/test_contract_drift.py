"""The generated shared types must match the pydantic contract exactly."""

import json
import shutil

import pytest

from modal_functions.contract import export


def test_json_schema_matches_committed(tmp_path):
    export.write_schemas(tmp_path)
    committed = {p.name: json.loads(p.read_text()) for p in (export.SHARED / "schema").glob("*.json")}
    fresh = {p.name: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    assert fresh == committed, "contract drifted from packages/shared-types/schema: run `make types`"


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_typescript_matches_committed(tmp_path):
    export.write_schemas(tmp_path / "schema")
    export.write_typescript(tmp_path / "schema", tmp_path / "contract.ts")
    committed = (export.SHARED / "src" / "contract.ts").read_text()
    assert (tmp_path / "contract.ts").read_text() == committed, "TypeScript types drifted: run `make types`"
