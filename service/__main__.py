"""`python -m service`: serve the app with uvicorn on HOST:PORT."""

import os
import tempfile
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from service.decisions.startup_migration import migrate_decision_log
from service.logs import log_config
from service.metrics import MULTIPROC_ENV
from service.settings import ServiceSettings


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
