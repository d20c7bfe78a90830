"""`idp serve --workers N`: uvicorn's supervisor, with a listening socket per worker.

uvicorn's supervisor starts the workers, restarts one that dies and, on SIGHUP, replaces them
one by one. Left to itself it binds one socket in the parent and every worker accepts on it:
whichever worker wakes first takes the connection, and a burst of new connections (a client's
keep-alive pool opening) can all land on one worker while the others idle, for as long as
those connections live. Here each worker binds the port itself with SO_REUSEPORT, and the
kernel spreads new connections over the workers by their address hash.
"""

from __future__ import annotations

import logging
import socket
import sys

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors import multiprocess


class Worker(multiprocess.Process):
    """One worker process, listening on a socket of its own. A worker that cannot bind the
    port says why and exits as a start-up failure, which stops the parent."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        super().target([reuse_port_socket(self.config)])


def reuse_port_socket(config: Config) -> socket.socket:
    """A socket bound to the configured address with SO_REUSEPORT (uvicorn listens on it)."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        logging.getLogger("uvicorn.error").error("%s", exc)
        sys.exit(STARTUP_FAILURE)
    return sock


def serve_workers(config: Config) -> int:
    """Run `config.workers` workers until SIGTERM/SIGINT; the exit status: 0, or uvicorn's
    start-up failure (the port taken, a worker that could not start)."""
    # First a plain bind (no SO_REUSEPORT; closed at once), as uvicorn's own check: a port
    # taken by anything, another idp serve --workers included, fails here and is not shared.
    config.bind_socket().close()
    # The supervisor creates its workers through this module global (at start, after a
    # worker died, and on SIGHUP); there is no parameter for it.
    multiprocess.Process = Worker  # type: ignore[misc]
    supervisor = multiprocess.Multiprocess(config, sockets=[])
    try:
        supervisor.run()
    except KeyboardInterrupt:
        pass
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    return STARTUP_FAILURE if failed else 0


__all__ = ["Worker", "reuse_port_socket", "serve_workers"]
