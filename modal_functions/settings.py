"""Runtime settings from the environment (12-factor). Read through `get_settings()`.

Everything has a safe local default, so `canvascast serve` works with no credentials.
Numbers are bounded here, so a typo (a negative retention, a NaN wait or timeout, a body
limit of -1) stops the start with `error [config]` naming the setting, instead of
misbehaving later.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    env: Literal["local", "production"] = Field(default="local", alias="CANVASCAST_ENV")
    backend: Literal["inhouse", "modal"] = Field(default="inhouse", alias="COMPUTE_BACKEND")
    host: str = Field(default="127.0.0.1", alias="COMPUTE_HOST")
    port: int = Field(default=8000, ge=1, le=65535, alias="COMPUTE_PORT")  # 70000 was an OverflowError at bind
    token: str | None = Field(default=None, alias="COMPUTE_TOKEN")
    public_url: str | None = Field(default=None, alias="COMPUTE_PUBLIC_URL", description="Base for signed URLs; default http://host:port")
    data_dir: Path = Field(default=Path(".canvascast"), alias="CANVASCAST_DATA_DIR")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, alias="COMPUTE_MAX_BODY_BYTES")
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1, alias="COMPUTE_MAX_UPLOAD_BYTES")
    sync_wait_s: float = Field(default=120.0, ge=0, le=3600, allow_inf_nan=False, alias="COMPUTE_SYNC_WAIT_S")

    # Artifact store
    store: Literal["local", "supabase"] = Field(default="local", alias="ARTIFACT_STORE")
    signing_secret: str | None = Field(default=None, alias="ARTIFACT_SIGNING_SECRET")
    retention_days: float = Field(default=7.0, ge=0, le=36500, allow_inf_nan=False, alias="ARTIFACT_RETENTION_DAYS")
    supabase_url: str | None = Field(default=None, alias="SUPABASE_URL")
    supabase_key: str | None = Field(default=None, alias="SUPABASE_SERVICE_ROLE_KEY")
    supabase_bucket: str = Field(default="artifacts", alias="SUPABASE_ARTIFACT_BUCKET")
    supabase_renders_bucket: str = Field(default="renders", alias="SUPABASE_RENDERS_BUCKET")

    # Safe fetch
    fetch_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1, alias="FETCH_MAX_BYTES")
    fetch_timeout_s: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False, alias="FETCH_TIMEOUT_S")

    # Images
    gemini_api_key: str | None = Field(default=None, alias="GEMINI_API_KEY")
    image_model: str = Field(default="gemini-2.5-flash-image", alias="IMAGE_MODEL")
    image_api_base_url: str | None = Field(default=None, alias="IMAGE_API_BASE_URL")
    image_fallback: Literal["placeholder", "fail"] | None = Field(default=None, alias="IMAGE_FALLBACK")
    image_vertex: bool = Field(default=False, alias="IMAGE_VERTEX")
    image_concurrency: int = Field(default=4, ge=1, le=64, alias="IMAGE_CONCURRENCY", description="Upstream calls in flight per process.")
    image_timeout_s: float = Field(default=60.0, gt=0, le=3600, allow_inf_nan=False, alias="IMAGE_TIMEOUT_S", description="Per upstream call.")
    image_max_attempts: int = Field(default=4, ge=1, le=10, alias="IMAGE_MAX_ATTEMPTS")

    @field_validator("data_dir", mode="before")
    @classmethod
    def _empty_data_dir_is_unset(cls, value):
        # `CANVASCAST_DATA_DIR=` would be Path("") = the working directory: jobs.sqlite3 and
        # the store scattered wherever the command ran. Empty means unset, as in a shell.
        return Path(".canvascast") if value == "" else value

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
