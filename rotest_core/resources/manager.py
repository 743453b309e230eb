"""The client-side resource manager: lock through a LockClient, build and set
up the resources, keep them for the next test that wants the same (the smart
client), release them at the end.
"""
from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import Any, Iterable

from .base import BaseResource
from .lock_client import LockClient
from .request import ResourceRequest

log = logging.getLogger("rotest.resources")


class ResourceManager:
    """Resources for tests, over one lock session."""

    def __init__(self, client: LockClient, *, smart: bool = True, timeout: float = 0.0,
                 config: Any = None) -> None:
        self.client = client
        self.smart = smart
        self.timeout = timeout
        self.config = config
        self._kept: list[tuple[ResourceRequest, BaseResource]] = []
        #: The request each live resource was built for, so it can be kept.
        self._origin: dict[int, ResourceRequest] = {}
        self._opened = False

    def _ensure_open(self) -> None:
        if not self._opened:
            self.client.open(description="rotest run")
            self._opened = True

    def request_resources(self, requests: Iterable[ResourceRequest], *,
                          skip_init: bool = False, force_initialize: bool = False,
                          use_previous: bool = True, base_work_dir: str | Path | None = None,
                          timeout: float | None = None) -> dict[str, BaseResource]:
        """Lock (or reuse) and set up a resource for every request, all or none.

        Returns them by request name. On any failure, whatever was locked here is
        released (dirty where its set-up failed) before the error propagates.
        """
        requests = list(requests)
        reused = self._take_kept(requests) if use_previous and self.smart else {}
        self.release_kept()
        wanted = [r for r in requests if r.name not in reused]
        built = self._build(wanted, base_work_dir,
                            self.timeout if timeout is None else timeout)
        self._setup(built, wanted, skip_init, force_initialize)
        for request in requests:
            self._origin[id(reused.get(request.name) or built[request.name])] = request
        return {**reused, **built}

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
        locked = [r for r in requests if not r.is_service]
        built: dict[str, BaseResource] = {}
        if locked:
            self._ensure_open()
            granted = self.client.lock([r.descriptor() for r in locked], timeout=timeout)
            try:
                for request, data in zip(locked, granted):
                    built[request.name] = request.type(data=data, config=self.config,
                                                       base_work_dir=base_work_dir)
            except BaseException:
                self.client.release([d["name"] for d in granted], dirty=True)
                raise
        for request in requests:
            if request.is_service:
                built[request.name] = request.type(config=self.config,
                                                   base_work_dir=base_work_dir,
                                                   **request.kwargs)
        return built

    def _setup(self, built: dict[str, BaseResource], requests: list[ResourceRequest],
               skip_init: bool, force_initialize: bool) -> None:
        done: list[BaseResource] = []
        for request in requests:
            resource = built[request.name]
            try:
                resource.setup_resource(
                    skip_init=skip_init,
                    force_initialize=force_initialize or bool(resource.data.get("dirty")))
            except BaseException:
                # setup_resource finalized the failed one; give back all of them.
                self._give_back(done, dirty=False)
                self._give_back([r for r in built.values() if r not in done],
                                dirty=True, finalize=False)
                raise
            done.append(resource)

    def release_resources(self, resources: dict[str, BaseResource] | Iterable[BaseResource],
                          *, dirty: bool = False, force_release: bool = False) -> None:
        """The test is done with them: keep them for the next test (smart client,
        clean) or finalize and release them (dirty after an error)."""
        items = list(resources.values() if isinstance(resources, dict) else resources)
        if self.smart and not dirty and not force_release:
            self._kept.extend((self._origin[id(r)], r) for r in items if id(r) in self._origin)
            items = [r for r in items if id(r) not in self._origin]
        self._give_back(items, dirty=dirty)

    def release_kept(self) -> None:
        """Finalize and release what the smart client kept."""
        kept, self._kept = self._kept, []
        self._give_back([resource for _, resource in kept], dirty=False)

    def _give_back(self, resources: list[BaseResource], *, dirty: bool,
                   finalize: bool = True) -> None:
        errors = []
        for resource in resources:
            self._origin.pop(id(resource), None)
            if finalize:
                try:
                    resource.finalize()
                except Exception as error:  # noqa: BLE001 - released dirty, then raised
                    log.exception("finalizing %s failed", resource.name)
                    errors.append(error)
        names = [r.name for r in resources if r.DATA_CLASS is not None]
        if names:
            self.client.release(names, dirty=dirty or bool(errors))
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Release everything and end the lock session."""
        try:
            self.release_kept()
        finally:
            if self._opened:
                self.client.close()
                self._opened = False

    # --- one resource at a time, for BaseResource.lock() -------------------

    def lock_one(self, request: ResourceRequest, *, skip_init: bool = False,
                 timeout: float = 0.0) -> BaseResource:
        request = ResourceRequest(f"{request.type.__name__}-{id(request)}", request.type,
                                  **request.kwargs)
        return self.request_resources([request], skip_init=skip_init, use_previous=False,
                                      timeout=timeout)[request.name]

    def release_one(self, resource: BaseResource, *, dirty: bool = False) -> None:
        self._give_back([resource], dirty=dirty)


_shell_manager: ResourceManager | None = None


def shell_manager() -> ResourceManager:
    """The manager behind BaseResource.lock(), from the run configuration;
    everything it holds is released when the interpreter exits."""
    global _shell_manager
    if _shell_manager is None:
        from ..config import load_config, lock_client_for
        config = load_config()
        _shell_manager = ResourceManager(lock_client_for(config), smart=False,
                                         timeout=config.resource_request_timeout,
                                         config=config)
        atexit.register(_shell_manager.close)
    return _shell_manager
