"""Settings of the training command, read from the environment (or a .env file)."""

from pathlib import Path
from typing import Final

from pydantic import Field

from model_store.settings import StoreSettings

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent

# The data set sits beside the checkout in this workplace (../shared/data); anywhere else,
# point DATA_PATH at a copy of it.
DEFAULT_DATA_PATH: Final = PROJECT_ROOT.parent / "shared" / "data" / "UCI_Credit_Card.csv"


class TrainSettings(StoreSettings):
    """The store's settings (MODEL_STORE_DIR) plus the training data and seed."""

    data_path: Path = Field(
        DEFAULT_DATA_PATH,
        description="Training data file: the data set's CSV layout or the original .xls.",
    )
    seed: int = Field(42, description="Seed of the train/held-out split, the folds and the forest.")
