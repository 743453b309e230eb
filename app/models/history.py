"""The run history: runs and the tree of their test records.

Written by the ``history`` report handler (over the API, or straight into the
embedded database) and read by ``--delta`` and the server's run pages.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .accounts import User
from .base import db, utcnow


class HistoryRun(db.Model):
    """One run of tests: who ran it where, when, how it went, its settings.

    ``status`` is ``running`` until the run is finished, then ``passed`` or
    ``failed`` (from its tests), ``interrupted`` (its client said so), or
    ``aborted`` (its client said so, or went silent past ``lease_until``);
    ``counts`` (tests per outcome) is kept up to date as records arrive, so
    the runs list needs no aggregate query.

    ``uid`` is chosen by the client, so a start sent again (after a lost
    answer, or from the client's journal) finds its run instead of making a
    second one. ``base`` is the run a ``--delta`` run started from: what it
    did not run again counts as it ended there.
    """

    __tablename__ = "history_run"
    RUNNING, PASSED, FAILED = "running", "passed", "failed"
    INTERRUPTED, ABORTED = "interrupted", "aborted"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    #: The account that recorded it (the API token's, or the local user).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True, default=None)
    host: Mapped[str] = mapped_column(String(255), default="")
    start: Mapped[datetime] = mapped_column(default=utcnow)
    end: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default=RUNNING)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    run_dir: Mapped[str] = mapped_column(Text, default="")
    artifact_path: Mapped[str | None] = mapped_column(Text, default=None)
    uid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    base_id: Mapped[int | None] = mapped_column(
        ForeignKey("history_run.id", ondelete="SET NULL"), default=None)
    #: How many tests the run meant to run (None: not said).
    planned: Mapped[int | None] = mapped_column(default=None)
    #: A running run not heard from by then is ended as aborted (None once
    #: it ended: only running runs are in the index the sweep reads).
    lease_until: Mapped[datetime | None] = mapped_column(default=None, index=True)
    #: The lease each start, batch of records or heartbeat renews.
    lease_seconds: Mapped[int | None] = mapped_column(default=None)
    #: ``--run-id``: the id (a CI's build tag) that the shards of one run
    #: share, or None; ``shard`` of ``shards`` is this run's ``--shard K/N``.
    run_group: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    shard: Mapped[int | None] = mapped_column(default=None)
    shards: Mapped[int | None] = mapped_column(default=None)
    user: Mapped[User | None] = relationship()

    # Runs by name, newest first: the runs list and --delta's lookup.
    __table_args__ = (Index("ix_history_run_name_start", "name", "start"),)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()

    def __str__(self) -> str:
        return f"run {self.id} ({self.name})"


class HistoryRecord(db.Model):
    """One node of a run's tree: a suite, flow, case, block, or an error
    outside any test. ``path`` (names from the run down, joined with ``/``)
    identifies a test across runs of the same tests; it is unique in a run."""

    __tablename__ = "history_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("history_run.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("history_record.id", ondelete="CASCADE"), index=True, default=None)
    path: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    classname: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    start: Mapped[datetime | None] = mapped_column(default=None)
    end: Mapped[datetime | None] = mapped_column(default=None)
    duration: Mapped[float | None] = mapped_column(default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    resources: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: [outcome, text] of each failure, error or skip (texts capped).
    details: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    infos: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Earlier attempts in the same run (--delta): outcome, details, duration.
    reruns: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    signatures: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    #: The end of the test's log (capped).
    log: Mapped[str] = mapped_column(Text, default="")
    #: The end of what the test printed to stdout and stderr (capped).
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    #: Seconds the test (or flow) waited for its resources' locks and spent
    #: setting them up; None when it locked nothing.
    lock_wait: Mapped[float | None] = mapped_column(default=None)
    setup_time: Mapped[float | None] = mapped_column(default=None)
    run: Mapped[HistoryRun] = relationship()

    __table_args__ = (Index("ix_history_record_run_id_id", "run_id", "id"),)

    def __str__(self) -> str:
        return f"{self.path} ({self.outcome})"


class HistoryShardPlan(db.Model):
    """How the shards of one run (``--run-id``) split its tests: stored by the
    first shard to start, read by the others, so that a history that changes
    in between (a shard that finished) cannot make two shards split apart.

    ``fingerprint`` names the tests that were split (every shard must have
    the same); ``plan`` holds what the split was made from: the expected
    seconds of each test and, for a ``--delta`` run, the run it starts from.
    """

    __tablename__ = "history_shard_plan"

    run_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    shards: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(64))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None)

    def __str__(self) -> str:
        return f"shard plan of {self.run_group} ({self.shards} shards)"
