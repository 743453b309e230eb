"""The lock session of one pytest process, and what each fixture holds.

Made on the first use of a resource fixture (a run whose tests use none never
reads the configuration, opens the database or calls the server). Each
pytest-xdist worker is a process of its own, with its own session, as each
worker of ``rotest run -p`` is.
"""
from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from ..case import RunContext
    from ..resources.base import BaseResource
    from ..resources.request import ResourceRequest

log = logging.getLogger("rotest.pytest")


@dataclass(eq=False)
class Held:
    """What one fixture (or one ``rotest_lock`` call) holds for its scope.

    Attributes:
        value: what the test was given: the resource, a namespace of them, or
            a testresources manager's resource.
        resources: the rotest resources, by request name (empty for a manager).
        scope: the pytest scope it is held for.
        finish: ends the pytest fixture before its scope does (after a failed
            test, so the next test gets it afresh); None for a factory's locks.
        manager: the testresources manager that made ``value``, if one did.
    """

    value: Any
    resources: dict[str, "BaseResource"]
    scope: str
    finish: Callable[[], None] | None = None
    manager: Any = None
    #: The fixture's name (None for a factory's locks).
    fixture: str | None = None
    #: Seconds waited for the lock, and spent setting the resources up.
    wait: float = 0.0
    setup: float = 0.0
    #: The test it was locked (or made) for: later tests of its scope reuse it.
    locked_for: str = ""
    dirty: bool = False
    released: bool = False
    #: Ended early for the next test, which wants it too: a manager keeps its
    #: use, so that the next test's fixture resets it (testresources' rule).
    restart: bool = False

    def is_dirty(self) -> bool:
        """A test failed with it, or (a manager's) it was dirtied."""
        return self.dirty or bool(self.manager is not None and self.manager.isDirty())

    def describe(self, nodeid: str) -> list[str]:
        """One line per resource for the test's report section."""
        how = (f"waited {self.wait:.2f} s for the lock, set up in {self.setup:.2f} s"
               if self.locked_for == nodeid else
               f"kept from {self.locked_for} ({self.scope} scope)")
        if self.manager is not None:
            return [f"{self.manager.id()}: made by its testresources manager; {how}"]
        return [f"{name}: {resource.name} ({type(resource).__name__}); {how}"
                for name, resource in self.resources.items()]


@dataclass(eq=False)
class ProcessState:
    """The lock session of this pytest process and the fixtures' holdings."""

    config: pytest.Config
    #: Held by id() of the value the test got: a test's fixtures are looked up by it.
    live: dict[int, Held] = field(default_factory=dict)
    #: Locked with a sibling fixture (all or nothing), not yet taken by its own:
    #: (fixture name, scope node id) -> Held.
    pending: dict[tuple[str, str], Held] = field(default_factory=dict)
    #: Managers' resources kept over a restart: id() of the manager ->
    #: (the manager, its resource).
    carried: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    interrupted: bool = False
    counts: Counter = field(default_factory=Counter)
    _context: "RunContext | None" = None
    _first_make: float | None = None

    # --- the run's settings and manager -------------------------------------

    @property
    def context(self) -> "RunContext":
        """rotest's RunContext for this process, made on first use."""
        if self._context is None:
            # Lazy: pytest loads this plugin in every run; it costs nothing until used.
            from ..case import RunContext
            rotest_config = load_rotest_config(self.config)
            self._context = RunContext(
                rotest_config, run_dir_for(self.config, rotest_config),
                skip_init=self.config.getoption("rotest_skip_init"),
                save_state=self.config.getoption("rotest_save_state"),
                on_resource_event=self._resource_event)
        return self._context

    def _resource_event(self, action: str, resource: Any) -> None:
        # The first set-up marks the end of the wait for the lock.
        if action == "make" and self._first_make is None:
            self._first_make = time.monotonic()
        self.counts[action] += 1

    # --- locking and releasing ---------------------------------------------

    def lock(self, requests: list["ResourceRequest"], work_dir_name: str
             ) -> tuple[dict[str, "BaseResource"], float, float]:
        """Lock and set up every request, all or none, as ``rotest run`` does.

        Returns the resources by request name, the seconds waited for the lock
        and the seconds their set-up took.
        """
        # Lazy: pytest loads this plugin in every run; it costs nothing until used.
        from ..case import unique_dir
        context = self.context
        work_dir = unique_dir(context.run_dir, work_dir_name)
        # The session opens first (the database prepared, the server asked):
        # that is not waiting for a lock.
        context.manager.open()
        started, self._first_make = time.monotonic(), None
        got = context.manager.request_resources(
            requests, skip_init=context.skip_init, use_previous=False,
            base_work_dir=work_dir, timeout=context.config.resource_request_timeout)
        ended = time.monotonic()
        locked = self._first_make or ended
        return got, locked - started, ended - locked

    def add(self, held: Held) -> Held:
        self.live[id(held.value)] = held
        return held

    def release(self, held: Held) -> None:
        """Give back what a fixture held: dirty after a failed test or Ctrl-C."""
        if held.released:
            return
        held.released = True
        self.live.pop(id(held.value), None)
        dirty = held.is_dirty() or self.interrupted
        if held.manager is not None:
            if dirty:
                held.manager.dirtied(held.value)
            if held.restart and not self.interrupted:
                self.carried[id(held.manager)] = (held.manager, held.value)
            else:
                held.manager.finishedWith(held.value)
        elif held.resources:
            self.context.manager.release_resources(held.resources, dirty=dirty,
                                                   force_release=True)

    def store_state(self, held: list[Held], nodeid: str) -> Path | None:
        """``--rotest-save-state``: each resource of a failed test stores its
        state under ``<run dir>/<test>/state/<request name>``."""
        # Lazy: pytest loads this plugin in every run; it costs nothing until used.
        from ..case import unique_dir
        resources = {name: r for h in held for name, r in h.resources.items()}
        if not resources:
            return None
        state_dir = unique_dir(unique_dir(self.context.run_dir, safe_name(nodeid)), "state")
        for name, resource in resources.items():
            target = state_dir / safe_name(name)
            target.mkdir(exist_ok=True)
            try:
                resource.store_state(target)
            except Exception:  # noqa: BLE001 - the test's own failure matters more
                log.exception("storing the state of %s failed", name)
        return state_dir

    def close(self) -> None:
        """Release everything still held (dirty: its fixture never gave it
        back) and end the lock session."""
        for held in list(self.pending.values()):
            held.dirty = True
            self.release(held)
        self.pending.clear()
        for manager, value in self.carried.values():  # no later test wanted it
            manager.finishedWith(value)
        self.carried.clear()
        context, self._context = self._context, None
        if context is not None:
            context.close()


def load_rotest_config(config: pytest.Config) -> Any:
    """rotest.yml (or ``--rotest-config``), ROTEST_*, then the plugin's options."""
    # Lazy: pytest loads this plugin in every run; it costs nothing until used.
    from ..config import load_config
    overrides = {"host": config.getoption("rotest_host"),
                 "port": config.getoption("rotest_port"),
                 "token": config.getoption("rotest_token"),
                 "resource_request_timeout": config.getoption("rotest_timeout")}
    return load_config(config.getoption("rotest_config"), overrides)


def run_dir_for(config: pytest.Config, rotest_config: Any) -> Path:
    """The run's directory: the reports' (made by this process, or by the
    controller of an xdist run, so that every worker works under one run),
    else a new one."""
    reports = config.pluginmanager.get_plugin("rotest-report")
    given = (getattr(reports, "run_dir", None)
             or getattr(config, "workerinput", {}).get("rotest_run_dir"))
    if given:
        return Path(given)
    # Lazy: pytest loads this plugin in every run; it costs nothing until used.
    from ..case import new_run_dir
    return new_run_dir(rotest_config.workdir, config.getoption("rotest_run_name"))


def safe_name(text: str) -> str:
    """A file name for a test id or a request name."""
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "test"


#: This process's lock state, on pytest's config.
STATE = pytest.StashKey[ProcessState]()
#: The holdings of a test's ``rotest_lock`` calls.
FACTORY_HELD = pytest.StashKey[list]()
#: How many resource and manager fixtures were declared: none, and collection
#: has nothing to mark.
_declared = 0


def count_declared() -> None:
    """One more resource or manager fixture declared."""
    global _declared
    _declared += 1


def any_declared() -> bool:
    return _declared > 0
