"""Settings, merged from defaults < rotest.yml < environment (``ROTEST_*``).

The same file serves the server and the client runtime: each reads the
``rotest:`` section and takes the keys it knows. A key given with a value of
the wrong type is an error that names the file, the key and the problem.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

CONFIG_FILE_NAMES = ("rotest.yml", "rotest.yaml", ".rotest.yml", ".rotest.yaml")
#: A run id (--run-id, ROTEST_RUN_ID): printable, no control characters, no
#: spaces at either end; the runtime checks it, and so does the store. (A
#: pattern, compiled on first use by re's cache: a run without one saves 1 ms.)
RUN_GROUP = (r"[^\x00-\x20\x7f-\x9f\ud800-\udfff]"
             r"(?:[^\x00-\x1f\x7f-\x9f\ud800-\udfff]{0,253}"
             r"[^\x00-\x20\x7f-\x9f\ud800-\udfff])?")


class ConfigError(ValueError):
    """A configuration value is missing, malformed or of the wrong type."""


@dataclass(frozen=True)
class Option:
    """One setting: its name, how to read it from text or YAML, its default."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str = ""
    #: Other environment variables for it: Rotest's names (``ROTEST_WORK_DIR``).
    aliases: tuple[str, ...] = ()
    #: A path: relative in a settings file, it is relative to that file's folder.
    is_path: bool = False

    @property
    def env_name(self) -> str:
        return "ROTEST_" + self.name.upper()

    @property
    def env_names(self) -> tuple[str, ...]:
        """Its environment variables, the project's own name first."""
        return (self.env_name, *self.aliases)


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def as_list(value: Any) -> list[str]:
    """A list from YAML, or a comma-separated string from the environment."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"expected a list of strings, got {value!r}")


def as_positive(kind: type) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        number = kind(value)
        if number <= 0:
            raise ValueError(f"expected a positive number, got {value!r}")
        return number
    return parse


def as_int_between(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected a whole number, got {value!r}")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"expected {low} to {high}, got {value!r}")
        return number
    return parse


def as_rate(value: Any) -> str:
    """A rate limit in the notation of the ``limits`` library: "10 per 15 minutes"."""
    from limits import parse  # only the server reads rates; the client stays light
    text = str(value).strip()
    try:
        parse(text)
    except ValueError:
        raise ValueError(f"expected a rate such as '10 per 15 minutes', "
                         f"got {value!r}") from None
    return text


def as_optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise ValueError(f"expected a string, got {value!r}")
    return str(value)


SERVER_OPTIONS = (
    Option("workdir", lambda v: str(Path(str(v)).expanduser()), "~/.rotest",
           "where the embedded database, run work directories and keys live",
           aliases=("ROTEST_WORK_DIR",), is_path=True),
    Option("database_url", as_optional_str, None,
           "SQLAlchemy URL; default: SQLite file rotest.db in the workdir"),
    Option("secret_key", as_optional_str, None,
           "signs admin sessions and CSRF tokens; default: a key kept in the workdir"),
    Option("plugins", as_list, [], "packages that define resource models"),
    # A frozen client (SIGSTOP, a debugger) is freed within lease + sweep
    # interval: 12 s by default. A dead one is freed at once by its presence.
    Option("lease_seconds", as_positive(float), 10.0,
           "session lease: a session not renewed within it loses its locks (clients "
           "renew it three times a lease); also the embedded client's lease"),
    Option("run_lease_seconds", as_int_between(1, 86400), 900,
           "a history run not heard from within it (records or heartbeat) is ended "
           "as aborted, unless its client asks for another lease"),
    Option("sweep_interval", as_positive(float), 2.0,
           "how often the server reaps expired sessions and runs, in seconds"),
    Option("long_poll_seconds", as_positive(float), 25.0,
           "longest time the server holds a lock poll open"),
    Option("max_request_bytes", as_positive(int), 1_048_576,
           "largest request body the API accepts"),
    Option("max_inventory_bytes", as_positive(int), 268_435_456,
           "largest import file the API accepts (POST /api/v1/inventory)"),
    Option("artifacts_dir", as_optional_str, None,
           "run artifacts (zips) the run pages may serve; default: <workdir>/artifacts",
           aliases=("ARTIFACTS_DIR",), is_path=True),
    # Long polls and presence streams park a thread each: keep both caps
    # together below the threads of a server process (gunicorn --threads, 64
    # in the README and app/serving.py) so that health checks and short calls
    # always find one free.
    Option("long_poll_limit", as_positive(int), 12,
           "most lock polls one server process holds open at once (429 above)"),
    Option("presence_limit", as_positive(int), 40,
           "most presence streams (one per client session) one server process "
           "holds open at once; above it a client is told to retry (429) and is "
           "freed by its lease alone if it dies meanwhile"),
    Option("long_poll_user_limit", as_positive(int), 4,
           "lock polls of one server process each user is sure of: a user holds "
           "more only while that many stay free for others (429 above)"),
    Option("long_poll_retry_after", as_positive(int), 2,
           "seconds a poll refused for the caps is told to wait (Retry-After)"),

    Option("login_limit_user", as_rate, "10 per 15 minutes",
           "failed admin logins allowed for one user name, then 429"),
    Option("login_limit_address", as_rate, "50 per 15 minutes",
           "failed admin logins allowed from one client address, then 429"),
    Option("session_hours", as_positive(float), 8.0,
           "how long an admin login lasts, from the moment of logging in"),
    Option("secure_cookies", as_bool, False,
           "send the session cookie over HTTPS only (turn on behind TLS)"),
    Option("proxy_count", as_int_between(0, 100), 0,
           "reverse proxies in front of the server whose X-Forwarded-For, "
           "-Proto and -Host headers are trusted (werkzeug's ProxyFix)"),
)


def find_config_file(start: Path | None = None) -> Path | None:
    """``$ROTEST_CONFIG`` if set, else the first rotest.yml upward from ``start``."""
    explicit = os.environ.get("ROTEST_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"ROTEST_CONFIG names {path}, which is not a file")
        return path
    directory = (start or Path.cwd()).resolve()
    for folder in (directory, *directory.parents):
        for name in CONFIG_FILE_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    """The ``rotest:`` section of a YAML file (or the whole mapping if it has none)."""
    import yaml  # only when there is a file: a run without one need not import it
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'rotest:' section")
    section = document.get("rotest", document)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: the 'rotest:' section must be a mapping")
    return section


def load_settings(options: tuple[Option, ...] = SERVER_OPTIONS,
                  config_file: Path | None = None,
                  environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults < file < environment < overrides for the given options.

    Keys of the file that no option names are left alone: the client and the
    server each know their own.
    """
    environ = os.environ if environ is None else environ
    path = config_file if config_file is not None else find_config_file()
    from_file = read_config_file(path) if path else {}
    settings: dict[str, Any] = {}
    for option in options:
        raw_file = from_file.get(option.name)
        if option.is_path and isinstance(raw_file, str) and path is not None:
            # Relative to the file, not to wherever the command runs from.
            raw_file = str(path.parent / Path(raw_file).expanduser())
        env_name, raw_env = _from_environment(option, environ)
        sources = [(f"{path}: key '{option.name}'", raw_file),
                   (f"environment variable {env_name}", raw_env),
                   (f"setting '{option.name}'", (overrides or {}).get(option.name))]
        value = None if option.default is None else option.parse(option.default)
        for where, raw in sources:
            if raw is None:
                continue
            try:
                value = option.parse(raw)
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{where}: {error}") from None
        settings[option.name] = value
    settings["config_file"] = str(path) if path else None
    return settings


def _from_environment(option: Option, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The variable that sets ``option`` and its value: the project's name
    wins over Rotest's; names that disagree are warned about."""
    given = [(name, environ[name]) for name in option.env_names if name in environ]
    if not given:
        return option.env_name, None
    if len({value for _, value in given}) > 1:
        warnings.warn(f"setting '{option.name}': " + ", ".join(
            f"{name}={value!r}" for name, value in given)
            + f" disagree; {given[0][0]} is used", ConfigWarning, stacklevel=3)
    return given[0]


class ConfigWarning(UserWarning):
    """Two names of one setting were given different values."""


def default_database_url(workdir: str) -> str:
    return "sqlite:///" + str(Path(workdir).expanduser().resolve() / "rotest.db")


def create_private_sqlite_file(url: str) -> None:
    """Create the file of a SQLite URL owner-only (0600, a new folder 0700)
    before SQLite creates it readable by all: it holds password hashes.
    SQLite gives its -wal and -shm files the same mode. An existing file is
    left as it is, and so is a relative path (Flask-SQLAlchemy and SQLite
    resolve it differently); other databases are not files."""
    # Lazy: the runtime reads these settings at start-up; SQLAlchemy costs it ~0.1 s.
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database \
            or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    if not path.is_absolute():  # Flask-SQLAlchemy would place it elsewhere
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def secret_key_for(workdir: str) -> str:
    """A random key kept in the workdir, shared by every worker of one server."""
    import secrets  # lazy: ~2 ms (hmac, hashlib), for a server's first start only
    folder = Path(workdir).expanduser()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = folder / "secret_key"
    if not key_file.exists():
        try:
            with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(secrets.token_hex(32))
        except FileExistsError:  # another worker wrote it first
            pass
    return key_file.read_text().strip()
