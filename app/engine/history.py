"""The run history's operations: plain SQLAlchemy, for both doors.

The JSON API (:mod:`rotest_app.api.history`) and the embedded client
(:mod:`rotest_core.store`) call these with a ``Session`` and the acting
:class:`~rotest_app.models.User`; each returns JSON-ready dicts and raises the
engine's errors (:class:`~rotest_app.engine.InvalidRequest`, ...) on bad input.

A run is started, gets its records in batches as its top-level tests end (a
record sent again, by its ``path``, replaces the stored one: a ``--delta``
re-run), and is finished with its end time and artifact.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from .errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from .serialize import timestamp
from ..models import HistoryRecord, HistoryRun, HistoryShardPlan, User, as_utc, utcnow
from .outcomes import OUTCOMES, PASSING
from .settings import RUN_GROUP

__all__ = ["OUTCOMES", "PASSING", "add_records", "check_run_group", "claim_shard_plan",
           "end_expired_runs", "finish_run", "get_run", "get_run_group", "group_results",
           "list_run_entries", "list_runs", "latest_results", "open_run", "past_durations",
           "path_key", "recent_durations", "record_dict", "run_dict", "shard_plan_dict",
           "start_run"]

KINDS = ("suite", "flow", "case", "block", "error")
LEAF_KINDS = ("case", "block", "error")
#: Longest text kept per traceback, log and other long field; names and paths.
TEXT_LIMIT = 64 * 1024
NAME_LIMIT = 2000
MAX_PAGE = 500
#: Most runs followed down a chain of --delta bases.
MAX_CHAIN = 100
#: A run's lease when its client asks for none (the server's default is the
#: run_lease_seconds setting), and the leases a client may ask for.
DEFAULT_LEASE = 900
LEASE_RANGE = (10, 86400)
#: What a client may say of how its run ended; else the tests decide.
CLIENT_STATUSES = (HistoryRun.INTERRUPTED, HistoryRun.ABORTED)
UID = re.compile(r"[A-Za-z0-9_-]{8,64}")
FINGERPRINT = re.compile(r"[0-9a-f]{64}")
#: Most shards one run may have.
MAX_SHARDS = 10000


# --------------------------------------------------------------------------
# Writing a run

def start_run(db: Session, user: User, *, name: str, host: str = "",
              start: str | None = None, settings: Mapping[str, Any] | None = None,
              environment: Mapping[str, Any] | None = None, run_dir: str = "",
              base: int | None = None, uid: str | None = None,
              planned: int | None = None, lease: int | None = None,
              default_lease: int = DEFAULT_LEASE, run_group: str | None = None,
              shard: int | None = None, shards: int | None = None) -> dict[str, Any]:
    """Record that a run began; returns the run (its ``id`` names it later).

    ``base`` is the run a ``--delta`` run starts from (of the same name).
    ``uid`` is the client's own id for the run: a start sent again with it
    returns the stored run unchanged. ``planned`` is how many tests the run
    means to run; ``lease`` how many seconds the run may stay silent (no
    records, no heartbeat) before the server ends it as aborted.
    ``run_group`` is the ``--run-id`` the shards of one run share, and the
    run is shard ``shard`` of ``shards`` (``--shard K/N``).
    """
    return open_run(db, user, name=name, host=host, start=start, settings=settings,
                    environment=environment, run_dir=run_dir, base=base, uid=uid,
                    planned=planned, lease=lease, default_lease=default_lease,
                    run_group=run_group, shard=shard, shards=shards)[0]


def open_run(db: Session, user: User, *, name: str, uid: str | None = None,
             base: int | None = None, planned: int | None = None,
             lease: int | None = None, default_lease: int = DEFAULT_LEASE,
             run_group: str | None = None, shard: int | None = None,
             shards: int | None = None, **fields: Any) -> tuple[dict[str, Any], bool]:
    """:func:`start_run`, and whether the run is new (False: a start sent
    again, found by its ``uid``). Raises :class:`Conflict` for a ``uid``
    another user's run holds."""
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidRequest("'name' must be the run's name: 1 to 255 characters",
                             field="name")
    _check_uid(uid)
    _check_int(planned, "planned", 0, 2**31 - 1, "how many tests the run means to run")
    _check_int(lease, "lease", *LEASE_RANGE, "the run's lease in seconds")
    _check_shard(run_group, shard, shards)
    if uid is not None:
        found = _run_of_uid(db, user, uid)
        if found is not None:
            return run_dict(found), False
    _begin_write(db)
    lease = lease or default_lease
    run = HistoryRun(name=_text(name, 255), user_id=user.id,
                     host=_text(fields.get("host"), 255),
                     start=_time(fields.get("start"), "start") or utcnow(),
                     settings=_string_map(fields.get("settings"), "settings"),
                     environment=_string_map(fields.get("environment"), "environment"),
                     run_dir=_text(fields.get("run_dir"), NAME_LIMIT),
                     counts=dict.fromkeys(OUTCOMES, 0), base_id=_base(db, base, name),
                     uid=uid, planned=planned, lease_seconds=lease,
                     lease_until=utcnow() + timedelta(seconds=lease),
                     run_group=run_group, shard=shard, shards=shards)
    db.add(run)
    try:
        db.commit()
    except IntegrityError:  # the same uid, started at the same moment elsewhere
        db.rollback()
        found = _run_of_uid(db, user, uid) if uid is not None else None
        if found is None:
            raise
        return run_dict(found), False
    return run_dict(run), True


def _run_of_uid(db: Session, user: User, uid: str) -> HistoryRun | None:
    run = db.scalar(select(HistoryRun).where(HistoryRun.uid == uid))
    if run is not None and run.user_id != user.id:
        db.rollback()
        raise Conflict(f"the run uid {uid!r} is another user's run; choose a new "
                       f"uid for a new run", field="uid")
    return run


def _check_uid(uid: Any) -> None:
    if uid is not None and not (isinstance(uid, str) and UID.fullmatch(uid)):
        raise InvalidRequest("'uid' must be 8 to 64 characters of A-Z, a-z, 0-9, _ "
                             "and - (e.g. a uuid4's hex)", field="uid")


def _check_shard(run_group: Any, shard: Any, shards: Any) -> None:
    check_run_group(run_group)
    _check_int(shards, "shards", 1, MAX_SHARDS, "how many shards the run has")
    _check_int(shard, "shard", 1, MAX_SHARDS, "the run's shard, from 1 to 'shards'")
    # K <= N is the client's to check (rotest run refuses --shard 5/4): the
    # API's document cannot say it, so the server takes what it is told.
    if (shard is None) != (shards is None):
        raise InvalidRequest("give 'shard' and 'shards' together (--shard K/N)",
                             field="shard")


def check_run_group(run_group: Any, field: str = "run_group") -> None:
    """Raise InvalidRequest unless ``run_group`` is None or a run id as
    ``--run-id`` takes it."""
    if run_group is not None and not (isinstance(run_group, str)
                                      and re.fullmatch(RUN_GROUP, run_group)):
        raise InvalidRequest(f"{field!r} must be a run id (--run-id): 1 to 255 "
                             f"printable characters, no spaces at either end, e.g. a "
                             f"CI's build tag", field=field)


def _check_int(value: Any, field: str, low: int, high: int, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not low <= value <= high):
        raise InvalidRequest(f"{field!r} must be {what}: an integer from {low} to {high}",
                             field=field)


def _base(db: Session, base: Any, name: str) -> int | None:
    """The id of a --delta run's base: a run of the same name."""
    if base is None:
        return None
    if not isinstance(base, int) or isinstance(base, bool) or not 1 <= base < 2**31:
        db.rollback()
        raise InvalidRequest("'base' must be a run's id, a whole number from 1 to "
                             f"{2**31 - 1}", field="base")
    # A well-formed id of no run of that name is a missing reference (404).
    found = db.get(HistoryRun, base)
    if found is None or found.name != name:
        db.rollback()
        raise NotFound(f"'base' must be the id of an earlier run named {name!r}",
                       field="base")
    return found.id


def add_records(db: Session, user: User, run_id: int,
                records: Iterable[Any]) -> dict[str, Any]:
    """Store records of a run and renew its lease (no records: a heartbeat).

    Each record names its ``parent`` by path (None: a top-level test); a
    parent comes before its children or is already stored. A path already
    stored is updated in place, so a batch sent again doubles nothing. Each
    record is checked alone: one that is invalid is refused (listed in
    ``refused`` with its index, path and why) and the others are stored.
    Texts over their limits are cut, never refused.

    A run that already ended takes records too (a journal sent late): its
    counts, and a status that followed from its tests, are brought up to date.
    """
    rows, refused = [], []
    for index, record in enumerate(records):
        try:
            rows.append((index, _record_values(record, index)))
        except InvalidRequest as error:
            refused.append(_refusal(index, record, error))
    _begin_write(db)
    run = _writable_run(db, user, run_id)
    wanted = {row["path"] for _, row in rows} | {row["parent"] for _, row in rows
                                                 if row["parent"]}
    stored = {record.path: record for record in db.scalars(
        select(HistoryRecord).where(HistoryRecord.run_id == run.id,
                                    HistoryRecord.path.in_(wanted)))} if wanted else {}
    parents = {row["parent"] for _, row in rows if row["parent"]}
    count = 0
    for index, values in rows:
        parent_path = values.pop("parent")
        parent = stored.get(parent_path) if parent_path else None
        if parent_path and parent is None:
            refused.append({"index": index, "path": values["path"], "message": (
                f"record {index} names the parent {parent_path[:100]!r}, which is not "
                f"recorded; send a parent before its children")})
            continue
        record = stored.get(values["path"])
        if record is None:
            record = stored[values["path"]] = HistoryRecord(run_id=run.id)
            db.add(record)
        for key, value in values.items():
            setattr(record, key, value)
        record.parent_id = parent.id if parent is not None else None
        count += 1
        if values["path"] in parents:
            db.flush()  # its id, for the children that follow
    if run.status == HistoryRun.RUNNING:
        run.lease_until = utcnow() + timedelta(seconds=run.lease_seconds or DEFAULT_LEASE)
    run.counts = _counts(db, run.id)
    if run.status in (HistoryRun.PASSED, HistoryRun.FAILED):
        run.status = _status_of_tests(db, run)
    db.commit()
    return {"run": run.id, "stored": count,
            "refused": sorted(refused, key=lambda item: item["index"]),
            "counts": run.counts}


def _refusal(index: int, record: Any, error: InvalidRequest) -> dict[str, Any]:
    path = record.get("path") if isinstance(record, Mapping) else None
    return {"index": index, "path": path_key(path) if isinstance(path, str) else None,
            "message": error.message}


def finish_run(db: Session, user: User, run_id: int, *, end: str | None = None,
               artifact_path: str | None = None,
               status: str | None = None) -> dict[str, Any]:
    """The run ended: its end time, its status, its artifact.

    The status is ``status`` when the client says the run was
    ``interrupted`` or ``aborted``; otherwise it follows from the tests:
    ``failed`` if a test did not pass or never ended, or if fewer tests
    were recorded than the run ``planned``, else ``passed``. Finishing again
    gives the same answer; a run the server ended as aborted may be
    finished by its client later (its status is then decided again).
    """
    if status is not None and status not in CLIENT_STATUSES:
        raise InvalidRequest(f"'status' must be null (from the tests) or one of "
                             f"{', '.join(CLIENT_STATUSES)}", field="status")
    moment = _time(end, "end")
    _begin_write(db)
    run = _writable_run(db, user, run_id)
    run.end = moment or run.end or utcnow()
    run.lease_until = None  # ended: out of the sweep's index
    run.counts = _counts(db, run.id)
    run.status = status or _status_of_tests(db, run)
    if artifact_path is not None:
        run.artifact_path = _text(artifact_path, NAME_LIMIT)
    db.commit()
    return run_dict(run)


def _status_of_tests(db: Session, run: HistoryRun) -> str:
    """passed only if every test recorded passed and none the run planned is
    missing; a run that recorded no test at all is never passed."""
    leaves, unfinished = db.execute(select(
        func.count(HistoryRecord.id),
        func.count(HistoryRecord.id).filter(HistoryRecord.outcome.is_(None)))
        .where(HistoryRecord.run_id == run.id, HistoryRecord.kind.in_(LEAF_KINDS))).one()
    failed = unfinished or leaves < max(run.planned or 0, 1) or any(
        count for outcome, count in run.counts.items() if outcome not in PASSING)
    return HistoryRun.FAILED if failed else HistoryRun.PASSED


def end_expired_runs(db: Session, now: datetime | None = None) -> int:
    """End as aborted every running run whose lease ran out (its client went
    silent), at the end of its lease, with the counts it has. Returns how many.

    One statement on the lease's index: the server's sweeper calls it each
    pass, and the embedded history before it reads (it has no sweeper).
    """
    ended = db.execute(
        update(HistoryRun)
        .where(HistoryRun.lease_until < (now or utcnow()),
               HistoryRun.status == HistoryRun.RUNNING)
        .values(status=HistoryRun.ABORTED, end=HistoryRun.lease_until, lease_until=None)
        .execution_options(synchronize_session=False)).rowcount
    db.commit()
    return ended


# --------------------------------------------------------------------------
# Reading

def list_runs(db: Session, *, name: str | None = None, limit: int = 50,
              offset: int = 0) -> dict[str, Any]:
    """Runs, newest first, optionally of one name; ``total`` counts them all."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidRequest(f"'limit' must be 1 to {MAX_PAGE} and 'offset' 0 or more",
                             field="limit")
    query = select(HistoryRun)
    if name:
        query = query.where(HistoryRun.name == name)
    total = db.scalar(select(func.count()).select_from(query.subquery()))
    runs = db.scalars(query.options(joinedload(HistoryRun.user))
                      .order_by(HistoryRun.start.desc(), HistoryRun.id.desc())
                      .limit(limit).offset(offset))
    return {"runs": [run_dict(run) for run in runs], "total": total}


def get_run(db: Session, run_id: int) -> dict[str, Any]:
    """One run with its records as a tree (``records``: the top-level ones)."""
    run = db.get(HistoryRun, run_id)
    if run is None:
        raise NotFound(f"no run {run_id} in the history", run=run_id)
    rows = db.scalars(select(HistoryRecord).where(HistoryRecord.run_id == run_id)
                      .order_by(HistoryRecord.id))
    nodes: dict[int, dict[str, Any]] = {}
    top: list[dict[str, Any]] = []
    for row in rows:  # by id: a parent is always stored before its children
        node = nodes[row.id] = record_dict(row)
        siblings = nodes[row.parent_id]["children"] if row.parent_id in nodes else top
        siblings.append(node)
    return {**run_dict(run), "records": top}


def latest_results(db: Session, name: str) -> dict[str, Any]:
    """The newest run named ``name`` and what passed in it, for ``--delta``.

    The newest is the last one the store took (by its id, never by the
    client's clock), finished or not: a run that did not finish counts with
    what it recorded. A ``--delta`` run counts with what it ran and, for the
    rest, what its base run says (and so on down the chain). ``passed`` are
    the paths of tests that passed; ``not_passed`` of those recorded
    otherwise (failed, erred, or never ended). ``run`` is None when no run
    has that name.
    """
    run = db.scalar(select(HistoryRun).where(HistoryRun.name == name)
                    .order_by(HistoryRun.id.desc()).limit(1))
    if run is None:
        return {"run": None, "passed": [], "not_passed": []}
    passed: set[str] = set()
    not_passed: set[str] = set()
    seen, link = set(), run
    while link is not None and link.id not in seen and len(seen) < MAX_CHAIN:
        seen.add(link.id)
        known = passed | not_passed  # what a newer run of the chain decided
        for path, outcome in db.execute(select(HistoryRecord.path, HistoryRecord.outcome)
                                        .where(HistoryRecord.run_id == link.id,
                                               HistoryRecord.kind.in_(LEAF_KINDS))):
            if path not in known:
                (passed if outcome in PASSING else not_passed).add(path)
        link = db.get(HistoryRun, link.base_id) if link.base_id is not None else None
    return {"run": run_dict(run), "passed": sorted(passed),
            "not_passed": sorted(not_passed)}


def past_durations(db: Session, name: str | None = None,
                   runs: int = 5) -> dict[str, float]:
    """Seconds each test took, averaged over the last ``runs`` finished runs
    (of ``name``, or of any name): for estimates of how long a run takes."""
    recent = select(HistoryRun.id).where(HistoryRun.end.is_not(None))
    if name:
        recent = recent.where(HistoryRun.name == name)
    recent = recent.order_by(HistoryRun.start.desc()).limit(runs)
    rows = db.execute(select(HistoryRecord.path, HistoryRecord.duration).where(
        HistoryRecord.run_id.in_(recent.scalar_subquery()),
        HistoryRecord.kind.in_(LEAF_KINDS), HistoryRecord.duration.is_not(None)))
    seconds: dict[str, list[float]] = defaultdict(list)
    for path, duration in rows:
        seconds[path].append(duration)
    return {path: sum(values) / len(values) for path, values in seconds.items()}


# --------------------------------------------------------------------------
# Runs across many hosts: run groups (--run-id) and their shards

def recent_durations(db: Session, name: str | None = None,
                     runs: int = 5) -> dict[str, float]:
    """Seconds each test took, with the set-up before it, averaged over the
    last ``runs`` finished runs of ``name`` (of any name if None), the
    shards of one ``--run-id`` counting as one run: what ``--shard``
    balances by.

    A test's time is its record's (its rotest resources locked and set up
    in it) plus the gap since the test before it in its suite ended (or the
    suite started): a class fixture or a testresources set-up made between
    tests counts for the test after it.
    """
    if not 1 <= runs <= MAX_PAGE:
        raise InvalidRequest(f"'runs' must be 1 to {MAX_PAGE}", field="runs")
    key = _group_key()
    groups = select(key.label("key")).where(HistoryRun.end.is_not(None))
    if name:
        groups = groups.where(HistoryRun.name == name)
    groups = groups.group_by(key).order_by(func.max(HistoryRun.id).desc()).limit(runs)
    recent = select(HistoryRun.id).where(key.in_(groups.scalar_subquery()),
                                         HistoryRun.end.is_not(None))
    if name:
        recent = recent.where(HistoryRun.name == name)
    rows = db.execute(select(HistoryRecord.run_id, HistoryRecord.parent_id,
                             HistoryRecord.id, HistoryRecord.path, HistoryRecord.kind,
                             HistoryRecord.start, HistoryRecord.end,
                             HistoryRecord.duration)
                      .where(HistoryRecord.run_id.in_(recent))
                      .order_by(HistoryRecord.run_id, HistoryRecord.id)).all()
    starts = {row.id: row.start for row in rows if row.kind not in LEAF_KINDS}
    run_starts = dict(db.execute(select(HistoryRun.id, HistoryRun.start)
                                 .where(HistoryRun.id.in_(recent))).all())
    siblings: dict[tuple[int, int | None], list[Any]] = defaultdict(list)
    for row in rows:
        if row.kind in LEAF_KINDS and row.duration is not None:
            siblings[(row.run_id, row.parent_id)].append(row)
    seconds: dict[str, list[float]] = defaultdict(list)
    for (run_id, parent_id), leaves in siblings.items():
        last_end = starts.get(parent_id) if parent_id is not None else run_starts[run_id]
        for row in sorted(leaves, key=lambda row: (row.start is None, row.start, row.id)):
            gap = 0.0
            if row.start is not None and last_end is not None:
                gap = max((as_utc(row.start) - as_utc(last_end)).total_seconds(), 0.0)
            seconds[row.path].append(row.duration + gap)
            if row.end is not None:
                last_end = max(last_end, row.end) if last_end is not None else row.end
    return {path: sum(values) / len(values) for path, values in seconds.items()}


def claim_shard_plan(db: Session, user: User, *, run_group: str, name: str,
                     shards: int, fingerprint: str,
                     plan: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Store how the shards of run ``run_group`` split its tests, unless one
    is stored already: returns the stored plan and whether it is this one
    (the first shard to ask wins; the others get its plan, as it was)."""
    check_run_group(run_group)
    if not isinstance(run_group, str):
        raise InvalidRequest("'run_group' must be the run's id (--run-id)",
                             field="run_group")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidRequest("'name' must be the run's name: 1 to 255 characters",
                             field="name")
    _check_int(shards, "shards", 1, MAX_SHARDS, "how many shards the run has")
    if shards is None:
        raise InvalidRequest("'shards' must be given", field="shards")
    if not isinstance(fingerprint, str) or not FINGERPRINT.fullmatch(fingerprint):
        raise InvalidRequest("'fingerprint' must be 64 hexadecimal digits (a sha256 of "
                             "the tests' paths)", field="fingerprint")
    if not isinstance(plan, Mapping):
        raise InvalidRequest("'plan' must be an object", field="plan")
    found = db.get(HistoryShardPlan, run_group)
    if found is not None:
        return shard_plan_dict(found), False
    _begin_write(db)
    row = HistoryShardPlan(run_group=run_group, name=_text(name, 255), shards=shards,
                           fingerprint=fingerprint, plan=dict(plan), user_id=user.id)
    db.add(row)
    try:
        db.commit()
    except IntegrityError:  # another shard stored its plan first: that one holds
        db.rollback()
        return shard_plan_dict(db.get(HistoryShardPlan, run_group)), False
    return shard_plan_dict(row), True


def shard_plan(db: Session, run_group: str) -> dict[str, Any]:
    """The plan stored under ``run_group`` (what ``-l --shard`` shows);
    NotFound while no shard of the run has stored one (or it could not be
    a run id: none is stored under it)."""
    if not isinstance(run_group, str) or not run_group:
        raise InvalidRequest("'run_group' must be given: the run id", field="run_group")
    found = db.get(HistoryShardPlan, run_group)
    if found is None:
        raise NotFound(f"no shard of run id {run_group!r} has stored its plan yet",
                       run_group=run_group)
    return shard_plan_dict(found)


def shard_plan_dict(row: HistoryShardPlan) -> dict[str, Any]:
    return {"run_group": row.run_group, "name": row.name, "shards": row.shards,
            "fingerprint": row.fingerprint, "plan": row.plan,
            "created": timestamp(row.created)}


def group_results(db: Session, name: str, run_group: str | None = None,
                  exclude_group: str | None = None) -> dict[str, Any]:
    """What passed in a run and its shards, for ``--delta``: the runs of
    ``run_group`` (``--delta-of``), or else the newest run named ``name``
    outside ``exclude_group`` (this run's own shards) with the other shards
    of its run group. A test passed only if every record of it in the group
    passed; tests the group did not run count as its ``--delta`` base says
    (and so on down the chain), as :func:`latest_results` has it.
    ``run`` is the group's newest run, None when there is none."""
    check_run_group(run_group)
    check_run_group(exclude_group, "exclude_group")
    if run_group is not None:
        newest = db.scalar(select(HistoryRun).where(HistoryRun.run_group == run_group,
                                                    HistoryRun.name == name)
                           .order_by(HistoryRun.id.desc()).limit(1))
        if newest is None:
            raise NotFound(f"no run named {name!r} with the run id {run_group!r} in the "
                           f"history", field="run_group")
    else:
        query = select(HistoryRun).where(HistoryRun.name == name)
        if exclude_group is not None:
            query = query.where(func.coalesce(HistoryRun.run_group, "") != exclude_group)
        newest = db.scalar(query.order_by(HistoryRun.id.desc()).limit(1))
    if newest is None:
        return {"run": None, "runs": [], "passed": [], "not_passed": []}
    passed: set[str] = set()
    not_passed: set[str] = set()
    seen: set[int] = set()
    links, link_runs = 0, _group_of(db, newest)
    members = [run.id for run in link_runs]
    while link_runs and links < MAX_CHAIN:
        links += 1
        seen.update(run.id for run in link_runs)
        known = passed | not_passed  # what a newer run of the chain decided
        found_passed: set[str] = set()
        found_not: set[str] = set()
        for path, outcome in db.execute(select(HistoryRecord.path, HistoryRecord.outcome)
                                        .where(HistoryRecord.run_id.in_(
                                            [run.id for run in link_runs]),
                                            HistoryRecord.kind.in_(LEAF_KINDS))):
            if path not in known:
                (found_passed if outcome in PASSING else found_not).add(path)
        passed |= found_passed - found_not
        not_passed |= found_not
        bases = sorted({run.base_id for run in link_runs if run.base_id is not None})
        base = db.get(HistoryRun, bases[0]) if bases else None
        link_runs = [run for run in _group_of(db, base) if run.id not in seen] \
            if base is not None else []
    first = _group_of(db, newest)
    ends = [run.end for run in first]
    return {"run": {**run_dict(newest), "status": _group_status(first),
                    "end": None if None in ends else timestamp(max(ends))},
            "runs": members, "passed": sorted(passed), "not_passed": sorted(not_passed)}


def _group_status(runs: list[HistoryRun]) -> str:
    """The status of a run made of shards: the first of running, aborted,
    interrupted, failed that one of them has, else passed."""
    statuses = {run.status for run in runs}
    return next((status for status in (HistoryRun.RUNNING, HistoryRun.ABORTED,
                                       HistoryRun.INTERRUPTED, HistoryRun.FAILED)
                 if status in statuses), HistoryRun.PASSED)


#: The start of a lone run's key in :func:`_group_key` (no run id holds it).
LONE_RUN = "\x01#"


def _group_key() -> Any:
    """A run's run group, or for a run without one a key of its own."""
    return func.coalesce(HistoryRun.run_group,
                         literal(LONE_RUN, String).concat(cast(HistoryRun.id, String)))


def _group_of(db: Session, run: HistoryRun) -> list[HistoryRun]:
    """``run`` and the other shards of its run group."""
    if run.run_group is None:
        return [run]
    return list(db.scalars(select(HistoryRun).where(HistoryRun.run_group == run.run_group)
                           .order_by(HistoryRun.id)))


def list_run_entries(db: Session, *, name: str | None = None, limit: int = 50,
                     offset: int = 0) -> dict[str, Any]:
    """The runs list with the shards of one run id as one entry, newest
    first: each entry a run (``run``) or a run group (``group``, as
    :func:`get_run_group` gives it); ``total`` counts the entries."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidRequest(f"'limit' must be 1 to {MAX_PAGE} and 'offset' 0 or more",
                             field="limit")
    key = _group_key()
    query = select(key.label("key"), func.max(HistoryRun.start).label("newest"),
                   func.max(HistoryRun.id).label("last"))
    if name:
        query = query.where(HistoryRun.name == name)
    query = query.group_by(key)
    total = db.scalar(select(func.count()).select_from(query.subquery()))
    page = db.execute(query.order_by(func.max(HistoryRun.start).desc(),
                                     func.max(HistoryRun.id).desc())
                      .limit(limit).offset(offset)).all()
    entries: list[dict[str, Any]] = []
    for row in page:
        if row.key.startswith(LONE_RUN):
            run = db.get(HistoryRun, row.last)
            entries.append({"run": run_dict(run)})
        else:
            entries.append({"group": get_run_group(db, row.key, name=name)})
    return {"entries": entries, "total": total}


def get_run_group(db: Session, run_group: str, *, name: str | None = None
                  ) -> dict[str, Any]:
    """The runs of one run id (its shards, by shard then id) with their
    combined counts, status, start and end."""
    query = select(HistoryRun).where(HistoryRun.run_group == run_group)
    if name:
        query = query.where(HistoryRun.name == name)
    runs = list(db.scalars(query.options(joinedload(HistoryRun.user))
                           .order_by(HistoryRun.shard, HistoryRun.id)))
    if not runs:
        raise NotFound(f"no run with the run id {run_group!r} in the history",
                       run_group=run_group)
    counts = dict.fromkeys(OUTCOMES, 0)
    for run in runs:
        for outcome, count in (run.counts or {}).items():
            counts[outcome] = counts.get(outcome, 0) + count
    shards = max((run.shards or 0) for run in runs) or None
    missing = sorted(set(range(1, (shards or 0) + 1)) - {run.shard for run in runs})
    status = _group_status(runs)
    ends = [run.end for run in runs]
    end = None if any(moment is None for moment in ends) else max(ends)
    start = min(run.start for run in runs)
    return {"run_group": run_group, "name": runs[0].name, "shards": shards,
            "missing_shards": missing, "status": status, "counts": counts,
            "start": timestamp(start), "end": timestamp(end),
            "duration": None if end is None else (end - start).total_seconds(),
            "runs": [run_dict(run) for run in runs]}


# --------------------------------------------------------------------------
# As JSON

def run_dict(run: HistoryRun) -> dict[str, Any]:
    return {"id": run.id, "name": run.name,
            "user": run.user.username if run.user is not None else None,
            "host": run.host, "start": timestamp(run.start), "end": timestamp(run.end),
            "duration": run.duration, "status": run.status,
            "counts": {outcome: (run.counts or {}).get(outcome, 0) for outcome in OUTCOMES},
            "settings": run.settings or {}, "environment": run.environment or {},
            "run_dir": run.run_dir, "artifact_path": run.artifact_path,
            "base": run.base_id, "uid": run.uid, "planned": run.planned,
            "lease_until": timestamp(run.lease_until), "run_group": run.run_group,
            "shard": run.shard, "shards": run.shards}


def record_dict(record: HistoryRecord) -> dict[str, Any]:
    return {"id": record.id, "path": record.path, "name": record.name,
            "kind": record.kind, "classname": record.classname,
            "outcome": record.outcome, "start": timestamp(record.start),
            "end": timestamp(record.end), "duration": record.duration,
            "description": record.description, "note": record.note,
            "tags": record.tags, "resources": record.resources,
            "details": record.details, "infos": record.infos, "reruns": record.reruns,
            "signatures": record.signatures, "log": record.log, "stdout": record.stdout,
            "stderr": record.stderr, "lock_wait": record.lock_wait,
            "setup_time": record.setup_time, "children": []}


# --------------------------------------------------------------------------
# Checks and helpers

def _begin_write(db: Session) -> None:
    """Take SQLite's write lock up front: a transaction that reads first may
    not be allowed to write later while another process writes."""
    if db.in_transaction():
        db.commit()
    if db.get_bind().dialect.name == "sqlite":
        db.connection(execution_options={"sqlite_immediate": True})


def _writable_run(db: Session, user: User, run_id: int) -> HistoryRun:
    # Locked: the sweep's UPDATE waits, so a run renewed here is not aborted
    # by a sweep that read its old lease.
    run = db.get(HistoryRun, run_id, with_for_update=True)
    if run is None:
        db.rollback()
        raise NotFound(f"no run {run_id} in the history; start one first", run=run_id)
    if run.user_id != user.id and not user.is_admin:
        db.rollback()
        raise PermissionDenied(f"run {run_id} was recorded by another user; only they "
                               f"(or an admin) may add to it", run=run_id)
    return run


def _counts(db: Session, run_id: int) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    rows = db.execute(select(HistoryRecord.outcome, func.count(HistoryRecord.id)).where(
        HistoryRecord.run_id == run_id, HistoryRecord.kind.in_(LEAF_KINDS),
        HistoryRecord.outcome.is_not(None)).group_by(HistoryRecord.outcome))
    for outcome, count in rows:
        counts[outcome] = count
    return counts


def _record_values(record: Any, index: int) -> dict[str, Any]:
    """A record of a request as column values, checked; raises InvalidRequest
    naming the record and the field."""
    def bad(field: str, expected: str) -> InvalidRequest:
        return InvalidRequest(f"record {index}: {field!r} must be {expected}",
                              index=index, field=field)

    if not isinstance(record, Mapping):
        raise InvalidRequest(f"record {index} must be an object", index=index)
    unknown = sorted(set(record) - RECORD_FIELDS)
    if unknown:
        raise InvalidRequest(f"record {index}: unknown key {unknown[0]!r}; allowed keys "
                             f"are {', '.join(sorted(RECORD_FIELDS))}", index=index,
                             field=unknown[0])
    path, kind = record.get("path"), record.get("kind")
    if not isinstance(path, str) or not path:
        raise bad("path", "the test's path, a non-empty string")
    if kind not in KINDS:
        raise bad("kind", "one of " + ", ".join(KINDS))
    outcome = record.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise bad("outcome", "null or one of " + ", ".join(OUTCOMES))
    parent = record.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent):
        raise bad("parent", "the parent's path, or null for a top-level test")
    if parent == path:
        raise bad("parent", "another record's path, not the record's own")
    duration = record.get("duration")
    if duration is not None and (isinstance(duration, bool)
                                 or not isinstance(duration, (int, float))
                                 or not math.isfinite(duration)):
        raise bad("duration", "a number of seconds or null")
    seconds = {name: _seconds_or_none(record.get(name), name, bad)
               for name in ("lock_wait", "setup_time")}
    try:
        return {
            **seconds,
            "path": path_key(path), "parent": path_key(parent) if parent else None,
            "kind": kind, "outcome": outcome,
            "name": _text(record.get("name", path.rsplit("/", 1)[-1]), NAME_LIMIT),
            "classname": _text(record.get("classname", ""), NAME_LIMIT),
            "start": _time(record.get("start"), "start"),
            "end": _time(record.get("end"), "end"),
            "duration": float(duration) if duration is not None else None,
            "description": _text(record.get("description", ""), TEXT_LIMIT),
            "note": _text(record.get("note", ""), TEXT_LIMIT),
            "log": _text(record.get("log", ""), TEXT_LIMIT, keep_end=True),
            "stdout": _text(record.get("stdout", ""), TEXT_LIMIT, keep_end=True),
            "stderr": _text(record.get("stderr", ""), TEXT_LIMIT, keep_end=True),
            "tags": [_text(tag, NAME_LIMIT) for tag in _list(record, "tags")],
            "infos": [_text(info, TEXT_LIMIT) for info in _list(record, "infos")],
            "resources": _string_map(record.get("resources"), "resources"),
            "details": _details(record.get("details")),
            "reruns": [_rerun(rerun) for rerun in _list(record, "reruns")],
            "signatures": [_string_map(sig, "signatures")
                           for sig in _list(record, "signatures")],
        }
    except InvalidRequest as error:
        raise InvalidRequest(f"record {index}: {error.message}", index=index,
                             **error.details) from None


RECORD_FIELDS = frozenset({
    "path", "parent", "name", "kind", "classname", "outcome", "start", "end",
    "duration", "description", "note", "log", "stdout", "stderr", "tags", "infos",
    "resources", "details", "reruns", "signatures", "lock_wait", "setup_time"})


def _seconds_or_none(value: Any, field: str, bad: Any) -> float | None:
    """A record's lock wait or set-up time: seconds (not negative) or null."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0):
        raise bad(field, "a number of seconds, not negative, or null")
    return float(value)


def _list(record: Mapping[str, Any], field: str) -> list[Any]:
    value = record.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"{field!r} must be a list", field=field)
    return value


def _details(value: Any) -> list[list[str]]:
    """[[outcome, text], ...]: tracebacks and skip reasons."""
    if value is not None and not isinstance(value, list):
        raise InvalidRequest("'details' must be a list", field="details")
    details = []
    for item in value or []:
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and item[0] in OUTCOMES and isinstance(item[1], str)):
            raise InvalidRequest("'details' must be a list of [outcome, text] pairs",
                                 field="details")
        details.append([item[0], _text(item[1], TEXT_LIMIT, keep_end=True)])
    return details


def _rerun(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or value.get("outcome") not in OUTCOMES:
        raise InvalidRequest("each of 'reruns' must be an object with an 'outcome'",
                             field="reruns")
    duration = value.get("duration")
    return {"outcome": value["outcome"], "details": _details(value.get("details")),
            "duration": float(duration) if isinstance(duration, (int, float))
            and not isinstance(duration, bool) else None}


def _string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{field!r} must be an object", field=field)
    return {_text(key, NAME_LIMIT): _text(item, TEXT_LIMIT) for key, item in value.items()}


def path_key(path: str) -> str:
    """A record's path as stored: itself, or, when longer than ``NAME_LIMIT``,
    its beginning and a marker with a hash of the whole path. The same long
    path always gives the same key and two long paths two keys, so a record
    sent again still finds itself and its children their parent."""
    path = _storable(path)
    if len(path) <= NAME_LIMIT:
        return path
    digest = hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]
    marker = f"[... {len(path)} characters cut; #{digest}]"
    return path[:NAME_LIMIT - len(marker)] + marker


def _storable(text: str) -> str:
    """Text both databases take: no NUL (PostgreSQL) and no lone surrogate
    (the embedded client's records do not pass through the JSON parser)."""
    text = text.replace("\x00", "\ufffd")
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _text(value: Any, limit: int, *, keep_end: bool = False) -> str:
    """``value`` as text both databases can store, cut to ``limit`` with a
    marker that says so."""
    text = _storable("" if value is None else str(value))
    if len(text) <= limit:
        return text
    cut = f"[... {len(text) - limit} characters cut ...]"
    return cut + "\n" + text[-limit:] if keep_end else text[:limit] + "\n" + cut


def _time(value: Any, field: str) -> datetime | None:
    """An ISO 8601 time, aware, in UTC; naive input is taken as UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidRequest(f"{field!r} must be an ISO 8601 time, e.g. "
                             f"2026-11-21T08:00:00+00:00", field=field)
    return as_utc(moment)
