"""The run history's routes of /api/v1: runs, their records, ``--delta``'s
lookup. Thin doors onto :mod:`rotest_app.engine.history`; authenticated like every route
of the blueprint."""
from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for

from ..engine import history
from ..engine import InvalidRequest
from .auth import current_user
from .contract import query_number, read_body
from .views import _db, bp


@bp.post("/runs")
def start_run() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Record that a run began (201); a start sent again with the same
    ``uid`` answers its run as it is (200). Records and the end come later."""
    run, created = history.open_run(
        _db(), current_user(), **read_body("StartRunBody"),
        default_lease=current_app.config["ROTEST"]["run_lease_seconds"])
    location = url_for(".get_run", run_id=run["id"])
    return run, 201 if created else 200, {"Location": location}


@bp.post("/runs/<id:run_id>/records")
def add_records(run_id: int) -> dict[str, Any]:
    """Store a batch of the run's records (a path sent again is updated; an
    invalid record is refused alone) and renew the run's lease."""
    body = read_body("RecordsBody")
    return history.add_records(_db(), current_user(), run_id, body["records"])


@bp.post("/runs/<id:run_id>/finish")
def finish_run(run_id: int) -> dict[str, Any]:
    """The run ended: its status is the client's word or follows from its tests."""
    return history.finish_run(_db(), current_user(), run_id, **read_body("FinishRunBody"))


@bp.get("/runs")
def list_runs() -> dict[str, Any]:
    """Runs, newest first: ``?name=`` one name's, ``?limit=&offset=`` a page."""
    return history.list_runs(_db(), name=request.args.get("name") or None,
                             limit=query_number("limit"), offset=query_number("offset"))


@bp.get("/runs/<id:run_id>")
def get_run(run_id: int) -> dict[str, Any]:
    """One run with the tree of its records."""
    return history.get_run(_db(), run_id)


@bp.get("/runs/latest")
def latest_results() -> dict[str, Any]:
    """The newest run of ``?name=`` and the paths of its tests that passed."""
    name = request.args.get("name", "")
    if not name:
        raise InvalidRequest("give the run's name: /runs/latest?name=NAME", field="name")
    return history.latest_results(_db(), name)


@bp.get("/runs/durations")
def past_durations() -> dict[str, Any]:
    """Seconds per test path over recent finished runs (``?name=`` of one name)."""
    runs = query_number("runs")
    return {"durations": history.past_durations(
        _db(), request.args.get("name") or None, runs=runs)}


@bp.get("/runs/recent-durations")
def recent_durations() -> dict[str, Any]:
    """Seconds per test path with the set-up before it, over recent finished
    runs, a run id's shards counting as one (``?name=`` of one name)."""
    runs = query_number("runs")
    return {"durations": history.recent_durations(
        _db(), request.args.get("name") or None, runs=runs)}


@bp.post("/runs/shard-plans")
def claim_shard_plan() -> tuple[dict[str, Any], int]:
    """Store how a run id's shards split its tests (201), or answer the plan
    stored first (200)."""
    plan, created = history.claim_shard_plan(_db(), current_user(),
                                             **read_body("ShardPlanBody"))
    return plan, 201 if created else 200


@bp.get("/runs/shard-plans")
def get_shard_plan() -> dict[str, Any]:
    """The plan stored under a run id (404 while none is)."""
    plan = history.shard_plan(_db(), request.args.get("run_group") or None)
    _db().commit()  # no transaction left open between requests
    return plan


@bp.get("/runs/group-results")
def group_results() -> dict[str, Any]:
    """What passed in a run and its shards, for ``--delta`` across shards."""
    name = request.args.get("name", "")
    if not name:
        raise InvalidRequest("give the run's name: /runs/group-results?name=NAME",
                             field="name")
    return history.group_results(_db(), name,
                                 run_group=request.args.get("run_group") or None,
                                 exclude_group=request.args.get("exclude_group") or None)
