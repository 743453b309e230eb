"""The client-side resource manager: lock through a StoreClient, build and set
up the resources, keep them for the next test that wants the same (the smart
client), release them at the end.
"""
from __future__ import annotations

import atexit
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..config import load_config
from .errors import ResourcesLostError, SessionLostError
from .request import ResourceRequest

if TYPE_CHECKING:
    from ..store.client import StoreClient
    from .base import BaseResource

log = logging.getLogger("rotest.resources")


class ResourceManager:
    """Resources for tests, over one lock session.

    Every resource it hands out stays *live* until it is given back (finalized
    and released); the smart client keeps live ones between tests that make
    the same request. :meth:`close` gives back whatever is still live.
    """

    def __init__(self, client: "StoreClient", *, smart: bool = True, timeout: float = 0.0,
                 config: Any = None,
                 on_event: Callable[[str, BaseResource], None] | None = None) -> None:
        self.client = client
        #: Told of each set-up (``"make"``) and finalize (``"clean"``): the
        #: run's Result counts them.
        self.on_event = on_event
        self.smart = smart
        self.timeout = timeout
        self.config = config
        #: Handed out and not given back, by id: the request each was built for.
        self._live: dict[int, tuple[ResourceRequest, BaseResource]] = {}
        #: Live resources the smart client keeps for a later, equal request.
        self._kept: list[tuple[ResourceRequest, BaseResource]] = []
        self._opened = False
        #: Of the last :meth:`request_resources`: seconds waited for the
        #: locks (the lock call, queue included) and spent setting up.
        self.last_wait = 0.0
        self.last_setup = 0.0

    def open(self) -> None:
        """Open the lock session now (it opens on first use otherwise), so an
        unreachable server fails once, before any test runs."""
        if not self._opened:
            self.client.open(description="rotest run")
            self._opened = True

    def request_resources(self, requests: Iterable[ResourceRequest], *,
                          skip_init: bool = False, force_initialize: bool = False,
                          use_previous: bool = True, base_work_dir: str | Path | None = None,
                          timeout: float | None = None) -> dict[str, BaseResource]:
        """Lock (or reuse) and set up a resource for every request, all or none.

        Returns them by request name. A resource left dirty by its last user is
        force-initialized. On any failure, whatever was locked here is given
        back (dirty where its set-up failed) before the error propagates; reused
        resources go back to the smart client's keeping.
        """
        requests = list(requests)
        self.last_wait = self.last_setup = 0.0
        self._forget_if_lost()
        reused = self._take_kept(requests) if use_previous and self.smart else {}
        try:
            self.release_kept()  # kept ones this test does not want
            wanted = [r for r in requests if r.name not in reused]
            built = self._build(wanted, base_work_dir,
                                self.timeout if timeout is None else timeout)
            began = time.monotonic()
            try:
                self._setup(built, wanted, skip_init, force_initialize)
            finally:
                self.last_setup = time.monotonic() - began
        except BaseException:
            self._kept.extend((self._live[id(r)][0], r) for r in reused.values())
            raise
        for request in wanted:
            self._live[id(built[request.name])] = (request, built[request.name])
        if base_work_dir is not None:  # a kept resource works in its new test's folder
            for resource in reused.values():
                resource.set_work_dir(base_work_dir)
        return {**reused, **built}

    def session_lost(self) -> SessionLostError | None:
        """Why the lock session was lost under the resources handed out (see
        :meth:`StoreClient.check_session`), or None while it holds them."""
        if not self._opened:
            return None
        try:
            self.client.check_session()
        except SessionLostError as error:
            return error
        return None

    def _forget_if_lost(self) -> None:
        """Kept resources of a lost session are no longer ours: forget them,
        untouched (the next lock opens a new session)."""
        lost = self.session_lost() if self._kept else None
        if lost is not None:
            names = [resource.name for _, resource in self._kept]
            for _, resource in self._kept:
                self._live.pop(id(resource), None)
            self._kept = []
            log.error("resources kept for later tests were lost with the lock session, "
                      "untouched: %s (%s)", ", ".join(names), lost)

    def _take_kept(self, requests: list[ResourceRequest]) -> dict[str, BaseResource]:
        reused = {}
        for request in requests:
            for entry in self._kept:
                if entry[0].same_as(request):
                    reused[request.name] = entry[1]
                    self._kept.remove(entry)
                    log.debug("reusing %s for %s", entry[1].name, request.name)
                    break
        return reused

    def _build(self, requests: list[ResourceRequest], base_work_dir: Any,
               timeout: float) -> dict[str, BaseResource]:
        """Lock what the requests describe (services are never sent to the
        lock engine) and build the resources; all or none."""
        locked = [r for r in requests if not r.is_service]
        granted: list[dict[str, Any]] = []
        if locked:
            self.open()  # opening the session is not waiting for a lock
            began = time.monotonic()
            try:
                granted = self.client.lock([r.descriptor() for r in locked],
                                           timeout=timeout)
            finally:
                self.last_wait = time.monotonic() - began
        data = dict(zip((r.name for r in locked), granted))
        try:
            return {r.name: self._construct(r, data.get(r.name), base_work_dir)
                    for r in requests}
        except BaseException:
            if granted:
                self.client.release([d["name"] for d in granted], dirty=True)
            raise

    def _construct(self, request: ResourceRequest, data: dict[str, Any] | None,
                   base_work_dir: Any) -> BaseResource:
        if request.is_service:
            return request.type(config=self.config, base_work_dir=base_work_dir,
                                **{"name": request.name, **request.kwargs})
        return request.type(data=data, config=self.config, base_work_dir=base_work_dir)

    def _setup(self, built: dict[str, BaseResource], requests: list[ResourceRequest],
               skip_init: bool, force_initialize: bool) -> None:
        done: list[BaseResource] = []
        for request in requests:
            resource = built[request.name]
            self._event("make", resource)
            try:
                resource.setup_resource(skip_init=skip_init,
                                        force_initialize=force_initialize or _dirty(resource))
            except BaseException:
                untouched = [r for r in built.values() if r not in done and r is not resource]
                self._abandon(done, resource, untouched)
                raise
            done.append(resource)

    def _abandon(self, done: list[BaseResource], failed: BaseResource,
                 untouched: list[BaseResource]) -> None:
        """Give back everything of a request whose set-up failed. setup_resource
        already finalized the failed one; its state is unknown, so it goes back
        dirty. The ones never set up keep the dirty flag they came with.
        Errors here are logged: the set-up error is the one to report."""
        try:
            _all_of(lambda: self._give_back(done, dirty=False),
                    lambda: self._give_back([failed], dirty=True, finalize=False),
                    *(lambda flag=flag: self._give_back(
                        [r for r in untouched if _dirty(r) is flag], dirty=flag,
                        finalize=False) for flag in (True, False)))
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("giving back the resources of a failed set-up failed")

    def release_resources(self, resources: dict[str, BaseResource] | Iterable[BaseResource],
                          *, dirty: bool = False, force_release: bool = False) -> None:
        """The test is done with them: keep them for the next test (smart client,
        clean) or finalize and release them (dirty after an error)."""
        items = list(resources.values() if isinstance(resources, dict) else resources)
        # A lost session's resources are not kept: _give_back says they are lost.
        if self.smart and not dirty and not force_release and self.session_lost() is None:
            self._kept.extend(self._live[id(r)] for r in items if id(r) in self._live)
            items = [r for r in items if id(r) not in self._live]
        self._give_back(items, dirty=dirty)

    @property
    def keeps_resources(self) -> bool:
        """Whether the smart client keeps resources for a later, equal request."""
        return bool(self._kept)

    def release_kept(self) -> None:
        """Finalize and release what the smart client kept."""
        kept, self._kept = self._kept, []
        self._give_back([resource for _, resource in kept], dirty=False)

    def _give_back(self, resources: list[BaseResource], *, dirty: bool,
                   finalize: bool = True) -> None:
        """Finalize each (all of them, even when some fail), then release the
        locked ones in one call: dirty if asked or if a finalize failed."""
        if not resources:
            return
        lost = self.session_lost() if any(r.DATA_CLASS is not None
                                          for r in resources) else None
        errors = []
        for resource in resources:
            self._live.pop(id(resource), None)
            if lost is not None and resource.DATA_CLASS is not None:
                continue  # not ours any more: touched neither here nor on the server
            if finalize:
                self._event("clean", resource)
                try:
                    resource.finalize()
                except Exception as error:  # noqa: BLE001 - released dirty, then raised
                    log.exception("finalizing %s failed", resource.name)
                    errors.append(error)
        names = [r.name for r in resources if r.DATA_CLASS is not None]
        if lost is not None:
            raise ResourcesLostError(lost, names)
        if names:
            try:
                self.client.release(names, dirty=dirty or bool(errors))
            except SessionLostError as error:  # lost while finalizing
                raise ResourcesLostError(error, names) from None
        if errors:
            raise errors[0]

    def _event(self, action: str, resource: BaseResource) -> None:
        if self.on_event is not None:
            self.on_event(action, resource)

    def close(self) -> None:
        """Give back everything still live and end the lock session. Resources
        a test never gave back (an interrupted run) are released dirty."""
        self._forget_if_lost()
        kept = {id(resource) for _, resource in self._kept}
        in_use = [r for _, r in self._live.values() if id(r) not in kept]
        try:
            _all_of(self.release_kept, lambda: self._give_back(in_use, dirty=True))
        finally:
            if self._opened:
                self.client.close()
                self._opened = False

    # --- one resource at a time, for BaseResource.lock() -------------------

    def lock_one(self, request: ResourceRequest, *, skip_init: bool = False,
                 timeout: float = 0.0, config: Any = None) -> BaseResource:
        """Lock, build and set up one resource outside of a test; ``config``
        (a run configuration) replaces the manager's for this resource."""
        request = ResourceRequest(f"{request.type.__name__}-{id(request)}", request.type,
                                  **request.kwargs)
        previous = self.config
        if config is not None:
            self.config = config  # read by _construct: the shell locks one at a time
        try:
            return self.request_resources([request], skip_init=skip_init,
                                          use_previous=False,
                                          timeout=timeout)[request.name]
        finally:
            self.config = previous

    def release_one(self, resource: BaseResource, *, dirty: bool = False) -> None:
        """Finalize and release a resource from :meth:`lock_one`."""
        self._give_back([resource], dirty=dirty)


def _dirty(resource: BaseResource) -> bool:
    """Whether the resource's last user released it dirty."""
    return bool(resource.data.get("dirty"))


def _all_of(*steps: Callable[[], None]) -> None:
    """Run every step even when some fail (so every lock is given back); then
    raise the first failure."""
    errors = []
    for step in steps:
        try:
            step()
        except BaseException as error:  # noqa: BLE001 - raised below, after the rest
            errors.append(error)
    if errors:
        raise errors[0]


_shell_manager: ResourceManager | None = None


def shell_manager() -> ResourceManager:
    """The manager behind BaseResource.lock(), from the run configuration;
    everything it holds is released when the interpreter exits."""
    global _shell_manager
    if _shell_manager is None:
        from ..store import client_for  # lazy: the shell's manager only
        config = load_config()
        _shell_manager = ResourceManager(client_for(config), smart=False,
                                         timeout=config.resource_request_timeout,
                                         config=config)
        atexit.register(_shell_manager.close)
    return _shell_manager
