"""Settings of the training command, read from the environment (or a .env file)."""

from pathlib import Path
from typing import Final

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent

# The data set sits beside the checkout in this workplace (../shared/data); anywhere else,
# point DATA_PATH at a copy of it.
DEFAULT_DATA_PATH: Final = PROJECT_ROOT.parent / "shared" / "data" / "UCI_Credit_Card.csv"


class TrainSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_path: Path = DEFAULT_DATA_PATH
    model_store_dir: Path = Path("models")
    seed: int = 42
