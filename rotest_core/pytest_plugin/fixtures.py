"""Fixtures that lock rotest resources, and testresources managers as fixtures.

::

    # conftest.py
    from rotest_core.pytest_plugin import manager_fixture, resource_fixture
    from mylab.resources import Calculator

    calc = resource_fixture(Calculator.request())                  # any calculator
    calc1 = resource_fixture(Calculator.request(name="calc1"), scope="module")
    pair = resource_fixture(left=Calculator.request(), right=Calculator.request())

A test takes them by name (``def test_add(calc): ...``). The fixtures of one
scope that a test uses are locked together, all or nothing, in one request.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from .locking import FACTORY_HELD, STATE, Held, ProcessState, count_declared, safe_name

if TYPE_CHECKING:
    from ..resources.request import ResourceRequest

__all__ = ["manager_fixture", "process_state", "resource_fixture", "rotest_lock"]

SCOPES = ("function", "class", "module", "package", "session")


@dataclass(frozen=True)
class FixtureSpec:
    """What a resource fixture asks for: requests by key (None: the single
    request of ``resource_fixture(Calculator.request())``), or a manager."""

    scope: str
    requests: dict[str | None, "ResourceRequest"] = field(default_factory=dict)
    manager: Any = None

    def named(self, fixture: str) -> list["ResourceRequest"]:
        """The requests under names unique in a batch of fixtures:
        ``calc`` for a single request, ``pair.left`` for a named one."""
        # Lazy: pytest loads this plugin in every run; it costs nothing until used.
        from ..resources.request import ResourceRequest
        return [ResourceRequest(fixture if key is None else f"{fixture}.{key}",
                                request.type, **request.kwargs)
                for key, request in self.requests.items()]

    def value(self, fixture: str, got: dict[str, Any]) -> Any:
        """What the test gets: the resource, or a namespace of them by key."""
        if None in self.requests:
            return got[fixture]
        return SimpleNamespace(**{key: got[f"{fixture}.{key}"] for key in self.requests})

    def keywords(self, fixture: str) -> set[str]:
        """Words ``-m`` and ``-k`` select the tests that use it by: the
        fixture's name, its keys, its resource classes and their models, and
        the resource names it asks for."""
        words = {"rotest", fixture}
        if self.manager is not None:
            words.add(type(self.manager).__name__)
        for key, request in self.requests.items():
            words.update(filter(None, (key, request.type.__name__,
                                       getattr(request.type.DATA_CLASS, "__name__", None))))
            name = request.kwargs.get("name")
            if isinstance(name, str):
                words.add(name)
        return words


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"unknown pytest scope {scope!r}: choose from {', '.join(SCOPES)}")


def resource_fixture(request: "ResourceRequest | None" = None, /, *, scope: str = "function",
                     name: str | None = None, **requests: "ResourceRequest") -> Any:
    """A pytest fixture that locks and sets up rotest resources for its scope.

    Args:
        request: one request (``Calculator.request(name="calc1")``): the test
            gets the resource itself.
        requests: or several, by key: the test gets a namespace
            (``pair.left``), all locked together.
        scope: pytest's scope: the resource is locked when the first test of
            the scope needs it and released when the scope ends, or after a
            test that failed with it (dirty: the next test gets it afresh).
        name: the fixture's name; by default the name it is assigned to.

    Assign the result to a name in a ``conftest.py`` or a test module.
    """
    # Lazy: pytest loads this plugin in every run; it costs nothing until used.
    from ..resources.request import ResourceRequest
    _check_scope(scope)
    if (request is None) == (not requests):
        raise TypeError("resource_fixture takes one request, or requests by key "
                        "(left=Calculator.request(), right=...), not both or neither")
    given = {None: request} if request is not None else dict(requests)
    for key, value in given.items():
        if not isinstance(value, ResourceRequest):
            raise TypeError(f"resource_fixture: {key or 'the request'} is "
                            f"{type(value).__name__}, not a request; write "
                            f"SomeResource.request(...)")
    return _declare(FixtureSpec(scope, given), _resource_fixture, name)


def manager_fixture(manager: Any, /, *, scope: str = "function", name: str | None = None
                    ) -> Any:
    """A pytest fixture that gives the test a testresources manager's resource.

    ``getResource`` when the scope starts (made, or reset if dirty) and
    ``finishedWith`` when it ends (cleaned when no one else uses it); a test
    that fails, or that calls ``manager.dirtied(resource)``, dirties it: the
    next test of the scope gets a fresh one.
    """
    _check_scope(scope)
    if not callable(getattr(manager, "getResource", None)):
        raise TypeError(f"manager_fixture takes a testresources manager (with "
                        f"getResource and finishedWith), not {type(manager).__name__}")
    return _declare(FixtureSpec(scope, manager=manager), _manager_fixture, name)


def _declare(spec: FixtureSpec, body: Callable[..., Iterator[Any]], name: str | None
             ) -> Any:
    count_declared()

    def fixture(request: pytest.FixtureRequest) -> Iterator[Any]:
        yield from body(spec, request)

    fixture.rotest_spec = spec  # found again by collection and by sibling fixtures
    return pytest.fixture(fixture, scope=spec.scope, name=name)


# --------------------------------------------------------------------------
# The fixtures' bodies

def process_state(config: pytest.Config) -> ProcessState:
    """This process's lock session, made (with the hooks that watch the
    tests' outcomes) on first use."""
    state = config.stash.get(STATE, None)
    if state is None:
        if not hasattr(config.option, "rotest_skip_init"):  # its options: not loaded
            pytest.fail("the rotest pytest plugin is off (-p no:rotest): resource "
                        "fixtures cannot lock anything", pytrace=False)
        # Lazy: pytest loads this plugin in every run; it costs nothing until used.
        from .hooks import StateHooks
        state = config.stash[STATE] = ProcessState(config)
        config.pluginmanager.register(StateHooks(state), "rotest-state")
    return state


def _resource_fixture(spec: FixtureSpec, request: pytest.FixtureRequest) -> Iterator[Any]:
    state = process_state(request.config)
    key = (request.fixturename, request.node.nodeid)
    held = state.pending.pop(key, None)
    if held is None:
        held = _lock_batch(state, spec, request)
    elif spec.scope != "function":  # locked with a sibling: ended early as its own
        held.finish = _finisher(request)
    try:
        yield held.value
    finally:
        state.release(held)


def _lock_batch(state: ProcessState, spec: FixtureSpec,
                request: pytest.FixtureRequest) -> Held:
    """Lock this fixture's requests with those of the other resource fixtures
    of its scope the test will use (all or nothing); the others' holdings wait
    in ``state.pending`` for their own fixtures."""
    fixtures = {request.fixturename: spec, **_siblings(request, spec.scope)}
    requests = [r for fixture, s in fixtures.items() for r in s.named(fixture)]
    nodeid = _test_id(request)
    got, wait, setup = state.lock(requests, safe_name(request.node.nodeid or "session"))
    finish = _finisher(request) if spec.scope != "function" else None
    mine = None
    for fixture, sibling in fixtures.items():
        names = [r.name for r in sibling.named(fixture)]
        held = Held(sibling.value(fixture, got), {n: got[n] for n in names}, spec.scope,
                    fixture=fixture, wait=wait, setup=setup, locked_for=nodeid)
        state.add(held)
        if fixture == request.fixturename:
            held.finish, mine = finish, held
        else:
            state.pending[(fixture, request.node.nodeid)] = held
    return mine


def _siblings(request: pytest.FixtureRequest, scope: str) -> dict[str, FixtureSpec]:
    """The test's other resource fixtures of ``scope`` not set up yet."""
    # pytest has no public way to the fixture definitions of a test; without
    # it, each fixture locks on its own (the locks are then not taken together).
    item = getattr(request, "_pyfuncitem", None)
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    found = {}
    for name in request.fixturenames:
        chain = definitions.get(name)
        if name == request.fixturename or not chain:
            continue
        spec = getattr(chain[-1].func, "rotest_spec", None)
        if (spec is not None and spec.requests and chain[-1].scope == scope
                and chain[-1].cached_result is None):
            found[name] = spec
    return found


def _finisher(request: pytest.FixtureRequest) -> Callable[[], None] | None:
    """Ends this (wider than function) fixture now: its teardown runs, and the
    next test that wants it gets it set up anew. None if pytest hides the way."""
    definition = getattr(request, "_fixturedef", None)
    if definition is None or not callable(getattr(definition, "finish", None)):
        return None
    return lambda: definition.finish(request)


def _test_id(request: pytest.FixtureRequest) -> str:
    item = getattr(request, "_pyfuncitem", None)
    return getattr(item, "nodeid", "") or request.node.nodeid


def _manager_fixture(spec: FixtureSpec, request: pytest.FixtureRequest) -> Iterator[Any]:
    state = process_state(request.config)
    started = time.monotonic()
    carried = state.carried.pop(id(spec.manager), None)
    # Restarted after a test dirtied it: reset (its _reset, cheaper than a
    # clean and a make where the manager says so); else made or shared.
    value = (spec.manager.reset(carried[1]) if carried is not None
             else spec.manager.getResource())
    held = state.add(Held(value, {}, spec.scope, manager=spec.manager,
                          fixture=request.fixturename,
                          setup=time.monotonic() - started, locked_for=_test_id(request),
                          finish=_finisher(request) if spec.scope != "function" else None))
    try:
        yield value
    finally:
        state.release(held)


@pytest.fixture
def rotest_lock(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Lock resources from inside a test, all or nothing, until it ends::

        def test_add(rotest_lock):
            calc = rotest_lock(Calculator.request(name="calc1"))
            both = rotest_lock(left=Calculator.request(), right=Calculator.request())

    One request gives the resource; several, by key, a namespace of them.
    They are released when the test ends (dirty if it failed).
    """
    state_holder: list[ProcessState] = []
    held_here: list[Held] = []
    counter = itertools.count(1)

    def lock(single: "ResourceRequest | None" = None, /, **named: "ResourceRequest") -> Any:
        if (single is None) == (not named):
            raise TypeError("rotest_lock takes one request, or requests by key, "
                            "not both or neither")
        if not state_holder:
            state_holder.append(process_state(request.config))
        fixture = f"lock{next(counter)}"
        spec = FixtureSpec("function", {None: single} if single is not None else named)
        got, wait, setup = state_holder[0].lock(spec.named(fixture),
                                                safe_name(request.node.nodeid))
        held = Held(spec.value(fixture, got), got, "function", wait=wait, setup=setup,
                    locked_for=request.node.nodeid)
        held_here.append(state_holder[0].add(held))
        request.node.stash.setdefault(FACTORY_HELD, []).append(held)
        return held.value

    try:
        yield lock
    finally:
        errors = []
        for held in reversed(held_here):
            try:
                state_holder[0].release(held)
            except Exception as error:  # noqa: BLE001 - every lock goes back first
                errors.append(error)
        if errors:
            raise errors[0]
