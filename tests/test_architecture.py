"""The import graph keeps the architecture (docs/architecture.md): one way,
no cycles, a Flask-free store.

Read from the source, imports inside functions included (those under
``if TYPE_CHECKING:`` are for type checkers only and left out), with each
module named as it is installed (setup.py's FOLDERS).
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What each room may import of the project's other rooms, by installed prefix.
ALLOWED = {
    "rotest_reports": ("rotest_reports", "rotest_core", "rotest_app.engine",
                       "rotest_app.models", "rotest_templates"),
    "rotest_core": ("rotest_core", "rotest_app.engine", "rotest_app.models"),
    "rotest_templates": ("rotest_templates", "rotest_app.engine"),
    "rotest_app.engine": ("rotest_app.engine", "rotest_app.models", "rotest_app.migrations"),
    "rotest_app.models": ("rotest_app.models", "rotest_app.engine"),
    "rotest_app.migrations": ("rotest_app.engine", "rotest_app.models"),
    "rotest_app": ("rotest_app", "rotest_templates"),
}
#: The store is Flask-free: the embedded client runs it with no app.
FLASK_FREE = ("rotest_app.engine", "rotest_app.models", "rotest_core", "rotest_reports",
              "rotest_templates")
PROJECT = ("rotest_core", "rotest_app", "rotest_reports", "rotest_templates")
#: The store's doors on the runtime's side: its client, and the migration of
#: the embedded database. Only they call the store's operations.
STORE_DOORS = ("rotest_core.store", "rotest_core.embedded_db")
#: What the rest of the runtime and the reports may import of the store: its
#: settings and vocabulary, which take no database Session.
STORE_VOCABULARY = ("rotest_app", "rotest_app.engine", "rotest_app.engine.settings",
                    "rotest_app.engine.lazy", "rotest_app.engine.plugins",
                    "rotest_app.engine.cli_base", "rotest_app.engine.outcomes",
                    "rotest_app.engine.grouping",
                    # the signature handler checks a pattern before it records one
                    "rotest_app.models.signatures")


def installed_folders() -> dict[str, str]:
    """setup.py's FOLDERS: installed package name -> folder in the repository."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    [value] = [node.value for node in tree.body if isinstance(node, ast.Assign)
               and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["FOLDERS"]]
    return ast.literal_eval(value)


def project_modules() -> dict[str, Path]:
    found = {}
    for name, folder in installed_folders().items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts
                     if p != "__init__"]
            if "versions" not in parts:  # Alembic revisions: scripts, not modules
                found[".".join([name, *parts])] = path
    return found


MODULES = project_modules()


def imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project's modules (or outside names) that an import statement loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
            for alias in node.names]


@lru_cache(maxsize=None)
def imports_of(module: str, path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in typing_only:
            found += [(target, node.lineno) for target in imported(module, path, node)]
    return found


def owner(target: str) -> str:
    """The project module that ``target`` (a module or a name in one) belongs to."""
    while target not in MODULES and "." in target:
        target = target.rpartition(".")[0]
    return target


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for target, _ in imports_of(module, path):
            target = owner(target)
            if target in MODULES and target != module:
                edges[module].add(target)
    return edges


def room(module: str) -> str:
    return max((prefix for prefix in ALLOWED if in_room(module, prefix)), key=len)


def in_room(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_graph_is_read_from_every_room():
    assert {room(module) for module in MODULES} == set(ALLOWED)
    assert len(MODULES) > 100


def test_imports_point_one_way():
    wrong = [f"{module}:{line} imports {target}"
             for module, path in MODULES.items()
             for target, line in imports_of(module, path)
             if target.split(".")[0] in PROJECT
             and not any(in_room(target, allowed) for allowed in ALLOWED[room(module)])]
    assert not wrong, "imports against the rule (docs/architecture.md):\n" + "\n".join(wrong)


def test_the_runtime_and_the_reports_use_the_store_through_its_client():
    wrong = [f"{module}:{line} imports {owner(target)}"
             for module, path in MODULES.items()
             if room(module) in ("rotest_core", "rotest_reports")
             and not any(in_room(module, door) for door in STORE_DOORS)
             for target, line in imports_of(module, path)
             if in_room(owner(target), "rotest_app")
             and owner(target) not in STORE_VOCABULARY]
    assert not wrong, "\n".join(wrong)


def test_the_store_and_the_runtime_are_flask_free():
    wrong = [f"{module}:{line} imports {target}"
             for module, path in MODULES.items()
             if any(in_room(module, prefix) for prefix in FLASK_FREE)
             for target, line in imports_of(module, path)
             if target == "flask" or target.startswith(("flask.", "flask_admin", "flask_login",
                                                         "flask_migrate", "flask_wtf"))]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    edges = graph()
    cycles = strongly_connected(edges)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """The cycles of the graph: Tarjan's components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert strongly_connected(edges) == expected


def test_one_name_per_outcome():
    """The store's outcome names are the handlers' events (``add_<outcome>``,
    Rotest's names) and the outcomes every report counts: one vocabulary."""
    from rotest_app.engine.outcomes import OUTCOMES
    from rotest_core.result import AbstractResultHandler
    from rotest_templates import OUTCOME_LABELS

    assert all(callable(getattr(AbstractResultHandler, f"add_{outcome}", None))
               for outcome in OUTCOMES)
    events = {name[4:] for name in vars(AbstractResultHandler) if name.startswith("add_")}
    # a note, not an outcome; and the one hook every outcome reaches by its name
    assert events - set(OUTCOMES) == {"info", "outcome"}
    assert tuple(OUTCOME_LABELS) == OUTCOMES

    class Heard(AbstractResultHandler):
        def add_outcome(self, test, outcome, text=None):
            heard.append(outcome)
    heard = []
    for outcome in OUTCOMES:
        event = getattr(Heard(), f"add_{outcome}")
        event("a test", *(["why"] if outcome not in ("success", "unexpected_success")
                           else []))
    assert tuple(heard) == OUTCOMES


def test_every_import_inside_a_function_says_why():
    """Imports belong at the top; one that waits for its function (start-up
    time, a cycle, an optional library) says why in a comment on the line
    or just above its block of imports."""
    silent = []
    for module, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) \
                        and not _explained(lines, node.lineno - 1):
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno}: "
                                  f"{lines[node.lineno - 1].strip()}")
    assert not silent, "say why these wait (or move them to the top):\n" + "\n".join(
        sorted(set(silent)))


def _explained(lines: list[str], index: int) -> bool:
    if "#" in lines[index]:
        return True
    above = index - 1  # the block of imports it belongs to, then the line above it
    while above >= 0 and (lines[above].strip().startswith(("import ", "from "))
                          or not lines[above].strip()):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")
