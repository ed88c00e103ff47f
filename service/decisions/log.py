"""The decision log as the service uses it: group commit in front of the store, its
health, its retention, and the problem a scoring request gets when it cannot be written.
With DECISION_LOG_URL=none the service gets `NoDecisionLog`, a null object behind the
same `DecisionLog` interface, so no caller asks whether there is a log.

Each process has one writer thread. A request hands its `DecisionBatch` over and waits;
the writer takes everything that arrived since its last commit, writes it in one
transaction and then releases every waiting request at once. Under load a commit carries
many requests, so a durable write costs each request some latency, not the service its
throughput. A request is answered only after its records are committed: when they cannot
be, it gets a 503, and no answer goes out without its record.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from fastapi.concurrency import run_in_threadpool

from service.decisions.records import DecisionBatch
from service.decisions.store import DecisionStore, DecisionStoreError
from service.errors import PROBLEM_PREFIX, ServiceError
from service.metrics import LOG_FAILURES, LOG_WRITE

log = logging.getLogger("service.decisions")

RETENTION_EVERY: Final = timedelta(hours=1)


class DecisionLogUnavailableError(ServiceError):
    status = 503
    type = PROBLEM_PREFIX + "decision-log-unavailable"
    title = "Decision log unavailable"
    description = (
        "The decision could not be recorded, so it is not given: nothing is answered "
        "without its record. Retry later."
    )
    retry_after = "1"


class DecisionLogDisabledError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "decision-log-disabled"
    title = "Decision log disabled"
    description = (
        "`/decisions` on a service running with DECISION_LOG_URL=none: no decision is recorded."
    )

    def __init__(self) -> None:
        super().__init__("This service records no decisions (DECISION_LOG_URL=none).")


class DecisionLog(Protocol):
    """What the service asks of its decision log, whether it records or not."""

    keeps_records: bool  # False for the null log: nothing given to it is kept

    @property
    def writing(self) -> bool:
        """True while records are waiting or being committed: the service is busy."""

    @property
    def unavailable_reason(self) -> str | None:
        """Why decisions cannot be recorded now (None when they can, or are not kept)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def record(self, *batches: DecisionBatch) -> None:
        """Return once every batch (one request's) is on record, in one transaction;
        DecisionLogUnavailableError otherwise."""

    def reader(self) -> DecisionStore:
        """The store to read records from; DecisionLogDisabledError when none are kept."""


class GroupCommitLog:
    """Group commit, health and retention over one `DecisionStore`, for one process."""

    keeps_records: Final = True

    def __init__(self, store: DecisionStore, retry_seconds: float, retention_days: int = 0) -> None:
        self.store = store
        self.retry_seconds = retry_seconds
        self.retention_days = retention_days
        self._executor = self._new_executor()
        self._pending: list[tuple[tuple[DecisionBatch, ...], asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._unavailable: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._committing = 0  # groups being written now

    @property
    def unavailable_reason(self) -> str | None:
        """Why decisions cannot be recorded now (None when they can)."""
        return self._unavailable

    @property
    def writing(self) -> bool:
        return self._committing > 0 or bool(self._pending)

    async def start(self) -> None:
        """Migrate and probe once; if that fails, keep trying in the background. (An app
        may be started again after a stop, as test clients do: everything starts afresh.)"""
        self._pending = []
        self._wakeup = asyncio.Event()
        self._unavailable = None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.store.probe)
        except DecisionStoreError as error:
            self._mark_unavailable(error)
        log.info("decision log: %s", self.store.description)
        self._tasks = [asyncio.create_task(self._write_groups())]
        self._tasks.append(asyncio.create_task(self._recover()))
        if self.retention_days > 0:
            self._tasks.append(asyncio.create_task(self._purge_hourly()))

    async def stop(self) -> None:
        """Write what is still pending, then stop the writer."""
        deadline = asyncio.get_running_loop().time() + self.store.timeout_seconds
        while self._pending and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.get_running_loop().run_in_executor(self._executor, self.store.close)
        self._executor.shutdown(wait=True)
        self._executor = self._new_executor()

    def reader(self) -> DecisionStore:
        return self.store

    def _new_executor(self) -> ThreadPoolExecutor:
        # One thread per commit that may be under way, and one for the probe and retention.
        return ThreadPoolExecutor(
            max_workers=self.store.concurrent_writes + 1, thread_name_prefix="decision-log"
        )

    async def record(self, *batches: DecisionBatch) -> None:
        """Return once the batches' records are committed; raise the 503 problem otherwise."""
        if self._unavailable is not None:
            raise DecisionLogUnavailableError(
                f"Decisions cannot be recorded now: {self._unavailable}."
            )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((batches, done))
        self._wakeup.set()
        await done

    async def _write_groups(self) -> None:
        """Take everything pending as one group whenever a commit slot is free."""
        slots = asyncio.Semaphore(self.store.concurrent_writes)
        commits: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                if not self._pending:
                    continue
                await slots.acquire()  # meanwhile, more requests join the group
                group, self._pending = self._pending, []
                self._committing += 1
                commit = asyncio.create_task(self._commit(group, slots))
                commits.add(commit)
                commit.add_done_callback(commits.discard)
        finally:
            for commit in commits:
                commit.cancel()

    async def _commit(
        self,
        group: list[tuple[tuple[DecisionBatch, ...], asyncio.Future[None]]],
        slots: asyncio.Semaphore,
    ) -> None:
        started = time.perf_counter()
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._executor,
                self.store.write,
                [batch for batches, _ in group for batch in batches],
            )
        except DecisionStoreError as error:
            LOG_FAILURES.inc()
            self._mark_unavailable(error)
            failure = DecisionLogUnavailableError(
                "The decision could not be recorded, so it is not given; retry later."
            )
            _settle(group, failure)
        else:
            LOG_WRITE.observe(time.perf_counter() - started)
            _settle(group, None)
        finally:
            self._committing -= 1
            slots.release()

    async def _recover(self) -> None:
        """While unavailable, probe the database every `retry_seconds` until it answers."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.retry_seconds)
            if self._unavailable is None:
                continue
            try:
                await loop.run_in_executor(self._executor, self.store.probe)
            except DecisionStoreError:
                continue
            log.warning("decision log available again: recording decisions")
            self._unavailable = None

    async def _purge_hourly(self) -> None:
        while True:
            cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
            try:
                deleted = await run_in_threadpool(self.store.purge, cutoff)
            except Exception as error:
                log.error("decision log retention failed: %s", type(error).__name__)
            else:
                if deleted:
                    log.info(
                        "decision log retention: deleted %d records before %s", deleted, cutoff
                    )
            await asyncio.sleep(RETENTION_EVERY.total_seconds())

    def _mark_unavailable(self, error: Exception) -> None:
        if self._unavailable is not None:
            return
        # The database's own message goes to the log; the health answer, which is public,
        # says only that writes fail and since when.
        log.error("decision log unavailable: %s", error)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        self._unavailable = f"decisions cannot be written (since {since})"


def _settle(
    group: Sequence[tuple[tuple[DecisionBatch, ...], asyncio.Future[None]]],
    error: Exception | None,
) -> None:
    for _, done in group:
        if done.done():  # the request went away (timeout, disconnect) while it waited
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


class NoDecisionLog:
    """DECISION_LOG_URL=none: nothing is recorded and lookups say so."""

    unavailable_reason: Final = None
    keeps_records: Final = False
    writing: Final = False

    async def start(self) -> None:
        log.warning("DECISION_LOG_URL=none: decisions are not recorded")

    async def stop(self) -> None:
        return None

    async def record(self, *batches: DecisionBatch) -> None:
        return None

    def reader(self) -> DecisionStore:
        raise DecisionLogDisabledError
