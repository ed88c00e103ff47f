"""Service settings, read from environment variables (or a .env file) once at start-up."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Every field is documented in the README's settings table; keep the two in step."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", protected_namespaces=())

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    model_store_dir: Path = Field(Path("models"), description="Directory of the model store.")
    model_version: str = Field(
        "production", description="Version id or alias served when a request names none."
    )
    model_cache_size: int = Field(
        3, ge=1, le=32, description="Other versions kept loaded for requests with ?version=."
    )
    workers: int = Field(
        1, ge=1, le=64, description="Server processes; one per core uses every core."
    )
    scoring_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="onnxruntime threads per process for a request (0: one per core).",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
