"""The decision log's tables, as SQLAlchemy Core metadata: what the queries are written
against. The migrations under `migrations/versions` create and change them, and
tests/test_decision_log.py checks that the two never disagree."""

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from schemas import FEATURE_NAMES, CustomerFeatures

metadata = MetaData()

# The contract's integer fields (codes and counts) stay integers on record; amounts are
# doubles, as the API reads them.
INTEGER_INPUTS: Final = frozenset(
    name for name in FEATURE_NAMES if CustomerFeatures.model_fields[name].annotation is int
)

decisions = Table(
    "decisions",
    metadata,
    # BIGINT in PostgreSQL; SQLite's INTEGER PRIMARY KEY is its 64-bit rowid.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("request_id", String(128), nullable=False),
    Column("position", Integer, nullable=False),  # the customer's index in its request
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("route", String(32), nullable=False),
    Column("key_id", String(64), nullable=True),  # None when the service runs without keys
    Column("model_version", String(64), nullable=False),
    Column("threshold", Float(53), nullable=False),
    *(
        Column(name, Integer if name in INTEGER_INPUTS else Float(53), nullable=False)
        for name in FEATURE_NAMES
    ),
    Column("probability", Float(53), nullable=False),
    Column("decision", Boolean(create_constraint=False), nullable=False),  # True: default
    Column("score", Integer, nullable=True),  # NULL for records made before score points
    Column("grade", Integer, nullable=True),  # NULL before grades, or without a scale
    Column("reasons", Text, nullable=True),  # JSON list of codes; NULL when not computed
    # With a live split, who decided: champion or challenger; NULL without a split.
    Column("arm", String(16), nullable=True),
    Index("ix_decisions_request_id", "request_id"),
    Index("ix_decisions_customer", "request_id", "position"),
    Index("ix_decisions_decided_at", "decided_at"),
    Index("ix_decisions_model_version", "model_version"),
)

# What happened after a decision: whether the customer defaulted. Append-only: a
# correction is a new row, and the row it replaces stays, its replacement time being the
# correction's `recorded_at`. A decision's outcome is its newest row.
outcomes = Table(
    "outcomes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("request_id", String(128), nullable=False),
    Column("position", Integer, nullable=False),
    Column("defaulted", Boolean(create_constraint=False), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("correction", Boolean(create_constraint=False), nullable=False),
    Column("key_id", String(64), nullable=True),  # who sent it; None without keys
    Index("ix_outcomes_decision", "request_id", "position"),
)

# How every other version scored a decided customer, in the same transaction as the
# decision: the shadow versions (role `shadow`) and, for a customer the challenger
# decided, the champion (role `champion`). Never answered; compared by
# GET /monitoring/challengers.
shadow_scores = Table(
    "shadow_scores",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("request_id", String(128), nullable=False),
    Column("position", Integer, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("probability", Float(53), nullable=False),
    Column("decision", Boolean(create_constraint=False), nullable=False),
    Column("score", Integer, nullable=True),
    Column("grade", Integer, nullable=True),  # NULL for a version without a master scale
    Column("reasons", Text, nullable=True),  # JSON list of codes; NULL when not computed
    Index("ix_shadow_scores_decision", "request_id", "position"),
)

# One row, rewritten by each worker's health probe: a real committed write, so "the log
# works again" means the same as for a decision.
heartbeat = Table(
    "decision_log_heartbeat",
    metadata,
    Column("writer", String(64), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
