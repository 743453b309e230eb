"""``rotest shell``: an interactive session to lock resources and run tests,
blocks and flows one at a time, as Rotest's shell::

    $ rotest shell -m tests.blocks
    >>> calc = lock(Calculator, share_as="calc", name="calc1")
    >>> run_test(AddBlock, a=1, b=2)        # prints the tree, returns the result
    >>> shared_data["total"]               # the outputs of what ran
    3

IPython when installed, Python's own console otherwise. The namespace holds
the resource classes of the configured plugins (and the resource and test
classes of the modules given with ``-m``), :func:`lock`, :func:`release`,
:func:`run_test` and ``shared_data``. Whatever the session holds is released
when it ends: Ctrl-D, ``exit()``, or the interpreter's exit (atexit).
"""
from __future__ import annotations

import atexit
import code
import importlib
import os
import sys
import unittest
from typing import Any, Iterable, TextIO

import click

from rotest_app.engine.cli_base import CliError
from rotest_app.engine.plugins import PluginError, load_plugins
from rotest_app.engine.settings import ConfigError

from . import flow, flow_component
from .block import TestBlock
from .case import RunContext, TestCase, new_run_dir, unique_dir
from .config import RunConfig, load_config
from .flow import TestFlow
from .flow_component import Pipe
from .resources.base import BaseResource
from .resources.errors import LockClientError
from .result import Result, handler_class
from .runner import _make_handlers, build_tree

__all__ = ["ShellSession", "shell"]


class ShellSession:
    """The state of one shell: its run context, what it locked, shared data.

    Args:
        config: the run settings.
        outputs: the report handlers each :meth:`run_test` prints with.
        stream: where they print.
    """

    def __init__(self, config: RunConfig, outputs: Iterable[str] = ("tree",),
                 stream: TextIO | None = None) -> None:
        self.config = config
        self.context = RunContext(config, new_run_dir(config.workdir, "shell"))
        self.outputs = list(outputs)
        self.stream = stream if stream is not None else sys.stdout
        #: Values and resources given to every test run_test runs; the outputs
        #: of the blocks and flows it ran are added.
        self.shared_data: dict[str, Any] = {}
        self.locked: list[BaseResource] = []
        self._closed = False

    # --- resources -----------------------------------------------------------

    def lock(self, resource_class: type[BaseResource], share_as: str | None = None, *,
             skip_init: bool = False, timeout: float | None = None,
             **filters: Any) -> BaseResource:
        """Lock and set up a resource for the session (``filters`` as in
        ``SomeResource.request(...)``). With ``share_as``, tests run by
        :meth:`run_test` get it under that name instead of locking one."""
        timeout = self.config.resource_request_timeout if timeout is None else timeout
        resource = self.context.manager.lock_one(resource_class.request(**filters),
                                                 skip_init=skip_init, timeout=timeout)
        self.locked.append(resource)
        if share_as:
            self.shared_data[share_as] = resource
        return resource

    def release(self, resource: BaseResource, dirty: bool = False) -> None:
        """Give back a resource taken with :meth:`lock`."""
        if resource not in self.locked:
            raise ValueError(f"{resource!r} was not locked in this shell")
        self.locked.remove(resource)
        for name in [k for k, v in self.shared_data.items() if v is resource]:
            del self.shared_data[name]
        self.context.manager.release_one(resource, dirty=dirty)

    # --- tests ---------------------------------------------------------------

    def run_test(self, test: type, debug: bool = False, **parameters: Any
                 ) -> unittest.TestResult:
        """Run a TestCase, TestBlock or TestFlow class with ``shared_data``
        and ``parameters`` (these win); a block's or flow's outputs go into
        ``shared_data``. ``debug``: the debugger on failures and errors, as
        ``-D`` does. Returns the result (``.wasSuccessful()``)."""
        values = {**self.shared_data, **parameters}
        if isinstance(test, type) and issubclass(test, (TestBlock, TestFlow)):
            prepared = test.params(**_for_component(test, values, parameters),
                                   name=test.get_name())
        elif isinstance(test, type) and issubclass(test, unittest.TestCase):
            prepared = _for_case(test, values, parameters)
        else:
            raise TypeError(f"run_test takes a TestCase, TestBlock or TestFlow class, "
                            f"not {test!r}")
        root = build_tree([prepared], "shell", self.config)
        root.work_dir = unique_dir(self.context.run_dir, test.__name__)
        handlers = _make_handlers([handler_class(name) for name in self.outputs], root,
                                  stream=self.stream, config=self.config,
                                  work_dir=root.work_dir)
        result = Result(handlers, context=self.context, debug=debug)
        result.startTestRun()
        try:
            root.run(result)
        finally:
            try:
                self.context.manager.release_kept()  # nothing stays locked between runs
            finally:
                result.stopTestRun()
        for ran in root:
            if result.wasSuccessful() and isinstance(ran, (TestBlock, TestFlow)):
                self.shared_data.update(ran._outputs_to_share())
        return result

    # --- the end -------------------------------------------------------------

    def close(self) -> None:
        """Release everything the session holds; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.locked.clear()
        self.context.close()

    def namespace(self, modules: Iterable[str] = ()) -> dict[str, Any]:
        """What the shell starts with: resource classes of the plugins and the
        resource and test classes of ``modules``, and the session's helpers."""
        names: dict[str, Any] = {}
        for module in load_plugins(self.config.plugins).values():
            names.update(_classes(module, (BaseResource,)))
        for module_name in modules:
            names.update(_classes(importlib.import_module(module_name),
                                  (BaseResource, unittest.TestCase, unittest.TestSuite)))
        names.update({"lock": self.lock, "release": self.release,
                      "run_test": self.run_test, "shared_data": self.shared_data,
                      "session": self, "Pipe": flow_component.Pipe,
                      "create_flow": flow.create_flow})
        return names


def _classes(module: Any, bases: tuple[type, ...]) -> dict[str, type]:
    """The public classes of ``module`` (its own and imported ones) that
    subclass one of ``bases``, but the bases themselves."""
    framework = {BaseResource, TestCase, unittest.TestCase, unittest.TestSuite}
    return {name: value for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, bases)
            and not name.startswith("_") and value not in framework
            and not value.__module__.startswith(("rotest_core.", "unittest"))}


def _for_component(test: type, values: dict[str, Any], given: dict[str, Any]) -> dict:
    """The values a block or flow declares (inputs, outputs, resources, under
    it too), and whatever was given explicitly (checked by the flow)."""
    declared = _declared_names(test) | _pipe_sources(given)
    return {name: value for name, value in values.items()
            if name in declared or name in given}


def _declared_names(test: type) -> set[str]:
    names = (set(test.get_inputs()) | set(test.get_outputs())
             | {request.name for request in test.get_resource_requests()}
             | _pipe_sources(test.common))
    for component in getattr(test, "blocks", ()):
        names |= _declared_names(component)
    return names


def _pipe_sources(values: dict[str, Any]) -> set[str]:
    return {value.parameter_name for value in values.values() if isinstance(value, Pipe)}


def _for_case(test: type, values: dict[str, Any], given: dict[str, Any]) -> type:
    """A subclass of the case with the given values as attributes; its
    requests whose names have a value are not locked."""
    given_requests = {r.name for r in test.get_resource_requests()} & set(values)
    attributes = {name: value for name, value in values.items()
                  if name in given or name in given_requests}

    def get_resource_requests(cls: type) -> list:
        return [r for r in test.get_resource_requests() if r.name not in given_requests]

    return type(test.__name__, (test,), {**attributes, "__module__": test.__module__,
                                         "get_resource_requests":
                                             classmethod(get_resource_requests)})


# --------------------------------------------------------------------------
# The command

BANNER = """rotest shell: lock resources and run tests one at a time.
  res = lock(ResourceClass, share_as="name", **filters)   release(res)
  run_test(TestClass, **params)      shared_data: given to every test run
Names: {names}
Everything is released when the shell ends (Ctrl-D or exit())."""


def run_startup_commands(namespace: dict[str, Any], commands: Iterable[str]) -> None:
    """Rotest's ``shell_startup_commands``: statements run in the shell's
    namespace before the prompt; one that fails is reported, not fatal."""
    for command in commands:
        try:
            exec(command, namespace)  # noqa: S102 - the user's own settings
        except Exception as error:  # noqa: BLE001 - the shell should still open
            print(f"rotest shell: startup command {command!r} failed: "
                  f"{type(error).__name__}: {error}", file=sys.stderr)


def interact(namespace: dict[str, Any], banner: str, plain: bool = False) -> None:
    """IPython if it is installed (and not ``plain``), Python's console otherwise."""
    if not plain:
        try:
            import IPython  # optional: Python's console without it
        except ImportError:
            pass
        else:
            print(banner)
            IPython.start_ipython(argv=["--no-banner"], user_ns=namespace)
            return
    code.interact(banner=banner, local=namespace, exitmsg="")


@click.command("shell")
@click.option("-m", "--module", "modules", multiple=True, metavar="MODULE",
              help="Import MODULE's resource and test classes too (repeatable), "
                   "e.g. -m tests.test_calculator.")
@click.option("-o", "--outputs", metavar="NAMES",
              help="Comma-separated report handlers run_test prints with. Default: "
                   "'shell_output_handlers' of the settings (tree).")
@click.option("--plain", is_flag=True, help="Python's console even if IPython is installed.")
def shell(modules: tuple[str, ...], outputs: str | None, plain: bool) -> None:
    """An interactive shell to lock resources and run tests, blocks and
    flows one at a time (Rotest's shell)."""
    if modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # -m tests.something, from the project's folder
    try:
        config = load_config()
        names = ([n.strip() for n in outputs.split(",") if n.strip()] if outputs
                 else config.shell_output_handlers)
        session = ShellSession(config, names)
        namespace = session.namespace(modules)
        run_startup_commands(namespace, config.shell_startup_commands)
    except (ConfigError, PluginError) as error:
        raise CliError(str(error), exit_code=2) from None
    except ImportError as error:
        raise CliError(f"cannot import a module given with -m: {error}", exit_code=2) \
            from None
    atexit.register(session.close)  # the interpreter may end without returning here
    shown = sorted(name for name in namespace if name[0].isupper())
    try:
        interact(namespace, BANNER.format(names=", ".join(shown) or "none"), plain)
    finally:
        try:
            session.close()
        except LockClientError as error:
            raise CliError(f"releasing the shell's resources failed: {error}") from None
