"""``rotest run --shard K/N --run-id ID``: shards as separate ``rotest run``
processes, on the embedded SQLite of one machine and against gunicorn on
PostgreSQL. Their tests are disjoint and together the unsharded run's; the
split stored under the run id holds while the history changes; ``-l``
shows every shard's expected time; ``--delta`` reads all the shards of a
run; two shards that want one device wait for each other in the queue.

Which test ran where is read from the sample's notes: each shard process
has its own ``ROTEST_SAMPLE_DIR``."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from rotest_app.engine import history, open_engine
from rotest_app.engine.settings import default_database_url
from rotest_core.embedded_db import prepare_database
from rotest_core.store.embedded import local_user
from rotest_core.result import test_path as path_of
from rotest_core.runner import build_tree
from rotest_core.suite import iter_cases
from runtime_samples import shard_module_fixture, shard_samples
from runtime_samples.fixtures import ROTEST, TESTS, cli_env, workdir  # noqa: F401
from server_process import ROOT, GunicornServer, server_env
from test_server_gunicorn import seed

SAMPLES = [str(TESTS / "runtime_samples" / "shard_samples.py"),
           str(TESTS / "runtime_samples" / "shard_module_fixture.py")]
NOT_DEVICES = ["-f", "not DeviceCase"]
M = shard_samples.__name__


def start(env: dict, sample_dir: Path, *args: str) -> subprocess.Popen:
    sample_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([*ROTEST, "run", *SAMPLES, "-n", "nightly", *args],
                            env={**env, "ROTEST_SAMPLE_DIR": str(sample_dir)},
                            cwd=sample_dir.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def rotest(env: dict, sample_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return finish(start(env, sample_dir, *args))


def noted(sample_dir: Path) -> set[str]:
    if not sample_dir.exists():
        return set()
    return {path.name for path in sample_dir.iterdir()} - {"steps.log"}  # the device's


def shards_ran(env: dict, folder: Path, count: int, *args: str) -> list[set[str]]:
    """Run shards 1..count at once, as separate processes; what each ran."""
    processes = [start(env, folder / f"shard{index}", "--shard", f"{index}/{count}", *args)
                 for index in range(1, count + 1)]
    for index, process in enumerate(processes, 1):
        done = finish(process)
        assert done.returncode == 0, f"shard {index}: {done.stdout}\n{done.stderr}"
    return [noted(folder / f"shard{index}") for index in range(1, count + 1)]


def assert_partition(shards: list[set[str]], everything: set[str]) -> None:
    assert set().union(*shards) == everything
    assert sum(len(shard) for shard in shards) == len(everything)  # none twice


def leaf_paths(filter_out_devices: bool = True) -> list[str]:
    classes = [*shard_samples.TESTS, shard_module_fixture.FirstModuleCase,
               shard_module_fixture.SecondModuleCase]
    return [path_of(case) for case in iter_cases(build_tree(classes, "nightly"))]


def record_history(database_url: str, seconds: dict[str, float]) -> None:
    """A finished run of 'nightly' whose tests took ``seconds``."""
    engine = open_engine(database_url)
    try:
        with Session(engine) as db:
            user = local_user(db)
            run = history.start_run(db, user, name="nightly")
            history.add_records(db, user, run["id"], [
                {"path": path, "kind": "case", "outcome": "success", "duration": value}
                for path, value in seconds.items()])
            history.finish_run(db, user, run["id"])
    finally:
        engine.dispose()


def group(database_url: str, run_group: str) -> dict:
    engine = open_engine(database_url)
    try:
        with Session(engine) as db:
            return history.get_run_group(db, run_group)
    finally:
        engine.dispose()


@pytest.fixture
def embedded(workdir):  # noqa: F811 - the fixture
    """The environment of ``rotest run`` on the embedded database of ``workdir``."""
    url = default_database_url(str(workdir))
    prepare_database(url, ["lab_plugin"])
    return cli_env(workdir), url


def test_shards_on_one_machine_split_the_run_disjointly_and_completely(embedded, tmp_path):
    env, url = embedded
    whole = rotest(env, tmp_path / "whole", *NOT_DEVICES, "-o", "history")
    assert whole.returncode == 0, whole.stderr
    everything = noted(tmp_path / "whole")
    assert len(everything) == 22  # 20 cases and the flow's 2 blocks
    # Each shard in two worker processes (-p) too.
    shards = shards_ran(env, tmp_path / "r1", 3, *NOT_DEVICES, "--run-id", "build-1",
                        "-o", "history", "-p", "2")
    assert_partition(shards, everything)
    for whole_unit in ("FixtureCase", "SharedCase", "SampleFlow", "ModuleCase"):
        assert sum(any(whole_unit in name for name in shard) for shard in shards) == 1
    recorded = group(url, "build-1")
    assert [(run["shard"], run["shards"]) for run in recorded["runs"]] == \
        [(1, 3), (2, 3), (3, 3)]
    assert recorded["counts"]["success"] == 22 and recorded["status"] == "passed"
    assert recorded["missing_shards"] == []


def test_the_plan_stored_under_the_run_id_holds_while_the_history_changes(
        embedded, tmp_path):
    env, url = embedded
    paths = leaf_paths()
    record_history(url, {path: (60.0 if path.endswith("test_00") else 1.0)
                         for path in paths})
    first = rotest(env, tmp_path / "a1", *NOT_DEVICES, "--shard", "1/2", "--run-id", "b2",
                   "-o", "history")
    assert first.returncode == 0, first.stderr
    assert "by past durations; run id 'b2': the plan its first shard stored" in first.stdout
    # Shard 1 finished and wrote its durations; another run changes them more.
    record_history(url, {path: (90.0 if path.endswith(("test_05", "test_06")) else 0.5)
                         for path in paths})
    # Split by the history as it is now, shard 2 would take other tests...
    listed = rotest(env, tmp_path / "listing", *NOT_DEVICES, "-l", "--shard", "2/2",
                    "--run-id", "b3")
    now = {line.strip() for line in listed.stdout.splitlines()
           if re.fullmatch(r"  \w+Case\.test_\w+", line)}
    second = rotest(env, tmp_path / "a2", *NOT_DEVICES, "--shard", "2/2", "--run-id", "b2",
                    "-o", "history")
    assert second.returncode == 0, second.stderr
    ran_second = noted(tmp_path / "a2")
    cases_second = {".".join(name.split(".")[-2:]) for name in ran_second
                    if "Case.test_" in name}
    assert now and cases_second and now != cases_second
    # ... but it follows the plan shard 1 stored: together they ran each test once.
    everything = set(noted(tmp_path / "a1")) | ran_second
    assert len(everything) == 22 and not noted(tmp_path / "a1") & ran_second
    # And -l of run id b2 shows that plan, what shard 2 ran, not the history's now.
    relisted = rotest(env, tmp_path / "relisting", *NOT_DEVICES, "-l", "--shard", "2/2",
                      "--run-id", "b2")
    assert "the plan its first shard stored" in relisted.stdout
    assert set(re.findall(r"^\s+(\w+Case\.test_\w+)$", relisted.stdout, re.M)) \
        == cases_second


def test_listing_a_shard_shows_every_shards_expected_time(embedded, tmp_path):
    env, url = embedded
    record_history(url, {path: (10.0 if "PlainCase" in path else 1.0)
                         for path in leaf_paths()})
    listings = [rotest(env, tmp_path / f"l{n}", *NOT_DEVICES, "-l", "--shard", "2/3",
                       "--run-id", "b4") for n in range(2)]
    assert listings[0].returncode == 0, listings[0].stderr
    assert listings[0].stdout == listings[1].stdout  # two processes, one split
    totals = re.findall(r"(\d)/3: (\d+) test\(s\), expected ([\d.]+) s(.*)", listings[0].stdout)
    assert [number for number, *_ in totals] == ["1", "2", "3"]
    assert [mark.strip() for *_, mark in totals] == ["", "<- this shard", ""]
    seconds = [float(value) for _, _, value, _ in totals]
    assert sum(seconds) == pytest.approx(12 * 10.0 + 10 * 1.0, abs=0.5)
    assert max(seconds) / (sum(seconds) / 3) < 1.15  # balanced by time
    # Without history, by count; without --run-id too, with a note on stderr.
    counted = rotest(env, tmp_path / "l3", *NOT_DEVICES, "-l", "--shard", "1/3")
    assert "by test count: no --run-id" in counted.stdout
    assert "--shard without --run-id" in counted.stderr
    assert re.findall(r"\d/3: (\d+) test\(s\)(?:  <- this shard)?$", counted.stdout,
                      re.M) == ["8", "7", "7"]
    assert not noted(tmp_path / "l0")  # a listing runs nothing


@pytest.mark.parametrize("args, words", [
    (["--shard", "0/4"], "K must be from 1 to 4"),
    (["--shard", "5/4"], "K must be from 1 to 4"),
    (["--shard", "x"], "give K/N"),
    (["--shard", "1/2", "--run-id", " padded"], "bad --run-id"),
])
def test_bad_shards_and_run_ids_are_refused(embedded, tmp_path, args, words):
    env, _ = embedded
    done = rotest(env, tmp_path / "bad", *args)
    assert done.returncode == 2 and words in done.stderr and not noted(tmp_path / "bad")


def test_shards_of_one_run_id_must_split_the_same_tests(embedded, tmp_path):
    env, _ = embedded
    first = rotest(env, tmp_path / "m1", *NOT_DEVICES, "--shard", "1/2", "--run-id", "b5")
    assert first.returncode == 0, first.stderr
    other_n = rotest(env, tmp_path / "m2", *NOT_DEVICES, "--shard", "2/3", "--run-id", "b5")
    assert other_n.returncode == 2
    assert "was split into 2 shards by its first shard, not 3" in other_n.stderr
    other_tests = rotest(env, tmp_path / "m3", "-f", "PlainCase", "--shard", "2/2",
                         "--run-id", "b5")
    assert other_tests.returncode == 2
    assert "do not have the same tests" in other_tests.stderr
    assert not noted(tmp_path / "m2") and not noted(tmp_path / "m3")


def test_delta_runs_again_what_failed_in_any_shard(embedded, tmp_path):
    env, url = embedded
    failing = {**env, "SHARD_FAILS": "test_03,test_fixture_b"}
    processes = [start(failing, tmp_path / f"f{k}", *NOT_DEVICES, "--shard", f"{k}/2",
                       "--run-id", "d1", "-o", "history") for k in (1, 2)]
    codes = [finish(process).returncode for process in processes]
    assert sorted(codes) in ([0, 1], [1, 1])
    failed = {f"{M}.PlainCase.test_03", f"{M}.FixtureCase.test_fixture_b"}
    # The delta run's shards: only what failed, shared between them.
    shards = shards_ran(env, tmp_path / "d2", 2, *NOT_DEVICES, "--delta", "1",
                        "--run-id", "d2")
    assert_partition(shards, failed)
    # --delta-of names the run id to start from, whatever ran since.
    again = rotest(env, tmp_path / "d3", *NOT_DEVICES, "--delta-of", "d1")
    assert again.returncode == 0, again.stderr
    assert noted(tmp_path / "d3") == failed and "with its 2 shard(s) of run id 'd1'" in \
        again.stdout
    # The newest run (d2's shards, on top of d1's) passed everything.
    done = rotest(env, tmp_path / "d4", *NOT_DEVICES, "--delta", "1")
    assert done.returncode == 0 and "nothing to run again" in done.stdout
    # Sharded, a retry needs a run id: its shards must not start from one another.
    refused = rotest(env, tmp_path / "d5", "--delta", "1", "--shard", "1/2")
    assert refused.returncode == 2 and "--delta with --shard needs --run-id" in \
        refused.stderr


@pytest.fixture
def gunicorn_on_postgres(postgres_url, tmp_path):
    tokens = seed(postgres_url, usernames=("ci",), devices=3)
    env = server_env(postgres_url, tmp_path / "server")
    with GunicornServer(env, workers=2, log=tmp_path / "gunicorn.log", cwd=ROOT) as running:
        running.token = tokens["ci"]
        running.database_url = postgres_url
        yield running


def test_shards_against_gunicorn_share_one_device_through_the_queue(
        gunicorn_on_postgres, workdir, tmp_path):  # noqa: F811 - the fixture
    server = gunicorn_on_postgres
    # A shard waits for a held device as any client does: as long as its
    # resource_request_timeout lets it (the default, 0, does not wait).
    env = cli_env(workdir, ROTEST_HOST="127.0.0.1", ROTEST_PORT=str(server.port),
                  ROTEST_TOKEN=server.token, ROTEST_RESOURCE_REQUEST_TIMEOUT="60")
    # By count, the device's four tests go two to each shard: both want dev1.
    shards = shards_ran(env, tmp_path / "g", 2, "-f", "DeviceCase or FixtureCase",
                        "--run-id", "jenkins-nightly-7", "-o", "history,junit")
    everything = {f"{M}.DeviceCase.test_dev_{x}" for x in "abcd"} | {
        f"{M}.FixtureCase.test_fixture_{x}" for x in "abc"}
    assert_partition(shards, everything)
    holds = []
    for index, shard in enumerate(shards):
        assert any("DeviceCase" in name for name in shard)
        for name in shard:
            if "DeviceCase" in name:
                began, ended = map(float, (tmp_path / "g" / f"shard{index + 1}" / name)
                                   .read_text().split()[1:])
                holds.append((began, ended, index))
    holds.sort()
    for (_, end, first), (begin, _, second) in zip(holds, holds[1:]):
        assert begin >= end or first == second, "dev1 was granted to two shards at once"
    recorded = group(server.database_url, "jenkins-nightly-7")
    assert [(run["shard"], run["shards"]) for run in recorded["runs"]] == [(1, 2), (2, 2)]
    assert recorded["counts"]["success"] == 7 and recorded["status"] == "passed"
    # Nothing left held.
    from test_server_gunicorn import holders
    assert not any(holders(server.database_url).values())
    # One JUnit file for the whole run, from the shards' work directory.
    merged = subprocess.run([*ROTEST, "report", "merge", str(workdir), "-o",
                             str(tmp_path / "merged"), "--outputs", "junit"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    from test_report_merge import junit_cases
    cases = junit_cases(tmp_path / "merged" / "junit.xml")
    assert {(cls, name) for cls, name, outcome in cases} == {
        tuple(path.rsplit(".", 1)) for path in everything}
    assert {outcome for *_, outcome in cases} == {"passed"} and sum(cases.values()) == 7


def test_the_run_pages_show_one_run_with_its_shards(app, tmp_path):
    from test_admin import log_in
    from test_run_pages import add_person
    with app.app_context():
        from rotest_app.models import db
        user = local_user(db.session())
        runs = [history.start_run(db.session(), user, name="nightly", run_group="ci/b 9",
                                  shard=k, shards=3) for k in (1, 2)]
        for run, outcome in zip(runs, ("success", "failure")):
            history.add_records(db.session(), user, run["id"], [
                {"path": f"T.test_{run['id']}", "kind": "case", "outcome": outcome}])
            history.finish_run(db.session(), user, run["id"])
        alone = history.start_run(db.session(), user, name="nightly")
    add_person(app)
    client = app.test_client()
    assert log_in(client, "viewer").status_code == 302
    page = client.get("/runs").get_data(as_text=True)
    row = re.search(r'<tr class="run-group">(.*?)</tr>', page, re.S).group(1)
    assert "ci/b 9" in row and "(2 of 3 shards" in row and 'class="failed">failed' in row
    assert "1 shard not recorded" in row
    assert re.findall(r'<td class="num">(\d+)</td>', row)[:2] == ["0", "1"]  # error, failure
    assert f'href="/runs/{runs[0]["id"]}">1/3</a>' in row
    assert page.count('<tr class="run">') == 1 and f'href="/runs/{alone["id"]}"' in page
    assert "2 runs;" in page  # the group is one entry
    link = re.search(r'href="(/runs/group/[^"]+)"', row).group(1)
    one = client.get(link)
    assert one.status_code == 200
    text = one.get_data(as_text=True)
    assert text.count('<tr class="shard">') == 2 and "shard 3 not recorded" in text
    assert client.get("/runs/group/nothing-here").status_code == 404


def test_the_api_keeps_the_first_plan_and_reads_a_run_ids_shards(app):
    from api_helpers import api_for
    api = api_for(app, "ci")
    plan = {"run_group": "gh-99-1", "name": "nightly", "shards": 2,
            "fingerprint": "a" * 64, "plan": {"seconds": [1.5, None], "base": None}}
    assert api.get("/runs/shard-plans?run_group=gh-99-1").status_code == 404
    assert api.get("/runs/shard-plans").status_code == 400
    first = api.post("/runs/shard-plans", plan)
    assert first.status_code == 201 and first.json["plan"]["seconds"] == [1.5, None]
    assert api.get("/runs/shard-plans?run_group=gh-99-1").json == first.json
    later = api.post("/runs/shard-plans", {**plan, "shards": 3, "plan": {"seconds": []}})
    assert later.status_code == 200 and later.json["shards"] == 2  # the first one holds
    assert later.json["plan"] == plan["plan"]
    bad = api.post("/runs/shard-plans", {**plan, "fingerprint": "xyz"})
    assert bad.status_code == 400 and "fingerprint" in bad.json["message"]
    started = api.post("/runs", {"name": "nightly", "run_group": "gh-99-1", "shard": 2,
                                 "shards": 2})
    assert started.status_code == 201
    assert (started.json["run_group"], started.json["shard"], started.json["shards"]) == \
        ("gh-99-1", 2, 2)
    assert api.post("/runs", {"name": "nightly", "shard": 1}).status_code == 400
    api.post(f"/runs/{started.json['id']}/records", {"records": [
        {"path": "T.test_a", "kind": "case", "outcome": "failure", "duration": 2.0}]})
    api.post(f"/runs/{started.json['id']}/finish", {})
    found = api.get("/runs/group-results?name=nightly&run_group=gh-99-1")
    assert found.status_code == 200 and found.json["not_passed"] == ["T.test_a"]
    assert found.json["runs"] == [started.json["id"]]
    assert api.get("/runs/group-results?name=nightly&run_group=nope").status_code == 404
    # This run id's own shards are passed over when it looks for its base.
    own = api.get("/runs/group-results?name=nightly&exclude_group=gh-99-1")
    assert own.status_code == 200 and own.json["run"] is None
    durations = api.get("/runs/recent-durations?name=nightly").json["durations"]
    assert durations == {"T.test_a": pytest.approx(2.0, abs=0.5)}


def test_a_tests_recent_duration_counts_the_set_up_before_it(database_url):
    """setUpClass and testresources set-ups run between tests: their time
    counts for the test after them; a run id's shards count as one run."""
    from rotest_app.models import db as models
    engine = open_engine(database_url)
    models.metadata.create_all(engine)
    at = "2026-12-05T08:00:{:02d}+00:00".format
    try:
        with Session(engine) as db:
            user = local_user(db)
            for shard, offset in ((1, 0), (2, 10)):  # two shards of run id r-1
                run = history.start_run(db, user, name="nightly", start=at(offset),
                                        run_group="r-1", shard=shard, shards=2)
                history.add_records(db, user, run["id"], [
                    {"path": "Suite", "kind": "suite", "start": at(offset + 1)},
                    # 5 s of setUpClass, then the first test's own second.
                    {"path": f"Suite/C.test_{shard}a", "parent": "Suite", "kind": "case",
                     "start": at(offset + 6), "end": at(offset + 7), "duration": 1.0},
                    {"path": f"Suite/C.test_{shard}b", "parent": "Suite", "kind": "case",
                     "start": at(offset + 7), "end": at(offset + 9), "duration": 2.0}])
                history.finish_run(db, user, run["id"], end=at(offset + 9))
            for newer in range(5):  # five lone runs after it
                run = history.start_run(db, user, name="nightly", start=at(30 + newer))
                history.add_records(db, user, run["id"], [
                    {"path": "Suite/C.test_1b", "kind": "case", "duration": 100.0}])
                history.finish_run(db, user, run["id"], end=at(31 + newer))
            assert history.recent_durations(db, "nightly") == {"Suite/C.test_1b": 100.0}
            # Six runs back: the two shards are the sixth run, both of them.
            found = history.recent_durations(db, "nightly", runs=6)
    finally:
        engine.dispose()
    assert found["Suite/C.test_1a"] == pytest.approx(6.0)  # 5 s set-up + 1 s
    assert found["Suite/C.test_2a"] == pytest.approx(6.0)
    assert found["Suite/C.test_2b"] == pytest.approx(2.0)
    assert found["Suite/C.test_1b"] == pytest.approx((2.0 + 5 * 100.0) / 6)


def test_a_run_that_ends_while_another_sends_its_journal_is_not_aborted(
        embedded, tmp_path, monkeypatch):
    """Shards on one machine share a work directory: each sends the others'
    unsent journals when it starts. A shard that wrote its finish line and
    exited between that send and the check of its process keeps its status."""
    from rotest_core import outbox
    from rotest_core.config import load_config
    from rotest_core.store import client_for
    env, url = embedded
    done = rotest(env, tmp_path / "ended", "-f", "PlainCase", "-o", "history")
    assert done.returncode == 0, done.stderr
    config = load_config()
    journal = next((Path(config.workdir) / "runs").glob("*/journal.jsonl"))
    whole = journal.read_bytes()
    finish_at = whole.rindex(b'{"finish"')
    # As another shard found it: the journal up to before the finish line.
    journal.write_bytes(whole[:finish_at])
    (journal.with_name("journal.sent")).write_text('{"offset": 0, "finished": false}')
    outbox.outbox_add(config, journal)

    def wrote_its_finish_and_died(pid):
        journal.write_bytes(whole)
        return False
    monkeypatch.setattr(outbox, "process_alive", wrote_its_finish_and_died)
    store = client_for(config)
    try:
        outbox.push(config, store, say=lambda text: None)
        assert store.group_results("nightly")["run"]["status"] == "passed"
    finally:
        store.close()
