"""The run configuration: defaults < rotest.yml < ROTEST_* environment < command line.

Rotest's environment names are accepted too (``ROTEST_WORK_DIR``,
``ROTEST_SERVER_PORT``, ``RESOURCE_MANAGER_HOST``, ``RESOURCE_WAITING_TIME``,
``ARTIFACTS_DIR``, ``DISCOVERER_BLACKLIST``, ``SHELL_STARTUP_COMMANDS``,
``SHELL_OUTPUT_HANDLERS``); the project's own name wins, with a warning
when the two disagree.

Rotest's keys where it has them (host, port, workdir, resource_request_timeout,
smart_client, artifacts_dir, discoverer_blacklist, outputs), plus token,
database_url and plugins, shared with the server (:mod:`rotest_app.engine.settings`).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

from rotest_app.engine.settings import (SERVER_OPTIONS, ConfigError, Option, as_bool, as_list,
                                        as_optional_str, default_database_url, load_settings)

__all__ = ["ConfigError", "RunConfig", "load_config"]


def _as_port(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a port number, got {value!r}")
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError(f"expected a port number from 1 to 65535, got {value!r}")
    return port


def _as_timeout(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number of seconds, got {value!r}")
    seconds = float(value)
    if seconds < 0:
        raise ValueError(f"expected zero or more seconds, got {value!r}")
    return seconds


#: How long a remote client keeps trying a server it cannot reach: longer than
#: a restart takes (a few seconds to stop and to start), with a margin for a
#: slow database or a machine reboot.
SERVER_RETRY_SECONDS = 120.0

CLIENT_OPTIONS = (
    Option("host", as_optional_str, None,
           "the lock server (host, or http(s)://host); unset: embedded mode",
           aliases=("RESOURCE_MANAGER_HOST",)),
    Option("port", _as_port, 8000, "the lock server's port", aliases=("ROTEST_SERVER_PORT",)),
    Option("token", as_optional_str, None, "API token for the lock server"),
    Option("server_retry_seconds", _as_timeout, SERVER_RETRY_SECONDS,
           "seconds a call keeps trying a lock server it cannot reach (a "
           "restart), from its first failure, before the run fails"),
    Option("resource_request_timeout", _as_timeout, 0.0,
           "seconds a test waits in the queue for its resources",
           aliases=("RESOURCE_WAITING_TIME",)),
    Option("smart_client", as_bool, True,
           "keep resources between tests that want the same ones"),
    Option("artifacts_dir", as_optional_str, None, "where run artifacts are zipped to",
           aliases=("ARTIFACTS_DIR",), is_path=True),
    Option("html_path", as_optional_str, None,
           "where the html handler writes its report (relative: to the run's "
           "directory); unset: report.html in the run's directory"),
    Option("discoverer_blacklist", as_list,
           [".tox", ".git", ".idea", "setup.py", "build", "dist", "*.egg-info", "venv",
            ".venv", "__pycache__", "node_modules"],
           "fnmatch patterns of paths discovery skips", aliases=("DISCOVERER_BLACKLIST",)),
    Option("outputs", as_list, ["tree"], "report handlers used when -o is not given"),
    Option("shell_startup_commands", as_list, [],
           "Python statements rotest shell runs before its prompt (Rotest's)",
           aliases=("SHELL_STARTUP_COMMANDS",)),
    Option("shell_output_handlers", as_list, ["tree"],
           "report handlers rotest shell's run_test prints with, when -o is not given",
           aliases=("SHELL_OUTPUT_HANDLERS",)),
    Option("junit_path", as_optional_str, None,
           "where the junit handler writes its XML (relative: to the run's "
           "directory); unset: junit.xml in the run's directory"),
    Option("history_wait", _as_timeout, 30.0,
           "seconds the history handler waits at the end of a run for a server "
           "that does not answer, before leaving the rest in the run's journal"),
    Option("history_lease", _as_timeout, 300.0,
           "seconds the server waits for a run that went silent before it "
           "ends it as aborted (renewed while the run goes)"),
)
SHARED = tuple(o for o in SERVER_OPTIONS
               if o.name in {"workdir", "database_url", "plugins", "lease_seconds"})
OPTIONS = SHARED + CLIENT_OPTIONS


class RunConfig(SimpleNamespace):
    """Settings by attribute: ``config.resource_request_timeout``; with
    Rotest's run configuration (``-c``), its keys too (``config.project``),
    also as items (``config["project"]``), as Rotest's AttrDict has them."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def __contains__(self, key: str) -> bool:
        return hasattr(self, key)

    @property
    def embedded(self) -> bool:
        return not self.host

    @property
    def server_url(self) -> str:
        host = self.host or "localhost"
        base = host if "://" in host else f"http://{host}"
        return base if base.count(":") > 1 else f"{base}:{self.port}"

    @property
    def embedded_database_url(self) -> str:
        return self.database_url or default_database_url(self.workdir)


def load_config(config_file: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None,
                run_config: Mapping[str, Any] | None = None) -> RunConfig:
    """The settings for a run; ``overrides`` come from the command line.

    ``run_config`` is Rotest's run configuration (``-c``): its keys that name
    settings override them (below ``overrides``), the others become
    attributes of their own.
    """
    run_config = dict(run_config or {})
    names = {option.name for option in OPTIONS}
    given = {k: v for k, v in {**{k: v for k, v in run_config.items() if k in names},
                               **(overrides or {})}.items() if v is not None}
    settings = load_settings(OPTIONS, Path(config_file) if config_file else None,
                             overrides=given)
    extra = {k: v for k, v in run_config.items() if k not in names}
    taken = sorted(k for k in extra if hasattr(RunConfig, k) or k in settings)
    if taken:
        raise ConfigError(f"run configuration keys {', '.join(taken)} are names of "
                          f"the configuration itself: rename them")
    config = RunConfig(**settings, **extra)
    config.run_config = run_config
    return config


#: Rotest's run configuration keys that give ``rotest run`` options their
#: defaults: key -> (the option's parameter, the types it takes).
RUN_CONFIG_OPTIONS: dict[str, tuple[str, tuple[type, ...]]] = {
    "filter": ("filter_text", (str,)), "run_name": ("run_name", (str,)),
    "processes": ("processes", (int,)), "delta_iterations": ("delta", (int,)),
    "failfast": ("failfast", (bool,)), "debug": ("debug", (bool,)),
    "skip_init": ("skip_init", (bool,)), "save_state": ("save_state", (bool,)),
    "resources": ("resources_text", (str,)), "list": ("list_only", (bool,)),
    "order": ("order", (str,)),
}


def read_run_config(path: str | Path) -> dict[str, Any]:
    """Rotest's run configuration file: a JSON object (YAML for .yml and
    .yaml), its run-option keys checked for their types."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yml", ".yaml"):
        # Lazy: a run configuration file is rare; each parser only for its own kind.
        import yaml
        parse, errors = (lambda t: yaml.safe_load(t) or {}), (yaml.YAMLError,)
    else:
        # Lazy: as yaml above.
        import json
        parse, errors = json.loads, (ValueError,)
    try:
        document = parse(text)
    except errors as error:
        raise ConfigError(f"{path}: not a valid run configuration: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: a run configuration is an object of keys and values, "
                          f"not {type(document).__name__}")
    for key, (_, types) in RUN_CONFIG_OPTIONS.items():
        value = document.get(key)
        # bool is an int: processes must not be true
        if value is not None and (not isinstance(value, types) or (
                bool not in types and isinstance(value, bool))):
            raise ConfigError(f"{path}: key '{key}' must be "
                              f"{' or '.join(t.__name__ for t in types)}, not {value!r}")
    return document
