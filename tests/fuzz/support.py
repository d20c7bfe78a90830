"""What the fuzz tests share: the clients, and listing an app's routes."""

import base64
import logging

from starlette.routing import Host, Mount

ISSUER = "https://id.example.com"
RP_CB = "https://rp.example/cb"
SECRETS = {
    "web": "web-client-secret-0123456789abc",
    "cs": "cs-client-secret-0123456789abcdef",
}
ANNA = "198501012382"  # the simulator's default person


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def basic(client_id: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{SECRETS[client_id]}".encode()).decode()


def walk_routes(routes, prefix=""):
    """Every (path, methods) the app answers, through mounts: new routes are fuzzed without
    anyone listing them."""
    for route in routes:
        if isinstance(route, (Mount, Host)):
            inner = getattr(route, "routes", None) or []
            yield from walk_routes(inner, prefix + getattr(route, "path", ""))
        elif hasattr(route, "path"):
            methods = sorted(getattr(route, "methods", None) or {"GET", "POST"})
            yield prefix + route.path, tuple(methods)


class Tracebacks(logging.Handler):
    """Every record at ERROR or above, or carrying an exception, from any logger."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if record.levelno >= logging.ERROR or record.exc_info or record.exc_text:
            self.records.append(record)

    def take(self) -> list[str]:
        found = [f"{r.name}: {r.getMessage()[:200]}" for r in self.records]
        self.records.clear()
        return found
