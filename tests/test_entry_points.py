"""The installed entry points, remembered between processes
(rotest_app.engine.entry_points): the same as importlib.metadata's, read
without importing it while nothing installed changed, read afresh when a
distribution comes, changes or goes, and never wrong for a broken cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROBE = """
import json, sys
from rotest_app.engine import entry_points
points = entry_points.read()
print(json.dumps({"metadata_imported": "importlib.metadata" in sys.modules,
                  "points": sorted([p.group, p.name, p.value] for p in points),
                  "ours": [p.value for p in points.select(group="rotest.test_probe")]}))
"""


@pytest.fixture
def site(tmp_path) -> Path:
    """A folder on the probe's search path, where a distribution can be
    'installed' by writing its metadata."""
    folder = tmp_path / "site"
    folder.mkdir()
    return folder


def probe(site: Path, cache: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache),
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def install(site: Path, value: str) -> Path:
    info = site / "probe_dist-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: probe-dist\nVersion: 1.0\n")
    path = info / "entry_points.txt"
    path.write_text(f"[rotest.test_probe]\nprobe = {value}\n")
    return path


def test_the_cache_answers_as_importlib_metadata_without_importing_it(site, tmp_path):
    cache = tmp_path / "cache"
    first = probe(site, cache)
    second = probe(site, cache)
    assert first["metadata_imported"] and not second["metadata_imported"]
    assert first["points"] == second["points"]
    from importlib.metadata import entry_points
    found = entry_points()
    ours = {(p.group, p.name, p.value) for g in found.groups for p in found.select(group=g)}
    assert {tuple(p) for p in second["points"]} >= {
        p for p in ours if p[1] in ("junit", "run") or p[0] == "rotest.result_handlers"}
    assert ["rotest.result_handlers", "junit", "rotest_reports.junit:JUnitHandler"] \
        in second["points"]


def test_a_distribution_that_comes_changes_or_goes_is_seen_at_once(site, tmp_path):
    cache = tmp_path / "cache"
    assert probe(site, cache)["ours"] == []
    path = install(site, "json:dumps")
    seen = probe(site, cache)
    assert seen["ours"] == ["json:dumps"] and seen["metadata_imported"]
    assert not probe(site, cache)["metadata_imported"]  # unchanged: from the cache
    time.sleep(0.01)  # a new modification time, even on coarse clocks
    path.write_text("[rotest.test_probe]\nprobe = json:loads\n")
    assert probe(site, cache)["ours"] == ["json:loads"]
    path.unlink()
    assert probe(site, cache)["ours"] == []


def test_a_broken_or_unwritable_cache_only_costs_time(site, tmp_path):
    cache = tmp_path / "cache"
    install(site, "json:dumps")
    probe(site, cache)
    [kept] = (cache / "rotest").iterdir()
    kept.write_bytes(b"\x00 not marshal")
    assert probe(site, cache)["ours"] == ["json:dumps"]
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    answer = probe(site, blocked)
    assert answer["ours"] == ["json:dumps"] and answer["metadata_imported"]


def test_an_entry_point_loads_what_it_names():
    from rotest_app.engine.entry_points import EntryPoint
    assert EntryPoint("x", "json:dumps", "g").load() is json.dumps
    assert EntryPoint("x", "os.path", "g").load() is os.path
    assert EntryPoint("x", "json.decoder:JSONDecoder.decode", "g").load() \
        is json.decoder.JSONDecoder.decode
