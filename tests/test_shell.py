"""``rotest shell`` in a subprocess, its console fed through a pipe: lock,
run_test, shared_data, and everything released at the end."""
from __future__ import annotations

import subprocess
import textwrap

from rotest_app.engine.settings import default_database_url
from runtime_samples.fixtures import ROTEST, cli_env, lab, workdir  # noqa: F401 - fixtures


def shell(workdir, commands: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ROTEST, "shell", "--plain", "-m", "runtime_samples.lab",
                           "-m", "runtime_samples.flows", *args],
                          input=textwrap.dedent(commands), env=cli_env(workdir),
                          capture_output=True, text=True, timeout=120)


def test_lock_run_and_share_then_release_everything_on_ctrl_d(lab, workdir):
    url = default_database_url(str(workdir))
    finished = shell(workdir, f"""
        from engine_helpers import Lab
        held = lambda: sorted(n for n, s in Lab({url!r}, create=False).holders().items() if s)
        dev = lock(Device, share_as="dev", name="dev1")
        print("LOCKED", dev.name, held())
        result = run_test(AddBlock, a=2)
        print("ADDED", result.wasSuccessful(), shared_data["total"])
        print("READ", run_test(ReadBlock, value=Pipe("total")).wasSuccessful())
        # The flow's request 'dev' is the shell's dev1: nothing more to lock.
        print("FLOW", run_test(DeviceFlow).wasSuccessful(), held())
        del shared_data["dev"]
        print("BUSY", run_test(DeviceFlow).wasSuccessful())
        print("CASE", run_test(FailBlock).wasSuccessful())
    """)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    out = finished.stdout
    assert "LOCKED dev1 ['dev1']" in out
    assert "ADDED True 3" in out              # b's default 1; the output is shared
    assert "READ True" in out
    assert "FLOW True ['dev1']" in out        # dev2 of the flow released after it
    assert "BUSY False" in out                # dev1 is the shell's: the flow cannot lock it
    assert "ERROR: DeviceFlow" in out         # the flow's own error, in the report
    assert "CASE False" in out
    assert "FailBlock ... FAIL" in out        # run_test prints the tree
    assert lab.holders() == {"dev1": None, "dev2": None}


def test_exit_releases_too(lab, workdir):
    finished = shell(workdir, """
        lock(Device, name="dev2")
        exit()
        print("NOT HERE")
    """)
    assert finished.returncode == 0, finished.stderr
    assert "NOT HERE" not in finished.stdout
    assert lab.holders() == {"dev1": None, "dev2": None}


def test_the_namespace_has_the_plugin_and_module_classes(lab, workdir):
    finished = shell(workdir, """
        names = dir()
        print(sorted(n for n in ("Device", "Pinger", "DeviceFlow", "AddBlock", "lock",
                                 "run_test", "shared_data", "release") if n in names))
        print("TestCase" in names, "BaseResource" in names)
    """)
    assert finished.returncode == 0, finished.stderr
    assert ("['AddBlock', 'Device', 'DeviceFlow', 'Pinger', 'lock', 'release', "
            "'run_test', 'shared_data']") in finished.stdout
    assert "False False" in finished.stdout  # the framework's own bases are left out


def test_a_module_that_cannot_be_imported_is_said_plainly(workdir):
    finished = subprocess.run([*ROTEST, "shell", "--plain", "-m", "no_such_module"],
                              input="", env=cli_env(workdir), capture_output=True,
                              text=True, timeout=60)
    assert finished.returncode == 2
    assert "cannot import a module given with -m: No module named 'no_such_module'" \
        in finished.stderr
