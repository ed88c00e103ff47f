"""The decision log's tables brought to the head once, before the workers start, in a
child process: Alembic and Mako, about 11 MiB once imported, never enter the process
that serves (with one worker, `python -m service` itself).

The child runs `_migrate`, which lives here, in an importable module, because a spawned
child finds its target by importing the module that defines it, and a package's
`__main__` (`python -m service`) is never re-imported there.
"""

import multiprocessing
import sys

from service.decisions.store import HEAD_REVISION, DecisionStore
from service.settings import ServiceSettings


def migrate_decision_log(settings: ServiceSettings) -> None:
    """Bring the log's tables up to date once (each worker also checks at its start, and
    keeps trying while the database is away); nothing when they are at the head."""
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
