"""`canvascast types`: pydantic contract -> JSON Schema (+ TypeScript via json-schema-to-typescript).

The schema files are the hand-off to `packages/shared-types`; its `scripts/generate.mjs`
compiles them to `src/contract.ts`. `tests/test_contract_drift.py` fails when either drifts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pydantic import BaseModel

from . import jobs
from .align import Caption, Segment, TranscribeAudioRequest, TranscribeAudioResult
from .diagnostic import DiagnosticRequest, DiagnosticResult
from .images import GenerateImagesRequest, GenerateImagesResult, ImageItem, ImageStyle
from .render import RenderVideoRequest, RenderVideoResult, Scene, Timeline

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "packages" / "shared-types"

# Every model the TypeScript side sees, by name. Extra contract modules append here.
MODELS: dict[str, type[BaseModel]] = {
    "Job": jobs.Job,
    "JobCreate": jobs.JobCreate,
    "JobError": jobs.JobError,
    "Progress": jobs.Progress,
    "Cost": jobs.Cost,
    "ErrorBody": jobs.ErrorBody,
    "Health": jobs.Health,
    "KindCapacity": jobs.KindCapacity,
    "WarmRequest": jobs.WarmRequest,
    "WarmLease": jobs.WarmLease,
    "ArtifactRef": jobs.ArtifactRef,
    "Caption": Caption,
    "Segment": Segment,
    "TranscribeAudioRequest": TranscribeAudioRequest,
    "TranscribeAudioResult": TranscribeAudioResult,
    "ImageStyle": ImageStyle,
    "ImageItem": ImageItem,
    "GenerateImagesRequest": GenerateImagesRequest,
    "GenerateImagesResult": GenerateImagesResult,
    "Scene": Scene,
    "Timeline": Timeline,
    "RenderVideoRequest": RenderVideoRequest,
    "RenderVideoResult": RenderVideoResult,
    "DiagnosticRequest": DiagnosticRequest,
    "DiagnosticResult": DiagnosticResult,
}


def _extra_models() -> dict[str, type[BaseModel]]:
    from . import renders  # the worker's RenderRequest and friends

    return dict(renders.EXPORTED)


def schemas() -> dict[str, dict]:
    """One JSON Schema document per model, keyed by file name."""
    out = {}
    for name, model in {**MODELS, **_extra_models()}.items():
        schema = model.model_json_schema(mode="serialization", ref_template="#/$defs/{model}")
        schema["title"] = name
        out[f"{name}.json"] = schema
    return out


def write_schemas(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    current = schemas()
    for stale in dest.glob("*.json"):
        if stale.name not in current:
            stale.unlink()
    for fname, schema in current.items():
        path = dest / fname
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def write_typescript(schema_dir: Path, out_file: Path) -> None:
    subprocess.run(
        ["node", str(SHARED / "scripts" / "generate.mjs"), str(schema_dir), str(out_file)],
        check=True,
        cwd=SHARED,
    )


def _cmd(args) -> int:
    write_schemas(SHARED / "schema")
    write_typescript(SHARED / "schema", SHARED / "src" / "contract.ts")
    print(f"wrote {SHARED / 'schema'} and {SHARED / 'src' / 'contract.ts'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("types", help="write JSON Schema and TypeScript types to packages/shared-types")
    p.set_defaults(func=_cmd)
