"""Resource managers: make a resource once, share it while it is clean,
reset it when a test dirtied it, clean it when its last user is done."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from inspect import Parameter, signature
from typing import Any

__all__ = ["FixtureResource", "GenericResource", "TestResource", "TestResourceManager",
           "neededResources"]

Resources = Sequence[tuple[str, "TestResourceManager"]]


class TestResourceManager:
    """Makes, shares, resets and cleans one kind of resource.

    Subclasses override ``make`` (and usually ``clean``; ``_reset`` when a
    reset can be cheaper than a clean and a make; ``isDirty`` to inspect the
    resource). Both the signatures of testresources' code and those of its
    documentation are accepted: ``make(self, dependency_resources)`` or
    ``make(self)``, ``isDirty(self)`` or ``isDirty(self, resource)``,
    ``clean(self, resource)`` or ``clean(self)``, ``_reset(self, resource,
    dependency_resources)`` or ``_reset(self, resource)``; each class's are
    read once. ``getResource`` hands out the current resource and counts its
    users; ``finishedWith`` cleans it when the count drops to zero.

    Attributes:
        resources: dependencies, ``[(name, manager), ...]``: made before this
            resource, passed to ``make`` by name, set as attributes of the
            resource, released after it is cleaned.
        setUpCost, tearDownCost: relative costs (seconds are a good unit),
            read by :class:`OptimisingTestSuite` to order tests.
        resetCost: the cost of a reset; None means setUpCost + tearDownCost
            (the default reset is a clean and a make).
        alwaysDirty: every use dirties it (the ordering counts a reset per
            reuse); true for GenericResource and FixtureResource.

    A result passed to getResource, finishedWith or reset hears
    ``start/stopMakeResource``, ``start/stopCleanResource`` and
    ``start/stopResetResource`` with this manager, when it has them.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name
    setUpCost: float = 1
    tearDownCost: float = 1
    resetCost: float | None = None
    alwaysDirty: bool = False
    resources: Resources = []

    def __init__(self) -> None:
        self.resources = list(type(self).resources)  # an instance may change its own
        self._dirty = False
        self._uses = 0
        self._currentResource: Any = None
        self._dependencies: dict[str, Any] = {}  # what the current resource was made with
        self._unused = False  # made or reset for the suite's hold, not handed out since

    # --- the hooks --------------------------------------------------------

    def make(self, dependency_resources: dict[str, Any]) -> Any:
        """Make a new resource from its dependencies (name -> resource)."""
        raise NotImplementedError("Override make to construct resources.")

    def clean(self, resource: Any) -> None:
        """Dispose of a resource; nothing by default."""

    def _reset(self, resource: Any, dependency_resources: dict[str, Any]) -> Any:
        """Return a clean version of a dirty resource: by default, a new one."""
        _hook(self, "clean", resource)
        return _hook(self, "make", dependency_resources)

    def isDirty(self) -> bool:
        """Whether the current resource may not be reused as it is: it was
        dirtied, or a dependency is dirty or was replaced since."""
        if self._dirty:
            return True
        return any(_is_dirty(manager) or manager._currentResource is not self._dependencies[name]
                   for name, manager in self.resources if name in self._dependencies)

    def dirtied(self, resource: Any) -> None:
        """Mark the resource as no longer fit for another test."""
        self._dirty = True

    def id(self) -> str:
        """A name for the manager in results and logs."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    def neededResources(self) -> list[TestResourceManager]:
        """This manager and its dependencies, dependencies first."""
        return neededResources([self])

    # --- sharing ----------------------------------------------------------

    def getResource(self, result: Any = None) -> Any:
        """The current resource, made if nobody holds it, reset if it is
        dirty; counts one more user (give it back with ``finishedWith``)."""
        self._get(result)
        self._unused = False
        return self._currentResource

    def _hold(self, result: Any = None) -> None:
        """getResource for OptimisingTestSuite, which keeps the resource
        between tests but does not use it: one made or reset for it needs no
        reset before its first user, even if ``isDirty`` says always."""
        if self._get(result):
            self._unused = True

    def _get(self, result: Any) -> bool:
        """Count a user, making or resetting first as needed; True if it did."""
        if self._uses == 0:
            self._make_all(result)
            fresh = True
        else:
            untouched = self._unused and not TestResourceManager.isDirty(self)
            fresh = not untouched and _is_dirty(self)
            if fresh:
                _hook(self, "reset", self._currentResource, result)
        self._uses += 1
        return fresh

    def finishedWith(self, resource: Any, result: Any = None) -> None:
        """One user less; the last one's leaving cleans the resource (and then
        releases its dependencies)."""
        if self._uses <= 0:
            raise RuntimeError(f"{self.id()}: finishedWith without a getResource")
        self._uses -= 1
        if self._uses == 0:
            dependencies = self._dependencies
            self._set(None, {})
            with _reporting(result, "CleanResource", self):
                try:
                    _hook(self, "clean", resource)
                finally:  # a failed clean still lets go of what it stood on
                    _release(self.resources, dependencies, result)

    def reset(self, old_resource: Any, result: Any = None) -> Any:
        """A clean version of ``old_resource``: itself if it is not dirty, else
        dirty dependencies reset first, then ``_reset``."""
        if not _is_dirty(self):
            return old_resource
        with _reporting(result, "ResetResource", self):
            dependencies = {}
            for name, manager in self.resources:
                _hook(manager, "reset", manager._currentResource, result)
                dependencies[name] = manager._currentResource
            resource = _hook(self, "_reset", old_resource, dict(dependencies))
            self._set(resource, dependencies)
        return resource

    def _make_all(self, result: Any) -> None:
        """Get the dependencies, then make the resource; on failure give back
        what was got, so nothing is left half made."""
        with _reporting(result, "MakeResource", self):
            dependencies: dict[str, Any] = {}
            try:
                for name, manager in self.resources:
                    dependencies[name] = manager.getResource(result)
                resource = _hook(self, "make", dict(dependencies))
            except BaseException:
                _release(self.resources, dependencies, result)
                raise
            self._set(resource, dependencies)

    def _set(self, resource: Any, dependencies: dict[str, Any]) -> None:
        """Take ``resource`` as the current, clean one."""
        for name, value in dependencies.items():
            # Documented: dependencies are attributes of the resource. An int
            # or a str takes none: we keep them in _dependencies anyway.
            with suppress(AttributeError, TypeError):
                setattr(resource, name, value)
        self._currentResource, self._dependencies, self._dirty = resource, dependencies, False


TestResource = TestResourceManager


class GenericResource(TestResourceManager):
    """Adapts an object with set-up and tear-down methods: made by
    ``resource_factory(**dependency_resources)`` then its ``setUp``, cleaned by
    its ``tearDown``; always dirty, so remade between uses."""

    alwaysDirty = True

    def __init__(self, resource_factory: Any, setup_method_name: str = "setUp",
                 teardown_method_name: str = "tearDown",
                 id_attribute_name: str = "__name__") -> None:
        super().__init__()
        self.resource_factory = resource_factory
        self.setup_method_name = setup_method_name
        self.teardown_method_name = teardown_method_name
        self.id_attribute_name = id_attribute_name

    def make(self, dependency_resources: dict[str, Any]) -> Any:
        resource = self.resource_factory(**dependency_resources)
        getattr(resource, self.setup_method_name)()
        return resource

    def clean(self, resource: Any) -> None:
        getattr(resource, self.teardown_method_name)()

    def isDirty(self) -> bool:
        return True

    def id(self) -> str:
        return f"{super().id()}[{getattr(self.resource_factory, self.id_attribute_name)}]"


class FixtureResource(TestResourceManager):
    """Adapts a ``fixtures.Fixture``: ``setUp`` to make, ``cleanUp`` to clean,
    ``reset`` between uses. Wrap its dependencies in FixtureResources of their
    own (and list them in ``resources``) to share them too."""

    alwaysDirty = True

    def __init__(self, fixture: Any) -> None:
        super().__init__()
        self.fixture = fixture

    def make(self, dependency_resources: dict[str, Any]) -> Any:
        self.fixture.setUp()
        return self.fixture

    def clean(self, resource: Any) -> None:
        resource.cleanUp()

    def _reset(self, resource: Any, dependency_resources: dict[str, Any]) -> Any:
        self.fixture.reset()
        return self.fixture

    def isDirty(self) -> bool:
        return True

    def id(self) -> str:
        return f"{super().id()}[{self.fixture}]"


@cache
def _positional_count(cls: type, name: str) -> int:
    """How many positional arguments (but self) ``cls.<name>`` takes."""
    try:
        parameters = list(signature(getattr(cls, name)).parameters.values())[1:]
    except (TypeError, ValueError):  # a builtin or a callable object: pass all
        return 99
    if any(p.kind is Parameter.VAR_POSITIONAL for p in parameters):
        return 99
    return sum(p.kind in (Parameter.POSITIONAL_ONLY, Parameter.POSITIONAL_OR_KEYWORD)
               for p in parameters)


def _hook(manager: TestResourceManager, name: str, *args: Any) -> Any:
    """Call a hook with as many of the upstream arguments as its signature
    takes (testresources' documentation drops some): decided once per class."""
    return getattr(manager, name)(*args[:_positional_count(type(manager), name)])


def _is_dirty(manager: TestResourceManager) -> bool:
    """``isDirty()``, or the documented ``isDirty(resource)``."""
    return bool(_hook(manager, "isDirty", manager._currentResource))


def neededResources(managers: Sequence[TestResourceManager]) -> list[TestResourceManager]:
    """``managers`` and all they depend on, each once, dependencies first."""
    found: dict[int, TestResourceManager] = {}

    def visit(manager: TestResourceManager) -> None:
        if id(manager) not in found:
            for _, dependency in manager.resources:
                visit(dependency)
            found[id(manager)] = manager
    for manager in managers:
        visit(manager)
    return list(found.values())


def _call(result: Any, name: str, manager: TestResourceManager) -> None:
    method = getattr(result, name, None)
    if callable(method):
        method(manager)


@contextmanager
def _reporting(result: Any, event: str, manager: TestResourceManager) -> Iterator[None]:
    """start<event> and stop<event> on the result, stop even on failure (so
    a result timing resources sees balanced pairs)."""
    _call(result, "start" + event, manager)
    try:
        yield
    finally:
        _call(result, "stop" + event, manager)


def _release(resources: Resources, acquired: dict[str, Any], result: Any) -> None:
    """Give back the ``acquired`` dependencies, last first; every one is given
    back even if one fails, and then the first failure is raised."""
    failure: BaseException | None = None
    for name, manager in reversed(resources):
        if name in acquired:
            try:
                manager.finishedWith(acquired[name], result)
            except Exception as error:  # noqa: BLE001 - raised below, after the rest
                failure = failure or error
    if failure is not None:
        raise failure


# Their public home, as in ``id()``: ``rotest_core.testresources.GenericResource``.
for _public in (TestResourceManager, GenericResource, FixtureResource):
    _public.__module__ = "rotest_core.testresources"
