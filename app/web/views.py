"""The run view of :mod:`rotest_templates` (its contract: the one dict the HTML
report and the run pages render), built from a run of the history."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..engine import history
from rotest_app.engine.grouping import group_as_code

__all__ = ["run_view", "status_text"]

#: Statuses of runs that ended before their tests did.
CUT_SHORT = ("aborted", "interrupted")

NODE_KEYS = ("name", "kind", "classname", "outcome", "start", "end", "duration",
             "description", "tags", "note", "resources", "infos", "details", "log",
             "stdout", "stderr", "reruns", "signatures", "lock_wait", "setup_time")


def run_view(run: dict[str, Any], artifact_url: str | None = None) -> dict[str, Any]:
    """``run`` as :func:`rotest_app.engine.history.get_run` gives it, as the report's view."""
    ids = iter(range(1, 1 << 62))
    children = _grouped([_node(record, ids) for record in run["records"]], ids)
    root = {"id": 0, "name": run["name"], "kind": "suite", "classname": "",
            "outcome": _worst(child["outcome"] for child in children),
            "start": run["start"], "end": run["end"], "duration": run["duration"],
            "description": "", "tags": [], "note": "", "resources": {}, "infos": [],
            "details": [], "log": "", "stdout": "", "stderr": "", "reruns": [],
            "signatures": [], "lock_wait": None, "setup_time": None,
            "children": children}
    artifact = None
    if run["artifact_path"]:
        artifact = {"path": run["artifact_path"], "url": artifact_url}
    return {"name": run["name"], "start": run["start"], "end": run["end"],
            "duration": run["duration"], "status": run["status"],
            "status_text": status_text(run),
            "counts": dict(run["counts"]), "environment": dict(run["environment"]),
            "settings": dict(run["settings"]), "artifact": artifact, "tree": root}


def status_text(run: dict[str, Any]) -> str:
    """The run's status in words: ``aborted after 8 of 20`` (tests that
    ended, of those the run planned) for a run cut short, else the status."""
    if run["status"] not in CUT_SHORT:
        return run["status"]
    ended = sum(run["counts"].values())
    planned = run.get("planned")
    return f"{run['status']} after {ended}" + (f" of {planned}" if planned is not None
                                               else "")


def _node(record: dict[str, Any], ids: Any) -> dict[str, Any]:
    node = {"id": next(ids), **{key: record[key] for key in NODE_KEYS}}
    children = [_node(child, ids) for child in record["children"]]
    node["children"] = _grouped(children, ids) if record["kind"] == "suite" else children
    return node


def _grouped(nodes: list[dict[str, Any]], ids: Any) -> list[dict[str, Any]]:
    """Cases grouped by module and class, as the file report shows them."""
    def make_group(name: str, members: list[dict[str, Any]]) -> dict[str, Any]:
        starts = [m["start"] for m in members if m["start"]]
        ends = [m["end"] for m in members if m["end"]]
        start, end = min(starts, default=None), max(ends, default=None)
        return {"id": next(ids), "name": name, "kind": "suite", "classname": name,
                "outcome": _worst(m["outcome"] for m in members), "start": start,
                "end": end, "duration": _seconds(start, end), "description": "",
                "tags": [], "note": "", "resources": {}, "infos": [], "details": [],
                "log": "", "stdout": "", "stderr": "", "reruns": [], "signatures": [],
                "lock_wait": None, "setup_time": None,
                "children": members}

    return group_as_code(nodes, lambda n: n["classname"] if n["kind"] == "case" else None,
                         make_group)


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _worst(outcomes: Any) -> str | None:
    known = [outcome for outcome in outcomes if outcome is not None]
    return min(known, key=history.OUTCOMES.index) if known else None
