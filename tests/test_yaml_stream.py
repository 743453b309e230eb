"""rotest_app.engine.yaml_stream: a YAML list an item at a time, as yaml.safe_load
reads it whole, each item with its line."""
from __future__ import annotations

import io

import pytest
import yaml

from rotest_app.engine.yaml_stream import NotAList, iter_list

DOCUMENTS = [
    "- {type: A, name: a}\n- {type: B, name: b, n: 3}\n",
    # every scalar the safe loader resolves, plain, quoted and block
    """\
- ints: [0, -7, 0x1f, 0o17, 1_000, +3]
  floats: [1.5, -2e+3, .inf, -.Inf, .nan]
  bools: [yes, No, true, FALSE, on, off]
  nulls: [~, null, '', ""]
  strings: ['007', "1.5", 'yes', "line\\none", plain text, 10.0.0.1]
  when: 2026-01-02 03:04:05
  day: 2026-01-02
  tagged: [!!str 12, !!int "12", !!float "1", !!binary aGVsbG8=]
  block: |
    two
    lines
  folded: >
    one
    line
""",
    # anchors, aliases (across items too) and merge keys
    """\
- &base {type: Dev, group: lab, comment: shared}
- <<: *base
  name: d1
- <<: [{a: 1, b: 1}, {b: 2, c: 2}]
  c: 3
  name: d2
- {name: d3, port: &p {name: p1}, again: *p}
- [*base, *p]
""",
    "- a\n- [1, [2, [3, {x: [4]}]]]\n- {? complex : key}\n",
    "---\n- only: one\n...\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_items_are_what_safe_load_makes(text):
    items = list(iter_list(io.BytesIO(text.encode())))
    expected = yaml.safe_load(text)
    values = [item.value for item in items]
    # nan is not equal to itself: compare its text
    assert repr(values) == repr(expected)
    assert [item.index for item in items] == list(range(1, len(expected) + 1))


def test_each_item_knows_its_line():
    text = "# lab\n- a: 1\n  b: 2\n\n- {c: 3}\n-\n  d: 4\n"  # the line its value starts on
    assert [item.line for item in iter_list(io.BytesIO(text.encode()))] == [2, 5, 7]


def test_an_alias_shares_its_value_as_safe_load_does():
    items = [i.value for i in iter_list(io.BytesIO(b"- &x {a: 1}\n- *x\n"))]
    assert items[0] is items[1]


@pytest.mark.parametrize("text, problem", [
    ("", "nothing"), ("a: 1\n", "dict"), ("[]\n", "an empty list"), ("7\n", "int"),
])
def test_a_document_that_is_not_a_list_says_what_it_is(text, problem):
    with pytest.raises(NotAList, match=problem):
        list(iter_list(io.BytesIO(text.encode())))


@pytest.mark.parametrize("text, line, says", [
    ("- a\n- b\n- [c\n", 4, "expected ','"),
    ("- a\n- *nowhere\n", 2, "undefined alias"),
    ("- a\n- {[1]: x}\n", 2, "unhashable key"),
    ("- a\n- !!set {a, b}\n", 2, "not supported"),
    ("- a\n- !!python/object:os.system {}\n", 2, "not supported"),
    ("- a\n- !!python/name:os.system x\n", 2, "could not determine a constructor"),
    ("- a\n- {<<: 5}\n", 2, "for merging"),
    ("- a\n---\n- b\n", None, "one YAML document"),
])
def test_bad_yaml_is_a_yaml_error_with_its_line(text, line, says):
    with pytest.raises(yaml.YAMLError, match=says) as raised:
        list(iter_list(io.BytesIO(text.encode())))
    if line is not None:
        mark = raised.value.problem_mark or raised.value.context_mark
        assert mark.line + 1 == line


def test_exported_entries_read_back_as_they_were_written():
    """rotest_app.engine.exporter writes scalars itself: each reads back equal."""
    from datetime import datetime

    from rotest_app.engine.exporter import to_yaml
    values = ["calc1", "rack 3", "yes", "No", "OFF", "null", "~", "", "1e3", "0x1f",
              "10.0.0.1", "2026-01-02", "a: b", "#x", "x #y", " lead", "trail ", "it's",
              'say "hi"', "line\nbreak", "\x85", "\u2028", "tab\there", "émoji 😀",
              "-dash", "_u", ".inf", "<<", "=", "@at", "`tick", "\ufeff", "\x7f", "[a]",
              "{b}", "*star", "&amp", "!bang", "%pct", "|", ">", "?", None, True, False,
              0, -5, 2**40, 1.5, -0.0, 1e100, float("inf"), datetime(2026, 1, 2, 3, 4, 5),
              datetime(2026, 1, 2, 3, 4, 5, 123456)]
    entry = {f"k{i}": value for i, value in enumerate(values)}
    entry = {"type": "DeviceData", "name": "d1", **entry}
    text = to_yaml(entry) + to_yaml({"name": "second"})
    assert yaml.safe_load(text) == [entry, {"name": "second"}]
    assert [item.value for item in iter_list(io.BytesIO(text.encode()))] == \
        [entry, {"name": "second"}]
    assert text.startswith("- type: DeviceData\n  name: d1\n")
