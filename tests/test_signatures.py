"""Error signatures: the model, the admin form, the API (SQLite and
PostgreSQL), and the signature handler on real runs, embedded and against
the real server over HTTP."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time

import pytest
import requests
from hypothesis import Phase, given, settings, strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from api_helpers import add_user, api_for
from rotest_app.models import ErrorSignature, db
from rotest_app.models.signatures import (all_signatures, compile_pattern, count_hit,
                                   pattern_problem, record_signature)
from rotest_reports.signature import MATCH_LIMIT, pattern_for, tail
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import outcomes
from runtime_samples.fixtures import (ROTEST, SAMPLES, cli_env, config, lab,  # noqa: F401
                                      server, workdir)
from server_process import ThreadedServer
from test_admin import admin_client, csrf_token  # noqa: F401 - fixture
from test_report_record import Keeper

#: Patterns that backtrack for ever in Python's re on the failures of
#: runtime_samples/catastrophic.py; RE2 matches them in linear time.
COMMAS, BLANKS = r"(.*,){14}X", r"(\s|\s)*X"
#: What RE2 cannot match in linear time, so cannot be stored.
NOT_LINEAR = {r"(\w+) \1": "backreferences", r"refused(?= port)": "lookarounds",
              r"(?<!not )refused": "lookarounds", r"(?>a+)b": "atomic groups",
              r"a++b": "possessive"}
TOO_COMPLEX = r"(\w|\W){1000}X"


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
    assert compile_pattern(pattern).search(tail(again))
    assert not compile_pattern(pattern).search(tail(other))
    assert pattern_for(again) == pattern
    # Digits of other scripts are no \d to RE2: they stay literal.
    arabic = traceback_of("ConnectionError: device \u0663 refused port 22")
    assert compile_pattern(pattern_for(arabic)).search(tail(arabic))


def test_a_pattern_from_hostile_or_huge_text_is_bounded_and_matches_it_again():
    hostile = traceback_of(f"AssertionError: {outcomes.HOSTILE}")
    pattern = pattern_for(hostile)
    assert pattern_problem(pattern) is None
    assert compile_pattern(pattern).search(tail(hostile))
    huge = traceback_of("ValueError: " + "x" * (1024 * 1024))
    pattern = pattern_for(huge)
    assert len(pattern) < 400 and compile_pattern(pattern).search(tail(huge))
    assert len(tail(huge)) == MATCH_LIMIT
    # A line of numbers makes a long pattern: cut to fit, still finding it.
    numbers = traceback_of("ValueError: " + "1," * 150)
    pattern = pattern_for(numbers)
    assert pattern_problem(pattern) is None
    assert compile_pattern(pattern).search(tail(numbers))


def test_a_last_line_with_nothing_to_tell_errors_apart_makes_no_pattern():
    assert pattern_for(traceback_of("42")) is None
    assert pattern_for("") is None


def test_patterns_that_do_not_compile_or_need_backtracking_are_refused_with_why():
    assert "not a valid regular expression (missing )" in pattern_problem("(unclosed")
    for pattern, feature in NOT_LINEAR.items():
        problem = pattern_problem(pattern)
        assert "cannot be matched in linear time" in problem and feature in problem, \
            pattern
    assert "too complex" in pattern_problem(TOO_COMPLEX)
    assert "lone surrogate" in pattern_problem("refused \ud800")
    assert pattern_problem("") and pattern_problem("x" * 3000)
    for fine in (r"Timeout after \d+ s", COMMAS, BLANKS, r"(a+)+$", r"^\w+Error: .*\z"):
        assert pattern_problem(fine) is None, fine


def big_traceback(last_line: str) -> str:
    """A traceback of about 10 KB that ends with ``last_line``."""
    frames = "".join(f'  File "lab/step_{i}.py", line {i}, in step_{i}\n    run_{i}()\n'
                     for i in range(170))
    return f"Traceback (most recent call last):\n{frames}{last_line}\n"


def test_backtracking_patterns_match_as_they_say_on_a_10kb_traceback():
    commas = big_traceback("AssertionError: " + "a," * 40)
    blanks = big_traceback("AssertionError:" + " \t" * 2000)
    assert len(tail(commas)) > 9000 and len(tail(blanks)) == MATCH_LIMIT
    commas_x, blanks_x = (text.rstrip("\n") + "X" for text in (commas, blanks))
    cases = [(COMMAS, commas, None), (COMMAS, commas_x, len(tail(commas_x))),
             (COMMAS, big_traceback("a," * 13 + "X"), None),  # 14 commas needed
             (COMMAS, commas + "X", None),  # . does not cross lines
             (BLANKS, blanks, None), (BLANKS, blanks_x, len(tail(blanks_x))),
             (BLANKS, blanks + "X", len(tail(blanks + "X")))]  # \s does
    results = search_in_child([(pattern, text) for pattern, text, _ in cases])
    # Each match ends at the X, as the pattern says.
    assert [found and found[1] for found in results] == [end for *_, end in cases]


def search_in_child(searches: list[tuple[str, str]]) -> list[list[int] | None]:
    """Each pattern compiled and searched in its text's tail as the handler
    does, in a child process that must finish within a generous time (a
    backtracking engine would run for hours)."""
    script = ("import json, sys\n"
              "from rotest_app.models.signatures import compile_pattern\n"
              "from rotest_reports.signature import tail\n"
              "spans = []\n"
              "for pattern, text in json.load(sys.stdin):\n"
              "    found = compile_pattern(pattern).search(tail(text))\n"
              "    spans.append(found and list(found.span()))\n"
              "print(json.dumps(spans))\n")
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps(searches),
                            capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


#: Seconds a child that matches patterns, or a run, may take before it is
#: held to hang (they take one or two).
HANG_GUARD = 20

ATOMS = st.sampled_from([r".", r"\w", r"\s", r"\S", r"a", r",", r"[a,]", r"[^X]", r"\W",
                         r"(?:a|a)", r"(?:\s|\s)", r"(?:.|,)"])


def _nested(inner):
    return st.one_of(
        st.builds("(?:{})*".format, inner), st.builds("(?:{})+".format, inner),
        st.builds("(?:{}|{})".format, inner, inner),  # branches that overlap
        st.builds("{}{}".format, inner, inner),
        st.builds("(?:{}){{{}}}".format, inner, st.integers(2, 15)),
        st.builds("(?:{}(?:{})*)+".format, inner, inner))


#: Nested quantifiers and alternations of overlapping branches, ending in an
#: X: the shapes that make a backtracking engine try every way of matching.
CATASTROPHIC_BODIES = st.recursive(ATOMS, _nested, max_leaves=6)


# No shrinking: each step would start a child; the example is printed as is.
@settings(max_examples=3, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(CATASTROPHIC_BODIES, min_size=20, max_size=20, unique=True))
def test_a_generated_family_of_backtracking_patterns_matches_in_linear_time(bodies):
    texts = {"commas": big_traceback("AssertionError: " + "a, " * 40),
             "blanks": big_traceback("AssertionError:" + " \t\n" * 900),
             "letters": big_traceback("AssertionError: " + "aaaa" * 60 + "!")}
    searches, wanted = [], []
    for body in bodies:
        # (?:body)*X may repeat body no times: it matches where an X is, and
        # only there.
        pattern = f"(?:{body})*X"
        if pattern_problem(pattern):  # too complex for RE2's budget: refused
            assert "too complex" in pattern_problem(pattern), pattern
            continue
        for text in texts.values():
            searches += [(pattern, text), (pattern, text + "X")]
            wanted += [None, len(tail(text + "X"))]
    results = search_in_child(searches)
    assert [found and found[1] for found in results] == wanted


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_a_generated_pattern_compiles_with_re2_and_finds_its_own_error(last_line):
    text = traceback_of(f"RuntimeError: {last_line}")
    pattern = pattern_for(text)
    if pattern is not None:
        assert pattern_problem(pattern) is None, pattern
        assert compile_pattern(pattern).search(tail(text)), pattern


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
    slow = admin_client.post(url, data={**data, "pattern": r"(\w+) refused \1",
                                        "csrf_token": csrf_token(admin_client, url)})
    page = slow.get_data(as_text=True)
    assert "The pattern cannot be matched in linear time" in page
    assert "backreferences" in page
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
                        ({"pattern": r"refused(?= port)"}, "lookarounds"),
                        ({"pattern": r"(\w+) refused \1"}, "backreferences"),
                        ({"pattern": TOO_COMPLEX}, "too complex"),
                        ({"pattern": "refused \ud800"}, "unpaired surrogate"),
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


@pytest.mark.parametrize("mode", ["embedded", "remote"])
def test_a_run_matches_backtracking_patterns_and_skips_old_unmatchable_ones(
        mode, lab, workdir, tmp_path):
    """The attack of issue 24: (.*,){14}X and (\\s|\\s)*X stored by any
    token hung every run whose failure had 40 commas (or a run of blanks).
    Now the run finishes, each pattern recognises the failure it names, and a
    pattern RE2 cannot compile, stored before the checks, is skipped."""
    env = cli_env(workdir)
    if mode == "remote":
        http, token = request_server(lab, workdir)
        env.update(ROTEST_HOST="127.0.0.1", ROTEST_PORT=str(http.port),
                   ROTEST_TOKEN=token)
        for name, pattern in (("commas", COMMAS), ("blanks", BLANKS)):
            stored = requests.post(f"{http.url}/api/v1/signatures", timeout=10,
                                   json={"name": name, "pattern": pattern},
                                   headers={"Authorization": f"Bearer {token}"})
            assert stored.status_code == 201, stored.text
    else:
        http = None
        store_directly(lab.url, ("commas", COMMAS), ("blanks", BLANKS))
    store_directly(lab.url, ("old", r"(\w+) refused \1"))  # before the checks
    try:
        result = subprocess.run(
            [*ROTEST, "run", str(SAMPLES / "catastrophic.py"), "-o", "signature"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD)
    finally:
        if http is not None:
            http.stop()
    assert result.returncode == 1, result.stderr
    assert "error signature 'old' is skipped: the pattern cannot be matched in " \
           "linear time" in result.stderr
    assert "Traceback" not in result.stderr
    known = dict(re.findall(r"signature: (\w+\.\w+): known error '(\w+)'",
                            result.stdout))
    assert known == {"CommaCase.test_commas_then_x": "commas",
                     "BlankCase.test_blanks_then_x": "blanks"}, result.stdout
    assert result.stdout.count("new error signature recorded") == 2


def request_server(lab, workdir):
    """The real server over HTTP on the lab's database, and a user's token."""
    from rotest_app import create_app
    app = create_app({"database_url": lab.url, "plugins": ["lab_plugin"],
                      "workdir": str(workdir.parent / "server"), "secret_key": "test"})
    app.extensions["rotest_sweeper"].stop()
    return ThreadedServer(app), add_user(app, "teammate")


def store_directly(database_url: str, *signatures: tuple[str, str]) -> None:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            session.add_all(ErrorSignature(name=name, pattern=pattern, link="")
                            for name, pattern in signatures)
            session.commit()
    finally:
        engine.dispose()
