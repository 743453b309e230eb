"""The run configuration: defaults < rotest.yml < ROTEST_* environment < command line.

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
           "the lock server (host, or http(s)://host); unset: embedded mode"),
    Option("port", _as_port, 8000, "the lock server's port"),
    Option("token", as_optional_str, None, "API token for the lock server"),
    Option("server_retry_seconds", _as_timeout, SERVER_RETRY_SECONDS,
           "seconds a call keeps trying a lock server it cannot reach (a "
           "restart), from its first failure, before the run fails"),
    Option("resource_request_timeout", _as_timeout, 0.0,
           "seconds a test waits in the queue for its resources"),
    Option("smart_client", as_bool, True,
           "keep resources between tests that want the same ones"),
    Option("artifacts_dir", as_optional_str, None, "where run artifacts are zipped to"),
    Option("html_path", as_optional_str, None,
           "where the html handler writes its report (relative: to the run's "
           "directory); unset: report.html in the run's directory"),
    Option("discoverer_blacklist", as_list,
           [".tox", ".git", ".idea", "setup.py", "build", "dist", "*.egg-info", "venv",
            ".venv", "__pycache__", "node_modules"],
           "fnmatch patterns of paths discovery skips"),
    Option("outputs", as_list, ["tree"], "report handlers used when -o is not given"),
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
    """Settings by attribute: ``config.resource_request_timeout``."""

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
                overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The settings for a run; ``overrides`` come from the command line."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    settings = load_settings(OPTIONS, Path(config_file) if config_file else None,
                             overrides=given)
    return RunConfig(**settings)
