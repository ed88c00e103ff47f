"""`python -m service`: serve the app with uvicorn on HOST:PORT."""

import copy
import sys

import uvicorn
import uvicorn.config

from service.app import StartupRefusedError, check_access
from service.decisions import DecisionStore
from service.settings import ServiceSettings


def migrate_decision_log(settings: ServiceSettings) -> None:
    """Bring the log's tables up to date once, before the workers start (each worker also
    checks at its start, and keeps trying while the database is away)."""
    target = settings.decision_log_target
    if target is None:
        return
    store = DecisionStore(target, settings.decision_log_timeout_seconds)
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


def main() -> None:
    settings = ServiceSettings()
    try:
        check_access(settings, warn=False)  # each worker's app warns, once logging is set up
    except StartupRefusedError as error:
        raise SystemExit(f"refusing to start: {error}") from None
    migrate_decision_log(settings)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    # The service's own loggers (model loading, refused models, errors) print like uvicorn's.
    log_config["loggers"]["service"] = {
        "handlers": ["default"],
        "level": settings.log_level.upper(),
    }
    # Everything to stdout, where container platforms collect logs.
    log_config["handlers"]["default"]["stream"] = "ext://sys.stdout"
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        workers=settings.workers,
        server_header=False,
        log_config=log_config,
    )


if __name__ == "__main__":
    main()
