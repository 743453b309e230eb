"""BaseResource: the behaviour side of a resource, as in Rotest.

Override ``connect``, ``validate``, ``initialize``, ``finalize`` and
``store_state`` (calling ``super()``); declare sub-resources and services as
class fields with ``SomeResource.request(...)``. The runtime calls
:meth:`setup_resource` after locking and :meth:`finalize` before releasing.
"""
from __future__ import annotations

import logging
import re
import threading
import unittest
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..config import load_config, read_run_config
from .data import ResourceView
from .manager import shell_manager
from .request import ResourceRequest, class_requests

log = logging.getLogger("rotest.resources")


class ResourceLifecycleError(RuntimeError):
    """One or more resources failed a lifecycle step; the message names each."""


class BaseResource:
    """A resource the tests use: locked through the engine if it has a
    ``DATA_CLASS``, built locally from its request's arguments if not (a service).

    Attributes:
        DATA_CLASS: the ResourceData model it is locked as, or None for a service.
        PARALLEL_INITIALIZATION: set up sub-resources in threads.
        data: its fields (read like a model: ``self.data.ip_address``).
        parent: the resource it is a sub-resource of, or None.
        work_dir: a directory of its own under the test's.
    """

    DATA_CLASS: type | None = None
    PARALLEL_INITIALIZATION = False

    def __init__(self, data: Any = None, *, config: Any = None,
                 base_work_dir: str | Path | None = None, parent: "BaseResource | None" = None,
                 **kwargs: Any) -> None:
        data_given = data
        if data is None:
            fields = {"name": f"{type(self).__name__}-{id(self)}", **kwargs}
            data = ResourceView({"type": type(self).__name__, **fields})
        elif not isinstance(data, ResourceView):
            if not isinstance(data, Mapping):
                raise TypeError(
                    f"{type(self).__name__}({data!r}): a resource takes keyword arguments "
                    f"only (Rotest refuses positional ones too): request one with "
                    f"{type(self).__name__}(name={data!r}) or "
                    f"{type(self).__name__}.request(name={data!r})")
            data = ResourceView(data)
        self.data = data
        self.name: str = data.name
        for field, value in data.items():  # Rotest's resource.ip_address
            if not hasattr(type(self), field):
                setattr(self, field, value)
        self.kwargs = kwargs
        self.config = config
        self.parent = parent
        self.logger = log
        self.work_dir: Path | None = None
        if base_work_dir is not None:
            self.set_work_dir(base_work_dir)
        #: Made bare (no data, parent, config or work directory): in a class
        #: body this is Rotest's ``calc = Calculator()``, a request.
        self._bare = data_given is None and config is None and parent is None \
            and base_work_dir is None
        # A bare lockable resource was never locked: it has no sub-resources
        # (they come with the lock), and its data has no field to point at.
        self._sub_resources = (() if self._bare and self.DATA_CLASS is not None
                               else tuple(self.create_sub_resources()))

    def __set_name__(self, owner: type, name: str) -> None:
        """Rotest's declaration form ``calc = Calculator(name="calc1")`` in the
        body of a test (case, block, flow) or a resource: replaced by
        ``Calculator.request(name="calc1")``, its keyword arguments being the
        filters (or a service's parameters)."""
        if self._bare and issubclass(owner, _DECLARING_CLASSES):
            request = ResourceRequest(name, type(self), **self.kwargs)
            setattr(owner, name, request)

    @classmethod
    def request(cls, **kwargs: Any) -> ResourceRequest:
        """A request for one of these: filters for the lock engine, or a
        service's constructor arguments."""
        return ResourceRequest(None, cls, **kwargs)

    # --- structure -------------------------------------------------------

    def create_sub_resources(self) -> list["BaseResource"]:
        """Build the sub-resources and services declared as class fields.

        A request whose ``data`` points at a field of this resource's data gets
        that field's value (the sub-resource locked with this one). When that
        field is empty (an optional relation), the attribute is None and there
        is no sub-resource.
        """
        children = []
        for request in class_requests(type(self)):
            kwargs = request.resolved(self.data)
            if request.is_service:
                kwargs.setdefault("name", request.name)  # its work directory's name
            if "data" in kwargs and kwargs["data"] is None:
                setattr(self, request.name, None)
                continue
            child = request.type(config=self.config, parent=self,
                                 base_work_dir=self.work_dir, **kwargs)
            setattr(self, request.name, child)
            children.append(child)
        return children

    def get_sub_resources(self) -> Iterator["BaseResource"]:
        """The sub-resources and services of this resource, in declaration order."""
        return iter(self._sub_resources)

    def set_work_dir(self, base: str | Path) -> None:
        self.work_dir = Path(base) / _safe_name(self.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for child in getattr(self, "_sub_resources", ()):
            child.set_work_dir(self.work_dir)

    # --- lifecycle hooks (override, calling super) -----------------------

    def connect(self) -> None:
        """Open a session to the resource. Sub-resources connect first."""
        for child in self.get_sub_resources():
            child.connect()

    def validate(self) -> bool:
        """True if the resource is ready for work as it is (skips initialize)."""
        return False

    def initialize(self) -> None:
        """Bring the resource to a known state."""
        self.logger.debug("initializing %s", self.name)

    def finalize(self) -> None:
        """Clean up before release. Every sub-resource is finalized even when
        some fail; then one error names them all."""
        self._each([child.finalize for child in self.get_sub_resources()], "finalize")

    def store_state(self, state_dir: str | Path) -> None:
        """Save what helps debug a failure (logs, configs) under ``state_dir``;
        each sub-resource gets a folder of its own there. Every sub-resource is
        asked even when some fail; then one error names them all."""
        self._each([lambda c=child: c.store_state(_made(Path(state_dir) / _safe_name(c.name)))
                    for child in self.get_sub_resources()], "store_state")

    # --- driven by the runtime -------------------------------------------

    def setup_resource(self, skip_init: bool = False, force_initialize: bool = False) -> None:
        """connect; then, unless skipped, validate and initialize where needed.

        ``force_initialize`` (a dirty resource) initializes even when valid and
        even with ``skip_init``, as in Rotest. A failed initialization is
        followed by finalize; a failed connect is not (nothing to undo yet).
        """
        self.connect()
        if skip_init and not force_initialize:
            self.logger.debug("%s: skipping validation and initialization", self.name)
            return
        try:
            self._initialize_resource(force_initialize)
        except BaseException:
            self.logger.exception("initializing %s failed; finalizing it", self.name)
            try:
                self.finalize()
            except Exception:  # noqa: BLE001 - the set-up error is the one to report
                self.logger.exception("finalizing %s after a failed set-up failed too",
                                      self.name)
            raise

    def _initialize_resource(self, force_initialize: bool) -> None:
        """Sub-resources first (in threads if PARALLEL_INITIALIZATION), then self."""
        children = list(self.get_sub_resources())
        if self.PARALLEL_INITIALIZATION and len(children) > 1:
            self._initialize_in_threads(children, force_initialize)
        else:
            for child in children:
                child._initialize_resource(force_initialize)
        if force_initialize or not self.validate():
            self.initialize()
        else:
            self.logger.debug("%s is valid; initialization skipped", self.name)

    def _initialize_in_threads(self, children: list["BaseResource"],
                               force_initialize: bool) -> None:
        """Initialize ``children`` at once; when all have ended, log every
        failure and raise the first (in declaration order, not in time order,
        so the same failure is reported on every run)."""
        errors: dict[int, BaseException] = {}

        def run(index: int, child: BaseResource) -> None:
            try:
                child._initialize_resource(force_initialize)
            except BaseException as error:  # noqa: BLE001 - re-raised after join
                errors[index] = error

        threads = [threading.Thread(target=run, args=(i, c), name=f"init-{c.name}")
                   for i, c in enumerate(children)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for index in sorted(errors):
            self.logger.error("initializing %s failed", children[index].name,
                              exc_info=errors[index])
        if errors:
            raise errors[min(errors)]

    def _each(self, callbacks: list[Callable[[], None]], step: str) -> None:
        failures = []
        for callback, child in zip(callbacks, self.get_sub_resources()):
            try:
                callback()
            except Exception as error:  # noqa: BLE001 - collected and raised below
                self.logger.exception("%s of %s failed", step, child.name)
                failures.append(f"{child.name}: {type(error).__name__}: {error}")
        if failures:
            raise ResourceLifecycleError(f"{step} failed for {len(failures)} "
                                         f"sub-resource(s) of {self.name}: "
                                         + "; ".join(failures))

    # --- scripts and the shell ---------------------------------------------

    @classmethod
    def lock(cls, skip_init: bool = False, timeout: float = 0.0, config: Any = None,
             **filters: Any) -> "BaseResource":
        """Lock, build and set up one of these outside a test (scripts, the
        shell). ``config``: a run configuration (Rotest's, a JSON file's path
        or a dict) the resource gets as its ``config``. Give it back with
        :meth:`release`."""
        manager = shell_manager()
        run_config = None
        if config is not None:
            document = config if isinstance(config, dict) else read_run_config(config)
            run_config = load_config(run_config=document)
        return manager.lock_one(cls.request(**filters), skip_init=skip_init,
                                timeout=timeout, config=run_config)

    def release(self, dirty: bool = False) -> None:
        """Finalize and release a resource taken with :meth:`lock`."""
        shell_manager().release_one(self, dirty=dirty)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


#: Classes whose bodies may declare resources (Rotest's tutorial form).
_DECLARING_CLASSES = (unittest.TestCase, unittest.TestSuite, BaseResource)


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name) or "resource"
