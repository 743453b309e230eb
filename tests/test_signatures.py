"""Error signatures: the model, the admin form, the API (SQLite and
PostgreSQL), and the signature handler on real runs, embedded and against
the real server over HTTP."""
from __future__ import annotations

import io
import re
import subprocess
import time

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from api_helpers import api_for
from app.models import ErrorSignature, db
from app.models.signatures import (all_signatures, count_hit, pattern_problem,
                                   record_signature)
from reports.signature import MATCH_LIMIT, pattern_for, tail
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import outcomes
from runtime_samples.fixtures import (ROTEST, SAMPLES, cli_env, config, lab,  # noqa: F401
                                      server, workdir)
from test_admin import admin_client, csrf_token  # noqa: F401 - fixture
from test_report_record import Keeper

CATASTROPHIC = r"(a+)+$"


# --- patterns ---------------------------------------------------------------

def traceback_of(last_line: str) -> str:
    return ("Traceback (most recent call last):\n  File \"x.py\", line 3, in test\n"
            f"    boom()\n{last_line}\n")


def test_a_new_pattern_matches_the_same_error_with_other_values_only():
    first = traceback_of("ConnectionError: device 'dev1' at 0x7f3a2b10 refused port 22 "
                         "after 3.5 s")
    pattern = pattern_for(first)
    assert pattern_problem(pattern) is None
    again = traceback_of("ConnectionError: device 'dev27' at 0xdeadbeef refused port 8022 "
                         "after 12 s")
    other = traceback_of("ConnectionError: device 'dev1' at 0x7f3a2b10 timed out")
    assert re.search(pattern, tail(again), re.MULTILINE)
    assert not re.search(pattern, tail(other), re.MULTILINE)
    assert pattern_for(again) == pattern


def test_a_pattern_from_hostile_or_huge_text_is_bounded_and_matches_it_again():
    hostile = traceback_of(f"AssertionError: {outcomes.HOSTILE}")
    pattern = pattern_for(hostile)
    assert pattern_problem(pattern) is None
    assert re.search(pattern, tail(hostile), re.MULTILINE)
    huge = traceback_of("ValueError: " + "x" * (1024 * 1024))
    pattern = pattern_for(huge)
    assert len(pattern) < 400 and re.search(pattern, tail(huge), re.MULTILINE)
    assert len(tail(huge)) == MATCH_LIMIT


def test_a_last_line_with_nothing_to_tell_errors_apart_makes_no_pattern():
    assert pattern_for(traceback_of("42")) is None
    assert pattern_for("") is None


def test_patterns_that_do_not_compile_or_backtrack_for_ever_are_refused():
    assert "not a valid regular expression" in pattern_problem("(unclosed")
    assert "(a+)+" in pattern_problem(CATASTROPHIC)
    assert pattern_problem("") and pattern_problem("x" * 3000)
    assert pattern_problem(r"Timeout after \d+ s") is None


# --- the model -----------------------------------------------------------------

def test_signatures_are_recorded_once_per_pattern_and_count_hits(app):
    with app.app_context():
        session = db.session()
        first, created = record_signature(session, name="refused", pattern="refused \\d+")
        again, created_again = record_signature(session, name="other name",
                                                pattern="refused \\d+")
        assert (created, created_again) == (True, False)
        assert again["id"] == first["id"] and again["hit_count"] == 2
        assert count_hit(session, first["id"])["hit_count"] == 3
        assert count_hit(session, first["id"] + 1000) is None
        [stored] = all_signatures(session)
        assert stored["name"] == "refused" and stored["last_seen"] >= stored["created"]


# --- the admin site ----------------------------------------------------------------

def test_admin_edits_a_signature_and_is_told_when_its_pattern_is_bad(app, admin_client):
    url = "/admin/signatures/new/"
    data = {"name": "device refused", "pattern": "(refused", "link": ""}
    bad = admin_client.post(url, data={**data, "csrf_token": csrf_token(admin_client, url)})
    assert bad.status_code == 200
    page = bad.get_data(as_text=True)
    assert "The pattern is not a valid regular expression" in page
    slow = admin_client.post(url, data={**data, "pattern": CATASTROPHIC,
                                        "csrf_token": csrf_token(admin_client, url)})
    assert "which can take forever" in slow.get_data(as_text=True)
    no_csrf = admin_client.post(url, data={**data, "pattern": "refused"})
    assert no_csrf.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(ErrorSignature)) is None

    good = admin_client.post(url, data={
        **data, "pattern": r"refused port \d+", "link": "https://bugs.example/1",
        "csrf_token": csrf_token(admin_client, url)})
    assert good.status_code == 302
    with app.app_context():
        stored = db.session.scalar(select(ErrorSignature))
        assert (stored.pattern, stored.link) == (r"refused port \d+",
                                                 "https://bugs.example/1")
        signature_id = stored.id
    edit = f"/admin/signatures/edit/?id={signature_id}"
    edited = admin_client.post(edit, data={
        "name": "device refused", "pattern": r"refused (port|socket) \d+",
        "link": "https://bugs.example/2", "csrf_token": csrf_token(admin_client, edit)})
    assert edited.status_code == 302
    listing = admin_client.get("/admin/signatures/").get_data(as_text=True)
    assert "https://bugs.example/2" in listing


# --- the API ----------------------------------------------------------------------

def test_api_lists_records_and_counts_signatures(app):
    api = api_for(app, "runner")
    assert api.get("/signatures").json == {"signatures": []}
    created = api.post("/signatures", {"name": "refused", "pattern": r"refused \d+"})
    assert created.status_code == 201 and created.json["hit_count"] == 1
    same = api.post("/signatures", {"pattern": r"refused \d+"})
    assert same.status_code == 200 and same.json["id"] == created.json["id"]
    hit = api.post(f"/signatures/{created.json['id']}/hits")
    assert hit.status_code == 200 and hit.json["hit_count"] == 3
    [listed] = api.get("/signatures").json["signatures"]
    assert listed["pattern"] == r"refused \d+" and listed["link"] == ""
    assert api.post("/signatures/99999/hits").status_code == 404
    # A pattern made from hostile text is stored as it is, on either database.
    hostile = pattern_for(traceback_of(f"AssertionError: {outcomes.HOSTILE}"))
    stored = api.post("/signatures", {"name": "hostile", "pattern": hostile})
    assert stored.status_code == 201 and stored.json["pattern"] == hostile


def test_api_refuses_bad_signatures_with_a_reason(app):
    api = api_for(app, "runner")
    for body, words in (({"pattern": "(refused"}, "not a valid regular expression"),
                        ({"pattern": CATASTROPHIC}, "take forever"),
                        ({"pattern": "x\x00y"}, "NUL"),
                        ({"pattern": "x", "link": "y" * 600}, "'link'"),
                        ({"name": "no pattern"}, "'pattern' is required"),
                        ({"pattern": 3}, "must be a string")):
        response = api.post("/signatures", body)
        assert response.status_code == 400, body
        assert words in response.json["message"], response.json
    anonymous = app.test_client().get("/api/v1/signatures")
    assert anonymous.status_code == 401
    assert api.get("/signatures").json == {"signatures": []}


# --- the handler -----------------------------------------------------------------

def signature_run(run_config, tests=None):
    stream = io.StringIO()
    report = run(tests or outcomes.TESTS, run_config,
                 RunOptions(outputs=["signature", Keeper], name="sig"), stream=stream)
    return report, stream.getvalue(), {r.name: r for r in Keeper.last.run.tests()}


FAILED = ("ProblemCase.test_fails", "ProblemCase.test_errors",
          "HostileCase.test_hostile_failure", "HostileCase.test_huge_traceback")


def stored_signatures(run_config) -> list[dict]:
    engine = create_engine(run_config.embedded_database_url)
    try:
        with Session(engine) as session:
            return all_signatures(session)
    finally:
        engine.dispose()


def link_first(run_config) -> dict:
    """An admin links the signature of test_fails to its bug."""
    engine = create_engine(run_config.embedded_database_url)
    try:
        with Session(engine) as session:
            found = session.scalar(select(ErrorSignature).where(
                ErrorSignature.name.like("AssertionError: 1 != 2%")))
            found.link = "https://bugs.example/42"
            session.commit()
            return found.to_dict()
    finally:
        engine.dispose()


def test_new_errors_are_recorded_then_known_with_their_links(config):
    # config: embedded, then the real server over HTTP on the same database.
    report, out, records = signature_run(config)
    assert report.exit_code == 1
    stored = stored_signatures(config)
    assert len(stored) == len(FAILED)
    assert all(record.signatures == [] for record in records.values())
    assert out.count("new error signature recorded") == len(FAILED)

    linked = link_first(config)
    report, out, records = signature_run(config)
    assert report.exit_code == 1
    for name in FAILED:
        assert len(records[name].signatures) == 1, name
    assert records["ProblemCase.test_fails"].signatures == [
        {"name": linked["name"], "pattern": linked["pattern"],
         "link": "https://bugs.example/42"}]
    assert "https://bugs.example/42" in records["ProblemCase.test_fails"].log_text()
    assert "known error" in out and "https://bugs.example/42" in out
    assert "new error signature" not in out
    assert all(not records[name].signatures for name in records if name not in FAILED)
    after = {s["id"]: s for s in stored_signatures(config)}
    assert len(after) == len(FAILED)
    assert after[linked["id"]]["hit_count"] == 2
    assert after[linked["id"]]["last_seen"] >= linked["last_seen"]


def test_an_unreachable_server_is_said_once_and_the_run_goes_on(lab, capsys):
    unreachable = load_config(overrides={"host": "127.0.0.1", "port": 9, "token": "x"})
    started = time.monotonic()
    report, out, records = signature_run(unreachable, tests=[outcomes.ProblemCase])
    err = capsys.readouterr().err
    assert err.count("rotest: signature: cannot load the error signatures") == 1
    assert report.exit_code == 1
    assert records["ProblemCase.test_fails"].outcome == "failure"
    assert time.monotonic() - started < 20


def test_a_pattern_that_would_backtrack_for_ever_is_skipped(lab, workdir, tmp_path):
    run_config = load_config()
    engine = create_engine(run_config.embedded_database_url)
    with Session(engine) as session:  # straight into the database: no checks
        session.add(ErrorSignature(name="slow", pattern=CATASTROPHIC, link=""))
        session.commit()
    engine.dispose()
    result = subprocess.run(
        [*ROTEST, "run", str(SAMPLES / "chatty.py"), "-o", "signature"],
        env=cli_env(workdir), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "error signature 'slow' is skipped" in result.stderr
    assert "Traceback" not in result.stderr
    assert "new error signature recorded" in result.stdout
