"""Where the model store is and which version serves: the one definition of both
defaults, read by the service, the training command, the store's CLI and the file scorer."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_store.store import DEFAULT_ALIAS


class StoreSettings(BaseSettings):
    """Read from environment variables (or a .env file in the working directory)."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", protected_namespaces=(), hide_input_in_errors=True
    )

    model_store_dir: Path = Field(
        Path("models"),
        description="Directory of the model store (git-ignored); read by the service, training, "
        "the store's CLI and the portfolio scorer.",
    )
    model_version: str = Field(
        DEFAULT_ALIAS, description="Version id or alias served (or scored) when none is named."
    )
    promotion_requires_approval: bool = Field(
        False,
        description="Four eyes: a promotion is refused unless someone other than the promoter "
        "approved that version for that alias first (python -m model_store approve). "
        "Rollbacks need no approval; every move is recorded in the store's promotion history "
        "either way.",
    )
