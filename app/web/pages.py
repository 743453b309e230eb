"""The run pages: the runs list and one run, for logged-in users."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from flask import (Blueprint, abort, current_app, make_response, render_template,
                   request, send_file, url_for)
from flask_login import login_required
from werkzeug.wrappers import Response

from ..engine import history
from ..engine import NotFound
from ..models import db
from rotest_templates import REPORT_POLICY, render_report
from .views import run_view, status_text

bp = Blueprint("web", __name__)
PER_PAGE = 50
#: Pages beyond this are refused (400): their offset would not fit the database.
MAX_PAGE = 1_000_000


@bp.get("/runs")
@login_required
def runs() -> str:
    """Runs, newest first; ``?name=`` one name's; ``?page=`` pages of 50."""
    name = request.args.get("name", "").strip()
    page = request.args.get("page", 1, type=int) or 1
    if page > MAX_PAGE:
        abort(400, description=f"page {page} is beyond the last possible page "
                               f"({MAX_PAGE})")
    page = max(page, 1)
    # The shards of one --run-id are one entry, their counts combined.
    found = history.list_run_entries(db.session(), name=name or None, limit=PER_PAGE,
                                     offset=(page - 1) * PER_PAGE)
    pages = max(1, -(-found["total"] // PER_PAGE))
    return render_template("web/runs.html", entries=found["entries"], total=found["total"],
                           name=name, page=page, pages=pages,
                           outcomes=history.OUTCOMES, status_text=status_text)


@bp.get("/runs/group/<path:run_group>")
@login_required
def run_group(run_group: str) -> str:
    """One run made of shards (``--run-id``): its combined counts and each
    shard, with links to their pages."""
    try:
        found = history.get_run_group(db.session(), run_group)
    except NotFound:
        abort(404, description=f"no run with the run id {run_group!r} in the history")
    return render_template("web/run_group.html", group=found, outcomes=history.OUTCOMES,
                           status_text=status_text)


@bp.get("/runs/<id:run_id>")
@login_required
def run(run_id: int) -> Response:
    """One run's tree, rendered as the HTML report renders a run."""
    found = _run(run_id)
    url = url_for(".artifact", run_id=run_id) if _artifact_file(found) else None
    page = make_response(render_report(run_view(found, artifact_url=url),
                                       back_url=url_for(".runs")))
    # The report's inline script has no nonce: the page keeps its own policy.
    page.headers["Content-Security-Policy"] = REPORT_POLICY + "; frame-ancestors 'none'"
    return page


@bp.get("/runs/<id:run_id>/artifact")
@login_required
def artifact(run_id: int) -> Response:
    """The run's artifact zip, when this server can read it."""
    path = _artifact_file(_run(run_id))
    if path is None:
        abort(404, description=f"run {run_id} has no artifact this server can serve "
                               f"(zips under the server's artifacts_dir only)")
    return send_file(path, mimetype="application/zip", as_attachment=True,
                     download_name=path.name)


def _run(run_id: int) -> dict[str, Any]:
    try:
        return history.get_run(db.session(), run_id)
    except NotFound:
        abort(404, description=f"no run {run_id} in the history")


def _artifact_file(run: dict[str, Any]) -> Path | None:
    """The run's artifact if it is a zip inside the server's artifacts_dir:
    the path comes from the client, so nothing else is ever served."""
    if not run["artifact_path"]:
        return None
    settings = current_app.config["ROTEST"]
    allowed = Path(settings.get("artifacts_dir") or Path(settings["workdir"]) / "artifacts")
    try:
        path = Path(run["artifact_path"]).expanduser().resolve()
        inside = path.is_relative_to(allowed.expanduser().resolve())
        return path if inside and path.is_file() and zipfile.is_zipfile(path) else None
    except (OSError, ValueError):
        return None


