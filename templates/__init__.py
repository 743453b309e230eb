"""The Jinja templates of the server's pages (web/, admin_site/) and of the
standalone run report (report/), and the renderer of that report, which the
server's run pages and the report handler share.

The run report: one self-contained HTML document of a *run view*.

The run view is a plain dict (JSON-serialisable; texts already cleaned) with
the run's name, times, status (and, optionally, ``status_text``: the status
in words, e.g. "aborted after 8 of 20"), counts per outcome, environment,
settings and its tree of suites, flows, cases and blocks (each node may
have ``lock_wait`` and ``setup_time``: seconds, or None; see ``rotest_reports.html.view_of``,
which builds it from a finished run; the server's run pages build the same
dict from the database). :func:`render_report` turns it into HTML that needs
nothing from the network: styles and script are inline and the tree is
embedded as JSON, drawn by the script a screenful at a time, so a run of ten
thousand tests opens quickly.

The Jinja environment here stands alone (no Flask app context needed): the
runtime writes reports with no server, and the server calls the same function.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from rotest_app.engine.outcomes import PASSING, pass_rate

__all__ = ["FOLDER", "OUTCOME_LABELS", "PASSING", "REPORT_POLICY", "format_duration",
           "format_moment", "lock_wait", "render_report"]

#: The folder of every template, installed or in the checkout.
FOLDER = Path(__file__).resolve().parent

#: Every outcome, worst first (rotest_app.engine.outcomes), with the words the report shows.
OUTCOME_LABELS = {
    "error": "Error",
    "failure": "Failure",
    "unexpected_success": "Unexpected success",
    "expected_failure": "Expected failure",
    "skip": "Skipped",
    "success": "Success",
}


#: The report's Content Security Policy: its own inline style and script, and
#: nothing from anywhere. The file carries it in a <meta>; the server's run
#: pages send it as their header too (with no framing, which a <meta> cannot say).
REPORT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                 "img-src data:; base-uri 'none'; form-action 'none'")


def render_report(view: dict[str, Any], *, back_url: str | None = None) -> str:
    """The HTML document of a run view.

    Args:
        view: the run view (see the module's docstring).
        back_url: shown as a link back (the server's list of runs); None in
            the standalone file.
    """
    counts = {outcome: int((view.get("counts") or {}).get(outcome) or 0)
              for outcome in OUTCOME_LABELS}
    total = sum(counts.values())
    passed = sum(counts[outcome] for outcome in PASSING)
    rate = pass_rate(counts)
    return _environment().get_template("report/run.html").render(
        view=view, back_url=back_url, labels=OUTCOME_LABELS, counts=counts,
        policy=REPORT_POLICY, total=total, passed=passed, lock_wait=lock_wait(view),
        pass_rate="–" if rate is None else f"{100 * rate:.1f} %")


def lock_wait(view: dict[str, Any]) -> float | None:
    """Seconds the view's tests and flows waited for locks, in all (nodes'
    optional ``lock_wait``); None when none of them locked anything."""
    waits, stack = [], [view.get("tree") or {}]
    while stack:
        node = stack.pop()
        if isinstance(node.get("lock_wait"), (int, float)):
            waits.append(node["lock_wait"])
        stack.extend(node.get("children") or ())
    return sum(waits) if waits else None


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(FOLDER), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)
    # tojson escapes <, >, & and ' (no "</script>" can close the data block)
    # and, with ensure_ascii kept, even a lone surrogate cannot break the file.
    environment.policies["json.dumps_kwargs"] = {"separators": (",", ":")}
    environment.filters["duration"] = format_duration
    environment.filters["moment"] = format_moment
    environment.globals["inline"] = _inline
    return environment


@lru_cache(maxsize=None)
def _inline(name: str) -> Markup:
    """A style sheet or script of the templates folder, as it is: put inline
    (the report fetches nothing) and not read as a template (``{#`` in a
    script is no Jinja comment)."""
    return Markup((FOLDER / name).read_text(encoding="utf-8"))


def format_duration(seconds: float | None) -> str:
    """``0.012`` -> ``12 ms``, ``3.5`` -> ``3.50 s``, ``125`` -> ``2 min 5 s``."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def format_moment(iso: str | None) -> str:
    """An ISO 8601 time as ``2026-11-21 07:13:05 +0000`` (as given if not ISO)."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S %z").strip()
    except ValueError:
        return iso
