"""Contract: pydantic models are the single source of truth for every HTTP body."""

from .align import Caption, TranscribeAudioRequest, TranscribeAudioResult
from .diagnostic import DiagnosticRequest, DiagnosticResult
from .images import GenerateImagesRequest, GenerateImagesResult
from .jobs import (
    KINDS,
    ArtifactRef,
    Cost,
    Envelope,
    ErrorBody,
    Health,
    Job,
    JobCreate,
    JobError,
    JobStatus,
    Kind,
    KindCapacity,
    Progress,
    WarmLease,
    WarmRequest,
)
from .render import RenderVideoRequest, RenderVideoResult, Timeline

REQUEST_MODELS = {
    "generate_images": GenerateImagesRequest,
    "transcribe_audio": TranscribeAudioRequest,
    "render_video": RenderVideoRequest,
    "diagnostic": DiagnosticRequest,
}
RESULT_MODELS = {
    "generate_images": GenerateImagesResult,
    "transcribe_audio": TranscribeAudioResult,
    "render_video": RenderVideoResult,
    "diagnostic": DiagnosticResult,
}

__all__ = [
    "KINDS", "REQUEST_MODELS", "RESULT_MODELS", "ArtifactRef", "Caption", "Cost", "DiagnosticRequest",
    "DiagnosticResult", "Envelope", "ErrorBody", "GenerateImagesRequest", "GenerateImagesResult", "Health",
    "Job", "JobCreate", "JobError", "JobStatus", "Kind", "KindCapacity", "Progress", "RenderVideoRequest",
    "RenderVideoResult", "Timeline", "TranscribeAudioRequest", "TranscribeAudioResult", "WarmLease", "WarmRequest",
]
