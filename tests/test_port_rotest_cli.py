"""Rotest's command line and settings, as its documentation writes them
(issue 20, items 3 and 5 to 8): ``rotest PATH``, ``-c`` as the run
configuration (and resource adapters, which read it), Rotest's setting
names, ``rotest shell``'s startup keys, and CLI plugins from a real
installed distribution. All through the console entry, in subprocesses."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from rotest_core.config import load_config
from runtime_samples.fixtures import (ROTEST, SAMPLES, TESTS, cli_env,  # noqa: F401 - fixtures
                                      lab, workdir)

PLAIN = str(SAMPLES / "plain_unittest.py")
ADAPTER = str(SAMPLES / "rotest_adapter.py")


@pytest.fixture
def rotest(workdir, tmp_path):
    """``rotest ARGS`` (no verb added) in a subprocess."""
    def invoke(*args: str, input: str | None = None, **env: str | None
               ) -> subprocess.CompletedProcess:
        environment = cli_env(workdir)
        for name, value in env.items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        return subprocess.run([*ROTEST, *args], env=environment, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, input=input)
    return invoke


# ---------------------------------------------------------------------------
# 20.6: rotest PATH... [OPTIONS]
# ---------------------------------------------------------------------------

def test_rotest_path_is_rotest_run_path(rotest):
    process = rotest(PLAIN, "-f", "test_add")
    assert process.returncode == 0, process.stdout + process.stderr
    assert "ArithmeticTest.test_add ... OK" in process.stdout and "Ran 1 test" in process.stdout
    assert rotest("run", PLAIN, "-f", "test_add").returncode == 0


def test_a_word_that_is_neither_a_command_nor_a_path_is_still_refused(rotest):
    process = rotest("no_such_file.py")
    assert process.returncode == 2 and "No such command 'no_such_file.py'" in process.stderr


# ---------------------------------------------------------------------------
# 20.5 and 20.3: -c is the run configuration; adapters read it
# ---------------------------------------------------------------------------

def test_run_config_is_self_config_and_chooses_the_adapters_class(rotest, tmp_path, workdir):
    config = tmp_path / "run_config.json"
    config.write_text(json.dumps({"project": "A", "run_name": "nightly"}))
    process = rotest(ADAPTER, "-c", str(config), "-o", "full")
    assert process.returncode == 0, process.stdout + process.stderr
    assert "case got ResourceA for project A" in process.stdout
    assert "block sees project A" in process.stdout
    (run_dir,) = (workdir / "runs").iterdir()
    assert run_dir.name.endswith("-nightly")  # run_name: the -n default
    config.write_text(json.dumps({"project": "B"}))
    process = rotest("run", ADAPTER, "--config", str(config), "-o", "full", "-n", "other")
    assert "case got ResourceB for project B" in process.stdout, process.stderr


def test_run_config_keys_are_defaults_the_command_line_overrides(rotest, tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"filter": "test_add", "list": True}))
    process = rotest(PLAIN, "-c", str(config))
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines() == ["AllTests", "  ArithmeticTest.test_add"]
    process = rotest(PLAIN, "-c", str(config), "-f", "test_subtract")
    assert process.stdout.splitlines() == ["AllTests", "  ArithmeticTest.test_subtract"]


def test_a_bad_run_config_is_one_line_that_names_the_key(rotest, tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"processes": "many"}))
    process = rotest(PLAIN, "-c", str(config))
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert "'processes'" in process.stderr and str(config) in process.stderr
    config.write_text("[1, 2]")
    assert "an object of keys" in rotest(PLAIN, "-c", str(config)).stderr


def test_an_adapter_without_its_config_key_says_which_adapter(rotest):
    process = rotest(ADAPTER)
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert "resource adapter 'res' (ResourceAdapter)" in process.stderr
    assert "KeyError" in process.stderr


def test_settings_moved_to_their_own_option(rotest, tmp_path, workdir):
    settings = tmp_path / "elsewhere.yml"
    settings.write_text(f"rotest:\n  workdir: {tmp_path / 'moved'}\n")
    process = rotest(PLAIN, "--settings", str(settings), "-f", "test_add",
                     ROTEST_WORKDIR=None)
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "moved" / "runs").is_dir()


# ---------------------------------------------------------------------------
# 20.7: Rotest's setting names
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, key, value, expected", [
    ("ROTEST_WORK_DIR", "workdir", "/tmp/rotest-jenkins", "/tmp/rotest-jenkins"),
    ("ROTEST_SERVER_PORT", "port", "7777", 7777),
    ("RESOURCE_MANAGER_HOST", "host", "lab-server", "lab-server"),
    ("RESOURCE_WAITING_TIME", "resource_request_timeout", "30", 30.0),
    ("ARTIFACTS_DIR", "artifacts_dir", "/srv/artifacts", "/srv/artifacts"),
    ("DISCOVERER_BLACKLIST", "discoverer_blacklist", "old*,tmp", ["old*", "tmp"]),
    ("SHELL_STARTUP_COMMANDS", "shell_startup_commands", "x = 1", ["x = 1"]),
    ("SHELL_OUTPUT_HANDLERS", "shell_output_handlers", "dots", ["dots"]),
])
def test_rotests_environment_names_set_the_settings(workdir, monkeypatch, name, key,
                                                    value, expected):
    monkeypatch.delenv("ROTEST_WORKDIR")
    monkeypatch.setenv(name, value)
    assert getattr(load_config(), key) == expected


def test_two_names_that_disagree_are_warned_about_and_ours_wins(workdir, monkeypatch):
    monkeypatch.setenv("ROTEST_WORK_DIR", "/elsewhere")
    with pytest.warns(UserWarning, match="ROTEST_WORKDIR=.* ROTEST_WORK_DIR='/elsewhere'"):
        config = load_config()
    assert config.workdir == str(workdir)
    monkeypatch.setenv("ROTEST_WORK_DIR", str(workdir))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same value twice: nothing to say
        load_config()


def test_dot_rotest_yaml_is_found_and_its_paths_are_relative_to_it(workdir, tmp_path,
                                                                  monkeypatch):
    monkeypatch.delenv("ROTEST_WORKDIR")
    project = tmp_path / "project"
    (project / "tests" / "deep").mkdir(parents=True)
    (project / ".rotest.yaml").write_text("rotest:\n  workdir: work\n"
                                          "  artifacts_dir: ../artifacts\n")
    monkeypatch.chdir(project / "tests" / "deep")
    config = load_config()
    assert config.workdir == str(project / "work")
    assert Path(config.artifacts_dir).resolve() == tmp_path / "artifacts"


def test_shell_startup_commands_and_output_handlers(rotest, tmp_path, lab):
    (tmp_path / "rotest.yml").write_text(
        "rotest:\n  shell_startup_commands: ['answer = 6 * 7', 'import os']\n"
        "  shell_output_handlers: [dots]\n")
    process = rotest("shell", "--plain", input="print('answer', answer, os.sep)\n")
    assert process.returncode == 0, process.stderr
    assert "answer 42 /" in process.stdout


# ---------------------------------------------------------------------------
# 20.8: CLI plugins from an installed distribution
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """tests/cli_plugin_dist installed by pip into a folder of its own."""
    source = tmp_path_factory.mktemp("plugin") / "src"
    shutil.copytree(TESTS / "cli_plugin_dist", source)
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--disable-pip-version-check", "--target", str(site),
                           str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(site.glob("rotest_baz_plugin-1.0.dist-info"))
    return site


def test_cli_plugins_add_options_and_act_before_the_run(rotest, plugin_site):
    path = os.pathsep.join([str(plugin_site), cli_env(Path("."))["PYTHONPATH"]])
    process = rotest("run", PLAIN, "-f", "test_add", "--baz", "--qux", "7", PYTHONPATH=path)
    assert process.returncode == 0, process.stdout + process.stderr
    assert process.stdout.startswith("baz: 1 test class(es), qux=7\n")
    assert "--baz" in rotest("run", "--help", PYTHONPATH=path).stdout
    process = rotest(PLAIN, "-f", "test_add", PYTHONPATH=path)  # Rotest's form too
    assert process.returncode == 0 and "baz:" not in process.stdout
    assert "No such option '--baz'" in rotest("run", PLAIN, "--baz").stderr  # not installed


def test_an_output_handler_and_a_monitor_by_entry_point(rotest, plugin_site):
    path = os.pathsep.join([str(plugin_site), cli_env(Path("."))["PYTHONPATH"]])
    process = rotest(PLAIN, "-f", "test_add or test_subtract", "-o", "dots,baz_counter",
                     PYTHONPATH=path)
    assert process.returncode == 0, process.stdout + process.stderr
    assert "baz_counter: 2 passed" in process.stdout
    # Monitors watch Rotest's tests (plain unittest ones have no set-up event).
    process = rotest(str(SAMPLES / "rotest_docs_api.py"), "-f", "SuccessTest",
                     "-o", "tree,baz_watch", PYTHONPATH=path)
    assert process.returncode == 1, process.stdout + process.stderr
    assert "baz_watch: watching" in process.stdout
    assert "monitor baz_watch: the watch saw something" in process.stdout


def test_the_shell_examples_of_more_on_testing(rotest, tmp_path, lab):
    (tmp_path / "config.json").write_text(json.dumps({"project": "A"}))
    commands = "\n".join([
        "resource1 = Device.lock(skip_init=True, name='dev1')",
        "resource2 = Device.lock(name='dev2', config='config.json')",
        "print('config', resource2.config.project)",
        "shared_data['resource'] = resource1",
        "run_test(ResourceBlock, parameter=5)",
        "run_test(ResourceBlock.params(parameter=6), resource=resource2)",
        "run_test(SomeTestCase, debug=True)", ""])
    process = rotest("shell", "--plain", "-m", "runtime_samples.lab",
                     "-m", "runtime_samples.rotest_docs_api", input=commands)
    assert process.returncode == 0, process.stderr
    out = process.stdout
    assert "config A" in out and "block: dev1 5" in out and "block: dev2 6" in out, \
        out + process.stderr
    assert "some test case ran" in out and "Traceback" not in process.stderr
