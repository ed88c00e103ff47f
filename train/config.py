"""The recorded hyperparameters: written by `python -m train --search`, read by every fit.

The file is committed, so the search's winner (and the table it was chosen from) is
reviewed like code and every plain training run is reproducible from the checkout.
"""

import json
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

CONFIG_PATH: Final = Path(__file__).with_name("hyperparameters.json")
CONFIG_VERSION: Final = 1


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config_version: int = CONFIG_VERSION
    chosen_by: str = Field(description="How these values were chosen.")
    searched_at: str | None = None
    data_sha256: str | None = None
    seed: int = 42
    cv_folds: int = 5
    forest: dict[str, Any]
    monotone_forest: dict[str, Any] | None = Field(
        default=None,
        description="The forest of a model monotone in delay (the default kind); `forest` "
        "when absent.",
    )
    feature_groups: list[str]
    search: dict[str, Any] = Field(default_factory=dict, description="The search's full table.")


def load_config(path: Path = CONFIG_PATH) -> TrainingConfig:
    return TrainingConfig.model_validate_json(path.read_text())


def save_config(config: TrainingConfig, path: Path = CONFIG_PATH) -> None:
    path.write_text(json.dumps(config.model_dump(), indent=2) + "\n")
