"""The calculator server of Rotest's tutorial: an rpyc classic server.

    python server.py [--host 127.0.0.1] [--port 18861]

Whoever connects to a classic server runs code on it: that is how the
tutorial's Calculator resource computes remotely. Keep it on 127.0.0.1.
"""
from __future__ import annotations

import argparse

from rpyc.core.service import ClassicService
from rpyc.utils.server import ThreadedServer

DEFAULT_PORT = 18861


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    args = parser.parse_args(argv)
    server = ThreadedServer(ClassicService, hostname=args.host, port=args.port,
                            reuse_addr=True)
    print(f"calculator server ready on {server.host}:{server.port}", flush=True)
    server.start()  # until Ctrl-C or SIGTERM


if __name__ == "__main__":
    main()
