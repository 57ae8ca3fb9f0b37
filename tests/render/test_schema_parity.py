"""The pydantic Timeline and the Explainer's zod schema describe the same props.

Two checks: (1) both JSON Schemas (pydantic's, and zod's `z.toJSONSchema`) reduce to the
same shape (fields, required, nullability, allowed values, bounds, patterns); (2) a set
of fixtures gets the same verdict from both, and for the valid ones zod's parsed output
(defaults filled in) equals pydantic's `model_dump`, so every default agrees too.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import pytest
from pydantic import ValidationError

from modal_functions.contract.render import Timeline
from modal_functions.render import project

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (project.PROJECT_DIR / "node_modules" / "zod").is_dir(),
    reason="node or the Remotion project's node_modules missing (make node)",
)

KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems")


def _node(*args: str, stdin: str | None = None):
    proc = subprocess.run(["node", "scripts/schema.mjs", *args], cwd=project.PROJECT_DIR, input=stdin,
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout)


def _norm(node: dict, defs: dict) -> dict:
    if "$ref" in node:
        node = {**defs[node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    variants = node.get("anyOf")
    if variants:
        nullable = any(v.get("type") == "null" for v in variants)
        rest = [v for v in variants if v.get("type") != "null"]
        if all("const" in v for v in rest):
            out = {"enum": sorted(v["const"] for v in rest)}
        else:
            assert len(rest) == 1, node
            out = _norm(rest[0], defs)
        return {**out, "nullable": nullable}
    if "enum" in node:
        return {"enum": sorted(node["enum"]), "nullable": False}
    kind = node.get("type")
    nullable = False
    if isinstance(kind, list):  # zod >= 4.5 writes a nullable scalar as {"type": ["number", "null"]}
        nullable = "null" in kind
        (kind,) = [k for k in kind if k != "null"]
    out: dict = {"type": "number" if kind == "integer" else kind, "nullable": nullable}
    out.update({k: node[k] for k in KEYS if k in node})
    if kind == "object":
        out["properties"] = {k: _norm(v, defs) for k, v in node.get("properties", {}).items()}
        out["required"] = sorted(node.get("required", []))
        out["closed"] = node.get("additionalProperties") is False
    if kind == "array":
        out["items"] = _norm(node["items"], defs)
    return out


def test_json_schemas_have_the_same_shape():
    py = Timeline.model_json_schema(mode="validation")
    zod = _node("json-schema")
    assert _norm(zod, zod.get("$defs", {})) == _norm(py, py.get("$defs", {}))


VALID = {
    "durationMs": 4000,
    "scenes": [{"image": "artifacts/a.png", "startMs": 0, "endMs": 2000},
               {"image": "https://example.test/b.jpg", "startMs": 2000, "endMs": 4000, "transition": "slide",
                "kenBurnsFrom": {"zoom": 1.5}, "kenBurnsTo": {"zoom": 1.0, "x": 0.2, "y": 0.9}}],
}


def _with(**changes) -> dict:
    t = copy.deepcopy(VALID)
    t.update(changes)
    return t


def _scene(**changes) -> dict:
    t = copy.deepcopy(VALID)
    t["scenes"][0].update(changes)
    return t


CASES = [
    VALID,
    _with(aspectRatio="9:16", resolution=1080, fps=60, title="Hi", titleMs=0, transitionMs=0),
    _with(narration="artifacts/n.mp3", music="artifacts/m.mp3", musicVolume=1, musicDuckedVolume=0, highlightColor="#00ff00"),
    _with(captions=[{"text": "hi", "startMs": 0, "endMs": 100}, {"text": "yo", "startMs": 100, "endMs": 200, "timestampMs": 150, "confidence": 0.9}]),
    _with(title=None, narration=None, music=None, degraded=True),
    _with(aspectRatio="4:3"),
    _with(resolution=1440),
    _with(resolution="720"),
    _with(fps=29),
    _with(durationMs=0),
    _with(durationMs=900_001),
    _with(title="x" * 201),
    _with(titleMs=-1),
    _with(scenes=[]),
    _with(musicVolume=1.5),
    _with(highlightColor="#FFF"),
    _with(unknownField=1),
    _scene(startMs=-1),
    _scene(endMs=0),
    _scene(image=""),
    _scene(transition="wipe"),
    _scene(kenBurnsFrom={"zoom": 0.5}),
    _scene(kenBurnsTo={"x": 1.5}),
    _scene(extra=True),
    _with(captions=[{"text": "hi", "startMs": 0}]),
    _with(captions=[{"text": "hi", "startMs": 0, "endMs": 1, "speaker": "a"}]),
    {k: v for k, v in VALID.items() if k != "durationMs"},
]


def test_fixtures_get_the_same_verdict_and_the_same_defaults():
    verdicts = _node("validate", stdin=json.dumps(CASES))
    for case, zod in zip(CASES, verdicts):
        try:
            dumped = Timeline.model_validate(case).model_dump(mode="json")
            ok = True
        except ValidationError:
            ok = False
        assert zod["ok"] == ok, f"zod says {zod}, pydantic says ok={ok} for {case}"
        if ok:
            assert zod["data"] == dumped, "defaults differ between zod and pydantic"
