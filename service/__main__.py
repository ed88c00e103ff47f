"""`python -m service`: serve the app with uvicorn on HOST:PORT."""

import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from service.decisions import DecisionStore
from service.decisions.store import HEAD_REVISION
from service.logs import log_config
from service.metrics import MULTIPROC_ENV
from service.settings import ServiceSettings


def migrate_decision_log(settings: ServiceSettings) -> None:
    """Bring the log's tables up to date once, before the workers start (each worker also
    checks at its start, and keeps trying while the database is away).

    A migration runs in a child process: Alembic and Mako, about 11 MiB once imported,
    then never enter the process that serves (with one worker, this one)."""
    target = settings.decision_log_target
    if target is None:
        return
    store = DecisionStore(target, settings.decision_log_timeout_seconds)
    try:
        if store.revision()[0] == HEAD_REVISION:
            return
    except Exception:  # the migration below says why
        pass
    finally:
        store.close()
    child = multiprocessing.get_context("spawn").Process(
        target=_migrate, args=(target, settings.decision_log_timeout_seconds)
    )
    child.start()
    child.join()


def _migrate(target: str, timeout_seconds: float) -> None:
    store = DecisionStore(target, timeout_seconds)
    try:
        store.migrate()
    except Exception as error:
        print(
            f"decision log {store.description} cannot be migrated yet "
            f"({type(error).__name__}); the workers will keep trying",
            file=sys.stderr,
        )
    finally:
        store.close()


def share_metrics_between_workers() -> None:
    """prometheus-client's multiprocess mode: the workers (started after this, with this
    environment) write their metrics to files in one directory, emptied now so no figure
    of an earlier run is added in; /metrics sums them."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="credit-default-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)


def read_settings() -> ServiceSettings:
    """The settings, or an exit that says which rule they broke (the start-up policy's
    included) without a traceback."""
    try:
        return ServiceSettings()
    except ValidationError as error:
        rules = "; ".join(
            problem["msg"].removeprefix("Value error, ")
            for problem in error.errors(include_input=False)
        )
        raise SystemExit(f"refusing to start: {rules}") from None


def main() -> None:
    settings = read_settings()
    migrate_decision_log(settings)
    if settings.workers > 1:
        share_metrics_between_workers()
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        workers=settings.workers,
        server_header=False,
        # uvicorn's, the service's and Alembic's loggers, one format, to stdout where
        # container platforms collect logs; the service writes its own access line.
        log_config=log_config(settings.log_level, settings.log_format),
        access_log=False,
    )


if __name__ == "__main__":
    main()
