"""The decision log's database: one class that migrates it, writes groups of decisions in
one transaction, and reads them back. SQLite (the default, a file) or PostgreSQL.

Writes go through the driver directly, in one statement per group: `executemany` into
SQLite, `COPY` into PostgreSQL. Reads, migrations and purges go through SQLAlchemy Core.
"""

import base64
import binascii
import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from schemas import FEATURE_NAMES
from schemas.api import OutcomeItem
from service.decisions.outcomes import (
    Applied,
    current_outcomes,
    outcome_history,
    record_outcomes,
)
from service.decisions.records import RECORD_COLUMNS, SHADOW_COLUMNS, DecisionBatch
from service.decisions.tables import decisions, heartbeat, outcomes, shadow_scores

MIGRATIONS: Final = Path(__file__).parent / "migrations"
# The newest migration in MIGRATIONS (a test holds it to Alembic's own reading of them).
HEAD_REVISION: Final = "0004"
# Any constant, the same in every worker: PostgreSQL serialises concurrent migrations on it.
_MIGRATION_LOCK: Final = 0x6372_6564_6974  # "credit"
_POSTGRES_TYPES: Final = {
    String: "text", Text: "text", Integer: "int4", Float: "float8",
    DateTime: "timestamptz", Boolean: "bool",
}  # fmt: skip


def _copy_types(table: Any, columns: Sequence[str]) -> list[str]:
    return [
        next(name for kind, name in _POSTGRES_TYPES.items() if isinstance(table.c[c].type, kind))
        for c in columns
    ]


_COPY_TYPES: Final = _copy_types(decisions, RECORD_COLUMNS)
_SHADOW_TYPES: Final = _copy_types(shadow_scores, SHADOW_COLUMNS)


# The SQLite writer connection's page cache, in KiB (see `DecisionStore.write`).
WRITER_CACHE_KIB: Final = 512


class DecisionStoreError(Exception):
    """The log's database refused or could not be reached."""


def database_url(target: str) -> URL:
    """SQLAlchemy's URL for a DECISION_LOG_URL: postgresql:// goes through psycopg 3."""
    url = make_url(target)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError("DECISION_LOG_URL must be sqlite:///PATH, postgresql://... or none")
    if url.get_backend_name() == "sqlite" and not url.database:
        raise ValueError("DECISION_LOG_URL sqlite:///PATH needs a file path")
    return url


def encode_cursor(record_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The record id a cursor continues after; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor returned by this API") from None
    prefix, _, number = raw.partition(":")
    if prefix != "after" or not number.isdigit():
        raise ValueError("not a cursor returned by this API")
    return int(number)


class DecisionStore:
    """The log's database, for one process. `write` is called from one thread at a time
    (the group-commit writer's); the readers may run in any thread."""

    def __init__(self, target: str, timeout_seconds: float) -> None:
        self.url = database_url(target)
        self.backend = self.url.get_backend_name()
        self.timeout_seconds = timeout_seconds
        self.engine = self._engine()
        # DBAPI connections kept for writes, one per commit under way; a connection that
        # failed is dropped, and the next write opens a new one.
        self._idle_writers: list[Any] = []
        self._writers_lock = threading.Lock()
        self._writer_name = f"{socket.gethostname()}:{os.getpid()}"[:64]

    @property
    def description(self) -> str:
        """The URL with its password hidden: safe for logs."""
        return self.url.render_as_string(hide_password=True)

    def _engine(self) -> Engine:
        if self.backend == "sqlite":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                self.url,
                connect_args={"timeout": self.timeout_seconds, "check_same_thread": False},
            )

            @event.listens_for(engine, "connect")
            def _durable(connection: Any, _: ConnectionPoolEntry) -> None:
                # WAL lets readers and the other workers' writers overlap; FULL syncs each
                # commit to disk, so a committed record survives a crash of the machine.
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.execute(f"PRAGMA busy_timeout={int(self.timeout_seconds * 1000)}")
                cursor.close()

            return engine
        timeout_ms = int(self.timeout_seconds * 1000)
        return create_engine(
            self.url,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": max(1, round(self.timeout_seconds)),
                "options": f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
                "application_name": "credit-default",
            },
        )

    # -- schema --------------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Bring the tables to `revision`, the newest by default (a no-op when they are
        there); an older one is for testing that a migration keeps every record.

        Alembic (with Mako, about 11 MiB resident once imported) is imported only when
        there is something to migrate: a worker whose tables are already at the head,
        as `python -m service` leaves them before starting workers, never holds it."""
        if revision in ("head", HEAD_REVISION) and self.revision()[0] == HEAD_REVISION:
            return
        from alembic import command  # here, not at the top: see the docstring
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if self.backend == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def revision(self) -> tuple[str | None, str]:
        """(the database's revision, None before any migration; the newest this code
        knows). Read with one query, without Alembic."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None, HEAD_REVISION
            current = connection.execute(text("SELECT version_num FROM alembic_version"))
            return current.scalar_one_or_none(), HEAD_REVISION

    # -- writes --------------------------------------------------------------------------------

    @property
    def concurrent_writes(self) -> int:
        """How many groups may be committing at once: SQLite takes one writer at a time;
        PostgreSQL commits two while a third forms, hiding most of a commit's wait."""
        return 1 if self.backend == "sqlite" else 2

    def write(self, batches: Sequence[DecisionBatch]) -> None:
        """Every record of these batches in one transaction, committed before returning.
        Safe to call from `concurrent_writes` threads at once."""
        connection = None
        try:
            with self._writers_lock:
                connection = self._idle_writers.pop() if self._idle_writers else None
            if connection is None:
                connection = self.engine.raw_connection()
                if self.backend == "sqlite":
                    # Appends touch a few pages at the right edge of each table and
                    # index: a small page cache serves them, where SQLite's default
                    # (2 MiB) would stay resident in every worker once filled.
                    connection.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
                if self.backend == "postgresql":
                    # One COPY is one statement, so in autocommit it is its own transaction,
                    # committed (and flushed, synchronous_commit) when the server answers:
                    # two round trips fewer than BEGIN ... COMMIT around it.
                    connection.driver_connection.autocommit = True
            cursor = connection.cursor()
            try:
                if self.backend == "sqlite":
                    rows = [
                        row
                        for batch in batches
                        for row in batch.rows(_sqlite_time(batch.decided_at))
                    ]
                    cursor.executemany(_insert("decisions", RECORD_COLUMNS), rows)
                    shadows = _shadow_rows(batches)
                    if shadows:
                        cursor.executemany(_insert("shadow_scores", SHADOW_COLUMNS), shadows)
                    connection.commit()
                else:
                    # With shadow scores, two COPYs: one transaction around both, so a
                    # decision is never on record without them.
                    together = (
                        connection.driver_connection.transaction()
                        if any(batch.has_shadows for batch in batches)
                        else contextlib.nullcontext()
                    )
                    with together:
                        _copy(
                            cursor,
                            "decisions",
                            RECORD_COLUMNS,
                            _COPY_TYPES,
                            (row for batch in batches for row in batch.rows(batch.decided_at)),
                        )
                        shadows = _shadow_rows(batches)
                        if shadows:
                            _copy(cursor, "shadow_scores", SHADOW_COLUMNS, _SHADOW_TYPES, shadows)
            finally:
                cursor.close()
        except Exception as error:
            if connection is not None:
                _discard(connection)
            raise DecisionStoreError(f"{type(error).__name__}: {error}") from error
        with self._writers_lock:
            self._idle_writers.append(connection)

    def probe(self) -> None:
        """A real committed write (the heartbeat row), after migrating if needed."""
        try:
            self.migrate()
            with self.engine.begin() as connection:
                connection.execute(delete(heartbeat).where(heartbeat.c.writer == self._writer_name))
                connection.execute(
                    insert(heartbeat).values(writer=self._writer_name, at=datetime.now(UTC))
                )
        except Exception as error:
            raise DecisionStoreError(f"{type(error).__name__}: {error}") from error

    def purge(self, older_than: datetime) -> int:
        """Delete records decided before `older_than`; returns how many decisions."""
        expired = decisions.c.decided_at < _bound(older_than)
        with self.engine.begin() as connection:
            # A decision's shadow scores and outcomes (corrections included) go with it, in
            # the same transaction: they are part of its record, and an outcome left
            # without its decision could never be read or compared again.
            for table in (shadow_scores, outcomes):
                connection.execute(
                    delete(table).where(
                        select(decisions.c.id)
                        .where(
                            (decisions.c.request_id == table.c.request_id)
                            & (decisions.c.position == table.c.position)
                            & expired
                        )
                        .exists()
                    )
                )
            result = connection.execute(delete(decisions).where(expired))
            return result.rowcount

    # -- reads ---------------------------------------------------------------------------------

    def by_request(self, request_id: str) -> list[dict[str, Any]]:
        """The request's records in order, each with its outcome and the outcomes that
        corrections replaced."""
        # In the request's order: a split request's arms are written as two batches.
        query = (
            select(decisions)
            .where(decisions.c.request_id == request_id)
            .order_by(decisions.c.position, decisions.c.id)
        )
        with self.engine.connect() as connection:
            records = [_record(row._mapping) for row in connection.execute(query)]
            history = outcome_history(connection, request_id) if records else {}
            shadows: dict[int, list[dict[str, Any]]] = {}
            if records:
                query = (
                    select(shadow_scores)
                    .where(shadow_scores.c.request_id == request_id)
                    .order_by(shadow_scores.c.id)
                )
                for row in connection.execute(query):
                    shadows.setdefault(row.position, []).append(_shadow(row._mapping))
        for record in records:
            record["shadows"] = shadows.get(record["position"], [])
            *earlier, current = history.get(record["position"], [None])
            record["outcome"] = current
            record["earlier_outcomes"] = earlier
        return records

    def record_outcomes(
        self, items: Sequence[OutcomeItem], key_id: str | None, all_or_nothing: bool = True
    ) -> Applied:
        """`service.decisions.outcomes.record_outcomes` in one transaction, committed unless
        it refused an item and `all_or_nothing` is set."""
        try:
            with self.engine.connect() as connection, connection.begin() as transaction:
                applied = record_outcomes(connection, self.backend, items, key_id, all_or_nothing)
                if all_or_nothing and applied.refused:
                    transaction.rollback()
                return applied
        except SQLAlchemyError as error:
            raise DecisionStoreError(f"{type(error).__name__}: {error}") from error

    def page(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        model_version: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to `limit` records in id order after `after_id`, and the id to continue
        after (None on the last page)."""
        query = select(decisions).where(decisions.c.id > after_id)
        if since is not None:
            query = query.where(decisions.c.decided_at >= _bound(since))
        if until is not None:
            query = query.where(decisions.c.decided_at < _bound(until))
        if model_version is not None:
            query = query.where(decisions.c.model_version == model_version)
        query = query.order_by(decisions.c.id).limit(limit + 1)
        with self.engine.connect() as connection:
            rows = [row._mapping for row in connection.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return [_record(row) for row in rows], (rows[-1]["id"] if more else None)

    def recent(self, model_version: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """The inputs (rows x 23, FEATURE_NAMES order) and probabilities of the latest
        `limit` decisions of one model version, for drift monitoring."""
        columns = [decisions.c[name] for name in FEATURE_NAMES]
        query = (
            select(*columns, decisions.c.probability)
            .where(decisions.c.model_version == model_version)
            .order_by(decisions.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        table = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES) + 1)
        return table[:, :-1], table[:, -1]

    def with_outcomes(
        self, model_version: str, since: datetime | None, until: datetime | None
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Every decision of one version in the window: the probability answered, the
        current outcome (1, 0, or NaN without one) and the month decided (YYYY-MM, UTC),
        in record order, for realized performance."""
        month = (
            func.substr(decisions.c.decided_at, 1, 7)
            if self.backend == "sqlite"
            else func.to_char(func.timezone("UTC", decisions.c.decided_at), "YYYY-MM")
        )
        query = (
            select(decisions.c.probability, outcomes.c.defaulted, month)
            .select_from(self._with_current_outcome(decisions))
            .where(decisions.c.model_version == model_version)
        )
        if since is not None:
            query = query.where(decisions.c.decided_at >= _bound(since))
        if until is not None:
            query = query.where(decisions.c.decided_at < _bound(until))
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(decisions.c.id)).all()
        probabilities = np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows))
        defaulted = np.fromiter(
            (np.nan if r[1] is None else float(r[1]) for r in rows),
            dtype=np.float64,
            count=len(rows),
        )
        return probabilities, defaulted, [r[2] for r in rows]

    def challenger_pairs(
        self, since: datetime | None, until: datetime | None
    ) -> list[tuple[Any, ...]]:
        """For every customer decided in the window, one row per other version that scored
        them: (champion version, other version, then the champion's probability, decision
        and points, the other's three, and the current outcome or None). The champion is
        the deciding version, or for a customer the challenger decided, the champion that
        scored them in shadow."""
        d = decisions
        other, champion = shadow_scores.alias("other"), shadow_scores.alias("champion")

        def beside(scores: Any, role: str) -> Any:
            return (
                (scores.c.request_id == d.c.request_id)
                & (scores.c.position == d.c.position)
                & (scores.c.role == role)
            )

        def scores(of: Any) -> list[Any]:
            return [of.c.probability, of.c.decision, of.c.score]

        # Each branch joins the decision to its current outcome itself: joining the union
        # afterwards leaves the database no index to use (measured: 30 s for 24,000 rows).
        decided = self._with_current_outcome(d)
        outcome = outcomes.c.defaulted
        by_champion = (
            select(d.c.model_version, other.c.model_version, *scores(d), *scores(other), outcome)
            .select_from(decided.join(other, beside(other, "shadow")))
            .where(or_(d.c.arm.is_(None), d.c.arm == "champion"))
        )
        by_challenger = (
            select(
                champion.c.model_version, d.c.model_version, *scores(champion), *scores(d),
                outcome,
            )
            .select_from(decided.join(champion, beside(champion, "champion")))
            .where(d.c.arm == "challenger")
        )  # fmt: skip
        beside_challenger = (
            select(
                champion.c.model_version, other.c.model_version, *scores(champion),
                *scores(other), outcome,
            )
            .select_from(
                decided.join(champion, beside(champion, "champion")).join(
                    other, beside(other, "shadow")
                )
            )
            .where(d.c.arm == "challenger")
        )  # fmt: skip
        window = []
        if since is not None:
            window.append(d.c.decided_at >= _bound(since))
        if until is not None:
            window.append(d.c.decided_at < _bound(until))
        query = union_all(
            *(query.where(*window) for query in (by_champion, by_challenger, beside_challenger))
        )
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    @staticmethod
    def _with_current_outcome(source: Any) -> Any:
        """`source` (rows with request_id and position) joined to each one's current
        outcome, its newest outcome row (NULL columns without one)."""
        latest = (
            select(outcomes.c.request_id, outcomes.c.position, func.max(outcomes.c.id).label("id"))
            .group_by(outcomes.c.request_id, outcomes.c.position)
            .subquery()
        )
        return source.outerjoin(
            latest,
            (latest.c.request_id == source.c.request_id) & (latest.c.position == source.c.position),
        ).outerjoin(outcomes, outcomes.c.id == latest.c.id)

    def iterate_with_outcomes(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """The records that have an outcome, each with `defaulted` and `observed_at` of
        its current one, in id order, a page at a time."""
        after_id = 0
        while True:
            records, next_id = self.page(**filters, limit=5000, after_id=after_id)
            keys = [(r["request_id"], r["position"]) for r in records]
            with self.engine.connect() as connection:
                current = current_outcomes(connection, keys)
            for record in records:
                found = current.get((record["request_id"], record["position"]))
                if found is not None:
                    yield {
                        **record,
                        "defaulted": bool(found.defaulted),
                        "observed_at": found.observed_at,
                    }
            if next_id is None:
                return
            after_id = next_id

    def iterate(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every record matching the filters, in id order, a page at a time."""
        after_id = 0
        while True:
            records, next_id = self.page(**filters, limit=5000, after_id=after_id)
            yield from records
            if next_id is None:
                return
            after_id = next_id

    def close(self) -> None:
        with self._writers_lock:
            idle, self._idle_writers = self._idle_writers, []
        for connection in idle:
            _discard(connection)
        self.engine.dispose()


def _insert(table: str, columns: Sequence[str]) -> str:
    placeholders = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"


def _shadow_rows(batches: Sequence[DecisionBatch]) -> list[tuple[Any, ...]]:
    """The batches' shadow rows; those still queued are scored now, in one run per
    shadow for the whole group."""
    return [row for batch in batches for row in batch.shadow_rows()]


def _copy(
    cursor: Any, table: str, columns: Sequence[str], types: list[str], rows: Iterable[Any]
) -> None:
    """Rows into `table` by one binary COPY, the types named up front: psycopg then
    formats each row in C, three times as fast as letting it guess per value."""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _discard(connection: Any) -> None:
    """Close a writer's connection for good (it failed, or the store is closing)."""
    with contextlib.suppress(Exception):  # already broken: nothing more to learn
        connection.invalidate()


def _sqlite_time(moment: datetime) -> str:
    """How SQLAlchemy stores a DateTime in SQLite (UTC, zoneless, microseconds), which its
    reads parse back; isoformat writes it several times faster than strftime."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _bound(moment: datetime) -> datetime:
    """A time to compare with `decided_at`: UTC (SQLite stores UTC without a zone)."""
    return moment.astimezone(UTC)


def _record(row: Any) -> dict[str, Any]:
    decided_at = row["decided_at"]
    if decided_at.tzinfo is None:  # SQLite gives back the UTC time it was given, zoneless
        decided_at = decided_at.replace(tzinfo=UTC)
    return {
        "id": row["id"],
        "request_id": row["request_id"],
        "position": row["position"],
        "decided_at": decided_at,
        "route": row["route"],
        "key_id": row["key_id"],
        "model_version": row["model_version"],
        "threshold": row["threshold"],
        "customer": {name: row[name] for name in FEATURE_NAMES},
        "probability": row["probability"],
        "default": bool(row["decision"]),
        "score": row["score"],
        "grade": row["grade"],
        "reasons": None if row["reasons"] is None else json.loads(row["reasons"]),
        "arm": row["arm"],
    }


def _shadow(row: Any) -> dict[str, Any]:
    return {
        "model_version": row["model_version"],
        "role": row["role"],
        "probability": row["probability"],
        "default": bool(row["decision"]),
        "score": row["score"],
        "grade": row["grade"],
        "reasons": None if row["reasons"] is None else json.loads(row["reasons"]),
    }
