"""The artifact handler: the run's work directory zipped into artifacts_dir."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from rotest_core.config import load_config
from rotest_core.result import AbstractResultHandler
from rotest_core.runner import RunOptions, run
from runtime_samples import outcomes
from runtime_samples.fixtures import workdir  # noqa: F401 - fixture


class LateWriter(AbstractResultHandler):
    """Writes a file into the work directory at the very end, as file reports do."""

    def stop_test_run(self) -> None:
        (self.work_dir / "late-report.txt").write_text("written at the end\n")


def artifact_run(**overrides):
    stream = io.StringIO()
    # LateWriter is listed after the artifact: ORDER still puts the zip last.
    report = run(outcomes.TESTS, load_config(overrides=overrides),
                 RunOptions(outputs=["artifact", LateWriter], name="art"), stream=stream)
    return report, stream.getvalue()


def test_the_work_directory_is_zipped_with_every_file_and_its_path_recorded(workdir):
    report, out = artifact_run()
    path = Path(report.main_test.artifact_path)
    assert path == workdir / "artifacts" / f"{report.run_dir.name}.zip"
    assert f"Artifact: {path}" in out
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        run_files = sorted(str(p.relative_to(report.run_dir.parent))
                           for p in report.run_dir.rglob("*") if p.is_file())
        assert sorted(names) == run_files
        assert f"{report.run_dir.name}/late-report.txt" in names
        [log] = [n for n in names if "PassingCase.test_with_messages" in n]
        assert "a line in the test's log" in archive.read(log).decode()
        assert any("test_ünïcödé_name" in n for n in names)
    assert not list(path.parent.glob(".*partial"))
    assert report.exit_code == 1  # the tests' outcome, not the artifact's


def test_artifacts_dir_is_used_and_runs_of_one_name_do_not_collide(workdir, tmp_path):
    target = tmp_path / "kept"
    first, _ = artifact_run(artifacts_dir=str(target))
    second, _ = artifact_run(artifacts_dir=str(target))
    paths = {Path(first.main_test.artifact_path), Path(second.main_test.artifact_path)}
    assert len(paths) == 2 and all(p.parent == target and p.is_file() for p in paths)


def test_an_unwritable_artifacts_dir_is_explained_and_the_run_goes_on(workdir, tmp_path,
                                                                      capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    report, out = artifact_run(artifacts_dir=str(blocker / "artifacts"))
    err = capsys.readouterr().err
    assert "rotest: artifact: could not write" in err and "artifacts_dir" in err
    assert "Artifact:" not in out
    # Neither turned off: the late writer and the artifact (a run on the
    # console and an artifact keeps no journal).
    assert report.exit_code == 1 and len(list(report.result.handlers)) == 2

