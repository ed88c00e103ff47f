"""Models for the tests: a small one trained in process on synthetic rows (what the fast
selection runs on, with no data set), the quick model on the real data (`python -m train`
in a child process, for the slow tests), both cached between runs; and store builders for
the tests of the store itself and of versions that predate reason codes."""

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from model_store import ModelStore
from model_store.manifest import (
    DataProvenance,
    ModelManifest,
)
from schemas import FEATURE_NAMES, CustomerFeatures
from schemas.features import DATASET_COLUMNS
from tests.support import PROJECT_ROOT
from tests.support.data import INT_FIELDS, as_bodies
from train.config import load_config
from train.data import TARGET_COLUMNS, Dataset
from train.training import TrainOptions, train_and_save

# -- cached stores ---------------------------------------------------------------------------

STORES_DIR: Final = PROJECT_ROOT / "test-output" / "stores"


def training_digest() -> "hashlib._Hash":
    """A digest over everything in the checkout that decides what training produces: its
    code, the contract, the store, the recorded hyperparameters and the locked libraries.
    Each cached store adds what it is trained on."""
    sources = sorted(
        path
        for folder in ("train", "schemas", "model_store")
        for path in (PROJECT_ROOT / folder).rglob("*")
        if path.suffix in (".py", ".json", ".c")
    )
    digest = hashlib.sha256()
    for path in [*sources, PROJECT_ROOT / "requirements" / "runtime.txt"]:
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest


def cached_store(name: str, build: Callable[[Path], object]) -> Path:
    """The store test-output/stores/`name`, built by `build(directory)` the first time.

    Built in a staging directory and renamed into place, so an interrupted run leaves no
    half store that a later run would take for a finished one. Tests only read it.
    """
    store = STORES_DIR / name
    if not (store / "aliases" / "production.json").is_file():
        staging = store.with_name(f".{store.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        build(staging)
        shutil.rmtree(store, ignore_errors=True)
        staging.rename(store)
    return store


# -- synthetic data --------------------------------------------------------------------------

# What the fast selection trains on. Part of the synthetic store's cache key, with this
# file's own source (the generator below).
SYNTHETIC_ROWS: Final = 3_000
SYNTHETIC_SEED: Final = 0
# The recorded hyperparameters, unchanged: --quick already makes the forest small.
SYNTHETIC_CONFIG_UPDATE: Final[dict[str, Any]] = {}

# Cuts of a standard normal into repayment statuses -2..9: about 10% no consumption, 18%
# paid in full, 50% revolving and 22% late (as in the data set), fewer the later the month.
_STATUS_CUTS: Final = np.array(
    [-1.2816, -0.5828, 0.7722, 1.1750, 1.8808, 2.1701, 2.4089, 2.5758, 2.7478, 2.8782, 3.0902]
)
_TARGET: Final = TARGET_COLUMNS[0]


def _draw(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`rows` customers inside the contract, columns in FEATURE_NAMES order, and labels.

    One latent risk per customer drives the six repayment statuses (correlated month to
    month, as real ones are) and how much of the limit is in use; payments follow the
    status (in full, a minimum, little or nothing when late). The label depends on the
    delays, most on the latest month's, and on utilisation, so a forest has something to
    learn and risky and safe customers end up on either side of its threshold.
    """
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=rows)
    limit = np.clip(np.round(rng.lognormal(np.log(140_000), 0.75, rows) / 10_000), 1, 100) * 1e4
    sex = rng.choice([1, 2], rows, p=[0.4, 0.6])
    education = rng.choice(7, rows, p=[0.002, 0.35, 0.467, 0.16, 0.006, 0.01, 0.005])
    marriage = rng.choice(4, rows, p=[0.005, 0.45, 0.53, 0.015])
    age = np.clip(np.round(21 + rng.gamma(3.0, 5.5, rows)), 21, 79)
    # months most recent first: pay_0, pay_2..pay_6 and bill/pay_amt1..6
    status = np.digitize(0.8 * risk[:, None] + 0.6 * rng.normal(size=(rows, 6)), _STATUS_CUTS) - 2
    utilisation = 1 / (1 + np.exp(-(0.8 * risk + rng.normal(size=rows) - 0.7)))
    bills = np.round(limit[:, None] * utilisation[:, None] * rng.lognormal(0, 0.15, (rows, 6)))
    bills[status == -2] = 0.0  # no consumption, nothing billed
    in_credit = rng.uniform(size=(rows, 6)) < 0.03
    bills[in_credit] = -np.round(rng.uniform(1, 2_000, int(in_credit.sum())))
    # September's payment settles August's bill, and so on (April's: its own).
    settled = np.maximum(np.concatenate([bills[:, 1:], bills[:, -1:]], axis=1), 0)
    share = np.select(
        [status == -1, status == 0, status > 0],
        [
            np.ones((rows, 6)),
            rng.uniform(0.03, 0.3, (rows, 6)),
            rng.uniform(0, 0.1, (rows, 6)) * (rng.uniform(size=(rows, 6)) < 0.4),
        ],
        default=0.0,
    )
    payments = np.round(settled * share)
    late = np.maximum(status, 0)
    logit = (
        -2.2
        + 1.0 * late[:, 0]
        + 0.3 * late[:, 1:].sum(axis=1)
        + 1.5 * (utilisation - 0.35)
        - 0.4 * (status[:, 0] == -1)
    )
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    X = np.column_stack([limit, sex, education, marriage, age, status, bills, payments])
    return X.astype(np.float64), y


def _features(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=list(FEATURE_NAMES))


def synthetic_dataset(rows: int = SYNTHETIC_ROWS, seed: int = SYNTHETIC_SEED) -> Dataset:
    """The synthetic rows as training reads a data set: every row checked against the
    contract (the generator must stay inside it), with provenance that says what they are."""
    X, y = _draw(rows, seed)
    for body in as_bodies(_features(X)):
        CustomerFeatures.model_validate(body)
    digest = hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()
    provenance = DataProvenance(
        file_name=f"synthetic: tests/support/models.py, {rows} rows, seed {seed} (no file)",
        sha256=digest,
        rows=rows,
        rows_used=rows,
        rows_rejected=0,
        rejected_reasons={},
    )
    return Dataset(X=X, y=y, provenance=provenance)


def synthetic_customers(count: int, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """`count` fresh synthetic customers, drawn as the synthetic store's training rows
    were, as a matrix and as API bodies (the synthetic counterpart of customers_from_data)."""
    X, _ = _draw(count, seed)
    return X, as_bodies(_features(X))


def synthetic_frame(rows: int = SYNTHETIC_ROWS, seed: int = SYNTHETIC_SEED) -> pd.DataFrame:
    """The synthetic rows in the data set's CSV layout and types: ID, the upper-case
    columns (amounts as floats, codes as integers) and the target."""
    X, y = _draw(rows, seed)
    frame = _features(X).rename(columns={v: k for k, v in DATASET_COLUMNS.items()})
    frame = frame.astype({k: np.int64 for k, v in DATASET_COLUMNS.items() if v in INT_FIELDS})
    frame.insert(0, "ID", np.arange(1, rows + 1))
    frame[_TARGET] = y
    return frame


def train_synthetic(store_dir: Path, dataset: Dataset) -> ModelManifest:
    """The quick model on `dataset`, in this process, through the same path as
    `python -m train --quick`: fit, ONNX, explainer, report, store; promoted to production."""
    config = load_config().model_copy(update=SYNTHETIC_CONFIG_UPDATE)
    options = TrainOptions(seed=SYNTHETIC_SEED, quick=True)
    return train_and_save(dataset, config, options, store_dir, promote_to="production")


def synthetic_store() -> Path:
    """The synthetic model's store, trained the first time and kept under
    test-output/stores/ by a key over training's code and this generator."""
    digest = training_digest()
    digest.update(Path(__file__).read_bytes())
    digest.update(repr((SYNTHETIC_ROWS, SYNTHETIC_SEED, SYNTHETIC_CONFIG_UPDATE)).encode())
    return cached_store(
        f"synthetic-{digest.hexdigest()[:16]}",
        lambda directory: train_synthetic(directory, synthetic_dataset()),
    )


def challenger_store() -> Path:
    """The synthetic store plus a second version, trained the same way on other synthetic
    rows with another seed and aliased `challenger`: a champion and a challenger that
    disagree about some customers, for the shadow and split tests."""
    champion = synthetic_store()
    digest = hashlib.sha256(champion.name.encode())
    digest.update(b"challenger: seed + 1")

    def build(directory: Path) -> None:
        shutil.copytree(champion, directory)
        config = load_config().model_copy(update=SYNTHETIC_CONFIG_UPDATE)
        options = TrainOptions(seed=SYNTHETIC_SEED + 1, quick=True)
        dataset = synthetic_dataset(seed=SYNTHETIC_SEED + 1)
        train_and_save(dataset, config, options, directory, promote_to="challenger")

    return cached_store(f"challenger-{digest.hexdigest()[:16]}", build)


# -- training runs on the real data ----------------------------------------------------------


def run_train(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m train` in a child process, exactly as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "train", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def train_small(store: Path, data_path: Path, *extra: str) -> None:
    """A quick model on 2,000 rows of the real data: enough for a second version in a store."""
    result = run_train(
        "--quick", "--sample-rows", "2000", "--data", str(data_path), "--store", str(store), *extra
    )
    assert result.returncode == 0, result.stderr


# -- store builders --------------------------------------------------------------------------


def store_without_reasons(source: Path, target: Path) -> ModelStore:
    """A store whose production version is the source's compiled model with no explainer,
    report, drift reference or ORT format: a version trained before reason codes."""
    store = ModelStore(source)
    manifest = store.get("production")
    compiled = manifest.compiled.model_copy(update={"ort": None})
    old = manifest.model_copy(
        update={"compiled": compiled, "explainer": None, "report": None, "drift_reference": None}
    )
    onnx = store.read_artifact(manifest, manifest.compiled.file)
    artifacts = {"model.joblib": b"unused", "model.onnx": onnx}

    def build(version: str, checksums: dict[str, str]) -> ModelManifest:
        update = {"version": version, "model_sha256": checksums["model.joblib"]}
        return old.model_copy(update=update)

    copy = ModelStore(target)
    copy.promote(copy.save(artifacts, build).version, by="tests", reason="a store without reasons")
    return copy
