"""examples/ci: the GitHub Actions workflow has the shape it promises (four
shards, a merge job that needs them), and every ``rotest report merge`` line
of it and of the Jenkinsfile parses with the real command."""
from __future__ import annotations

import re
import shlex
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest
import yaml

CI = Path(__file__).resolve().parents[1] / "examples" / "ci"
WORKFLOW = CI / "github-actions.yml"
JENKINSFILE = CI / "Jenkinsfile"


def report_group() -> click.Group:
    """The ``report`` command as rotest loads it: its entry point."""
    (point,) = entry_points(group="rotest.commands", name="report")
    return point.load()


def merge_lines(text: str) -> list[str]:
    """Each ``rotest report merge ...`` command line (to the line's end, or
    the closing quote of a Groovy ``sh '...'``)."""
    return [match.group(0).rstrip() for match in
            re.finditer(r"rotest report merge [^\n']*", text)]


def parse_merge(line: str) -> click.Context:
    words = shlex.split(line)
    assert words[:3] in (["rotest", "report", "merge"],), words
    merge = report_group().commands["merge"]
    return merge.make_context("merge", words[3:])


def test_the_workflow_runs_four_shards_then_merges_them():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    shards = jobs["shards"]
    assert shards["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    assert shards["strategy"]["fail-fast"] is False
    runs = [step["run"] for step in shards["steps"] if "run" in step]
    assert any("--shard ${{ matrix.shard }}/4" in run and "--run-id" in run
               for run in runs), runs
    uploads = [step for step in shards["steps"]
               if step.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["if"] == "always()"
    assert uploads[0]["with"]["name"] == "shard-${{ matrix.shard }}"

    merge = jobs["merge"]
    needs = merge["needs"]
    assert "shards" in ([needs] if isinstance(needs, str) else needs)
    assert merge["if"] == "always()"  # failed shards' tests are merged too
    steps = merge["steps"]
    uses = [step.get("uses", "") for step in steps]
    download = steps[next(i for i, use in enumerate(uses)
                          if use.startswith("actions/download-artifact"))]
    assert download["with"]["pattern"] == "shard-*"
    merged = [step["run"] for step in steps if "rotest report merge" in step.get("run", "")]
    assert len(merged) == 1
    context = parse_merge(merge_lines(merged[0])[0])
    assert [str(path) for path in context.params["work_dirs"]] == [
        f"shards/shard-{n}" for n in range(1, 5)]
    publish = next(step for step in steps if "junit" in step.get("uses", ""))
    assert publish["with"]["report_paths"] == f"{context.params['out_dir']}/junit.xml"


def test_the_jenkinsfile_runs_four_shards_then_merges_them():
    text = JENKINSFILE.read_text()
    assert re.search(r"values '1', '2', '3', '4'", text)
    assert '--shard "$SHARD/4" --run-id "$BUILD_TAG"' in text
    assert all(f"unstash 'shard-{n}'" in text for n in range(1, 5))
    (line,) = merge_lines(text)
    context = parse_merge(line)
    assert [str(path) for path in context.params["work_dirs"]] == [
        f"shard-{n}" for n in range(1, 5)]
    assert f"junit testResults: '{context.params['out_dir']}/junit.xml'" in text


def test_a_wrong_merge_line_would_not_parse():
    """The check above can fail: a line missing -o is refused by the command."""
    try:
        parse_merge("rotest report merge shards/shard-1")
    except click.UsageError as error:
        assert "-o" in error.format_message()
    else:
        raise AssertionError("a merge line with no -o parsed")


def run_lines(text: str) -> list[list[str]]:
    """The words of each ``rotest run --shard ...`` command line (backslash
    continuations joined; CI expressions and the shard variable given sample
    values)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for match in re.finditer(r"rotest run +--shard[^\n']*", joined):
        line = re.sub(r"\$\{\{[^}]*\}\}", "1", match.group(0)).replace("$SHARD", "1")
        found.append(shlex.split(line)[2:])
    return found


@pytest.mark.parametrize("path", [WORKFLOW, JENKINSFILE], ids=["github", "jenkins"])
def test_the_shard_command_lines_parse_with_rotest_run(path, monkeypatch):
    from rotest_core.cli import run_command
    if not any("--shard" in option.opts for option in run_command.params
               if isinstance(option, click.Option)):
        pytest.skip("rotest run --shard and --run-id come with issue 17's shard branch")
    monkeypatch.chdir(CI.parent / "calculator")  # the lines' working directory
    lines = run_lines(path.read_text())
    assert len(lines) == 1
    context = run_command.make_context("run", lines[0])
    assert context.params["paths"] == ("tests",)
