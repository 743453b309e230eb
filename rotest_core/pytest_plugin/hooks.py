"""The plugin's hooks: its options, its markers, and (registered only once a
test uses a resource fixture) the hooks that watch outcomes and release."""
from __future__ import annotations

import keyword
from typing import Any, Iterator

import pytest

from .locking import FACTORY_HELD, STATE, Held, ProcessState, any_declared

#: The holdings a test uses, found when its set-up ends.
USED = pytest.StashKey[list]()
#: pytest's own marks and those of common plugins: a resource named so must
#: not turn into one (a resource called "skip" would skip its tests).
RESERVED_MARKS = frozenset({"parametrize", "skip", "skipif", "xfail", "usefixtures",
                            "filterwarnings", "tryfirst", "trylast", "timeout", "flaky",
                            "asyncio", "xdist_group", "and", "or", "not"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rotest", "rotest: lab resources, locks and reports")
    group.addoption("--rotest-config", metavar="PATH", default=None,
                    help="rotest.yml to read (default: found upward, or ROTEST_CONFIG)")
    group.addoption("--rotest-host", metavar="HOST", default=None,
                    help="the lock server (unset: embedded mode, on the local database)")
    group.addoption("--rotest-port", metavar="PORT", type=int, default=None,
                    help="the lock server's port (default 8000)")
    group.addoption("--rotest-token", metavar="TOKEN", default=None,
                    help="API token for the lock server (or ROTEST_TOKEN)")
    group.addoption("--rotest-timeout", metavar="SECONDS", type=float, default=None,
                    help="seconds a test waits in the queue for its resources (default 0)")
    group.addoption("--rotest-skip-init", action="store_true", default=False,
                    help="connect resources but skip validate and initialize, as "
                         "rotest run -S (dirty ones are initialized still)")
    group.addoption("--rotest-save-state", action="store_true", default=False,
                    help="after a failed test, each of its resources stores its state, "
                         "as rotest run -s")
    group.addoption("--rotest-report", metavar="HANDLERS", default=None,
                    help="also report to rotest's handlers, e.g. junit,excel,html,history "
                         "(written in the run's directory)")
    group.addoption("--rotest-run-name", metavar="NAME", default="pytest",
                    help="the run's name in its directory and the history (default pytest)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rotest: uses rotest resources (set by the "
                                       "rotest plugin, with the resources' names)")
    if config.getoption("rotest_report") and not hasattr(config, "workerinput"):
        # Lazy: pytest loads this plugin in every run; it costs nothing until used.
        from .reporting import ReportBridge
        config.pluginmanager.register(ReportBridge.from_config(config), "rotest-report")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that use resource fixtures, so that ``-m`` and ``-k``
    select them by fixture, resource class, model and resource name; with
    ``--rotest-report``, give the reports each test's markers as its tags."""
    if any_declared():  # no resource fixture anywhere: nothing to look at
        _mark_resources(config, items)
    if config.getoption("rotest_report"):
        for item in items:
            tags = sorted({mark.name for mark in item.iter_markers()} - NOT_TAGS)
            item.user_properties.append(("rotest_tags", tags))


#: Marks that say how to run a test, not what it is about.
NOT_TAGS = frozenset({"parametrize", "usefixtures", "filterwarnings", "tryfirst", "trylast"})


def _mark_resources(config: pytest.Config, items: list[pytest.Item]) -> None:
    registered = {line.split(":")[0].split("(")[0].strip()
                  for line in config.getini("markers")}
    ours: set[str] = set()
    for item in items:
        for word in sorted(_keywords(item)):
            item.extra_keyword_matches.add(word)
            if not word.isidentifier() or keyword.iskeyword(word) or word in RESERVED_MARKS:
                continue
            if word in registered and word not in ours and word != "rotest":
                continue  # someone else's marker: left alone (-k still finds it)
            if word not in ours and word != "rotest":
                config.addinivalue_line("markers", f"{word}: uses this rotest resource")
                ours.add(word)
            item.add_marker(getattr(pytest.mark, word))


def _keywords(item: pytest.Item) -> set[str]:
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    words: set[str] = set()
    for name in getattr(item, "fixturenames", ()):
        chain = definitions.get(name)
        spec = getattr(chain[-1].func, "rotest_spec", None) if chain else None
        if spec is not None:
            words |= spec.keywords(name)
    return words


class StateHooks:
    """Registered with the process's lock session: marks what a failed test
    used dirty, stores state, ends dirty wider-scoped fixtures early, and
    releases everything at the end (Ctrl-C included)."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state

    def _used(self, item: pytest.Item) -> list[Held]:
        live = self.state.live
        values = (getattr(item, "funcargs", None) or {}).values()
        # One holding once, if another fixture hands the same resource on.
        found = {id(value): live[id(value)] for value in values if id(value) in live}
        return list(found.values())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo) -> Iterator[None]:
        if call.when == "setup":
            item.stash[USED] = self._used(item)
            self._describe(item, "setup", item.stash[USED])
        elif call.when == "call":
            self._describe(item, "call", item.stash.get(FACTORY_HELD, []))
        report = yield
        failed = report.failed or (report.skipped and hasattr(report, "wasxfail"))
        if failed:
            held = item.stash.get(USED, []) + item.stash.get(FACTORY_HELD, [])
            for entry in held:
                entry.dirty = True
            if call.when == "call" and item.config.getoption("rotest_save_state"):
                state_dir = self.state.store_state(held, item.nodeid)
                if state_dir is not None:
                    report.sections.append(("rotest", f"the resources' state: {state_dir}"))
        return report

    def _describe(self, item: pytest.Item, when: str, held: list[Held]) -> None:
        """The resources in the test's report: a section pytest shows with the
        test's output, and user properties (junitxml, the rotest reports)."""
        if not held:
            return
        lines = [line for entry in held for line in entry.describe(item.nodeid)]
        item.add_report_section(when, "rotest", "\n".join(lines))
        resources = {name: resource.name for entry in held
                     for name, resource in entry.resources.items()}
        managers = {entry.manager.id(): type(entry.value).__name__
                    for entry in held if entry.manager is not None}
        waited = sum(entry.wait for entry in held if entry.locked_for == item.nodeid)
        item.user_properties.append(("rotest_resources", {**resources, **managers}))
        item.user_properties.append(("rotest_lock_wait", round(waited, 3)))
        setup = sum(entry.setup for entry in held if entry.locked_for == item.nodeid)
        item.user_properties.append(("rotest_setup_time", round(setup, 3)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: Any) -> Iterator[None]:
        try:
            return (yield)
        finally:
            self._after(item, nextitem)

    def _after(self, item: pytest.Item, nextitem: Any) -> None:
        """A wider-scoped holding a failed test dirtied is ended now (released
        dirty); the next test of its scope locks and sets it up afresh (a
        manager's resource is reset for it). Batch locks no fixture of this
        test took are released."""
        errors = []
        wanted = set(getattr(nextitem, "fixturenames", ()))
        for held in item.stash.get(USED, []):
            if held.finish is not None and not held.released and held.is_dirty():
                held.restart = held.fixture in wanted
                try:
                    held.finish()
                except Exception as error:  # noqa: BLE001 - the others still go back
                    errors.append(error)
        for key in [k for k in self.state.pending if k[1] == item.nodeid]:
            held = self.state.pending.pop(key)
            self.state.release(held)
        if errors:
            raise errors[0]

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        # Whatever is given back from now on goes back dirty.
        self.state.interrupted = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """After pytest tore every fixture down: release what is left, end
        the lock session."""
        session.config.stash.get(STATE, self.state).close()
