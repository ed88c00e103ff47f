"""`python -m service`: serve the app with uvicorn on HOST:PORT."""

import copy

import uvicorn
import uvicorn.config

from service.app import StartupRefusedError, check_access
from service.settings import ServiceSettings


def main() -> None:
    settings = ServiceSettings()
    try:
        check_access(settings, warn=False)  # each worker's app warns, once logging is set up
    except StartupRefusedError as error:
        raise SystemExit(f"refusing to start: {error}") from None
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
