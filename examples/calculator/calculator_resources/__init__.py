"""The resources of Rotest's calculator tutorial: a plugin package.

Models (what the lock server stores): ``CalculatorData``, a calculator server
reachable over rpyc, made of a ``SubProcessData`` (a worker process on the
same machine). Resources (what tests use): ``Calculator``, its sub-resource
``SubProcess`` and the service ``PingService``.

The server is an rpyc *classic* server (``server.py``): whoever connects runs
code on it. That is the tutorial's remote calculator; keep it on 127.0.0.1.
"""
from __future__ import annotations

import rpyc
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rotest_app.models import ResourceData
from rotest_core.resources import BaseResource

DEFAULT_PORT = 18861


# --- models -------------------------------------------------------------------

class SubProcessData(ResourceData):
    """A worker process on a calculator's machine."""

    #: The interpreter it runs; empty: the calculator server's own.
    python: Mapped[str] = mapped_column(String(255), default="")


class CalculatorData(ResourceData):
    """A calculator server, reachable with rpyc at ip_address:port."""

    ip_address: Mapped[str] = mapped_column(String(64), default="127.0.0.1")
    port: Mapped[int] = mapped_column(default=DEFAULT_PORT)
    # A relation to another resource model makes a sub-resource: locked and
    # released together with its calculator.
    sub_process_id: Mapped[int | None] = mapped_column(ForeignKey(SubProcessData.id),
                                                       default=None)
    sub_process: Mapped[SubProcessData | None] = relationship(
        foreign_keys=[sub_process_id])


from rotest_app.admin import register_resource_to_admin  # noqa: E402 - after the models

register_resource_to_admin(CalculatorData, attr_list=["ip_address", "port"],
                           link_list=["sub_process"])


# --- resources --------------------------------------------------------------------

def ping(host: str, port: int) -> None:
    """Raise an error that says what to do unless an rpyc server answers there."""
    try:
        rpyc.classic.connect(host, port).close()  # a whole handshake, not a bare TCP probe
    except (OSError, EOFError) as error:
        raise ConnectionError(
            f"no calculator server at {host}:{port} ({error}); start it with: "
            f"python examples/calculator/server.py --port {port}") from None


class PingService(BaseResource):
    """A service (no DATA_CLASS): never locked, built from its request's
    arguments. Checks that the server answers before anyone connects."""

    def connect(self) -> None:
        super().connect()
        ping(self.data.ip_address, self.data.port)


class SubProcess(BaseResource):
    """A sub-resource: a fresh Python process on the calculator's machine per
    calculation, run through the calculator's rpyc connection."""

    DATA_CLASS = SubProcessData

    def initialize(self) -> None:
        super().initialize()
        # Sub-resources initialize after every connect, so the parent's
        # connection is open here. A broken interpreter fails the set-up.
        answer = self.run("6 * 7")
        if answer != "42":
            raise RuntimeError(f"{self.name}: 6 * 7 gave {answer!r} on the server")

    def run(self, expression: str) -> str:
        """``expression`` evaluated by a new Python process on the server."""
        remote = self.parent.conn.modules
        python = self.data.python or remote.sys.executable
        program = "import sys; print(eval(sys.argv[1]))"
        output = remote.subprocess.check_output([python, "-c", program, expression])
        return str(output, "utf-8").strip()


class Calculator(BaseResource):
    """The tutorial's calculator: evaluates expressions on its rpyc server."""

    DATA_CLASS = CalculatorData
    sub_process = SubProcess.request(data=CalculatorData.sub_process)
    ping = PingService.request(ip_address=CalculatorData.ip_address,
                               port=CalculatorData.port)

    conn: rpyc.Connection | None = None

    def connect(self) -> None:
        super().connect()  # the sub-resource and the service first
        self.conn = rpyc.classic.connect(self.data.ip_address, self.data.port)

    def validate(self) -> bool:
        return "math" in self.conn.namespace

    def initialize(self) -> None:
        super().initialize()
        # Each connection has a namespace of its own on the server.
        self.conn.execute("import math")

    def finalize(self) -> None:
        super().finalize()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def calculate(self, expression: str):
        """The value of ``expression``, computed by the server."""
        return self.conn.eval(expression)
