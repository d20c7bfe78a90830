"""Reading the container recipes without a container engine: Dockerfile instructions,
.dockerignore, docker-compose.yml with its `${VAR}` interpolation, and env files."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
IDP_CONFIG = ROOT / "deploy" / "idp.compose.yaml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


# --------------------------------------------------------------------------- Dockerfile


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ENTRYPOINT/CMD/RUN, or None for shell form."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in f" {text}" else ""
            text = text.strip().removeprefix("CMD").strip()
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None

    def flags_and_operands(self) -> tuple[dict[str, str], list[str]]:
        words = shlex.split(self.args)
        flags = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    logical: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped, as BuildKit does
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append((start, pending + stripped))
        pending = ""
    assert not pending, f"{path}: dangling line continuation"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, text in logical:
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        instruction = Instruction(keyword, rest.strip(), line)
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args[m[1] or m[2]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            assert keyword == "ARG", f"{path}:{line}: only ARG may precede FROM"
            name, _, default = rest.strip().partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(global_args, stages)


def dockerignore_allows(relative: str, path: Path = ROOT / ".dockerignore") -> bool:
    """Whether `relative` (a context path) is sent to the builder; last matching rule wins."""
    rules = [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
    included = True
    for rule in rules:
        pattern = rule.removeprefix("!").strip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], pattern[3:]) for p in prefixes)
        else:
            # A rule matches the path itself or one of its parent directories.
            hit = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
        if hit:
            included = rule.startswith("!")
    return included


# --------------------------------------------------------------------------- env files, compose

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)")


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    values = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_]\w*", name), f"{path}:{number}: not NAME=value"
        values[name] = value
    return values


def variables_in(node: Any) -> set[str]:
    """Every `${VAR}` / `$VAR` that compose would interpolate in a parsed document."""
    found: set[str] = set()
    if isinstance(node, str):
        found |= {m[1] or m[4] for m in _VAR.finditer(node) if m[0] != "$$"}
    elif isinstance(node, dict):
        for key, value in node.items():
            found |= variables_in(key) | variables_in(value)
    elif isinstance(node, list):
        for value in node:
            found |= variables_in(value)
    return found


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$`."""
    if isinstance(node, str):

        def repl(m: re.Match[str]) -> str:
            if m[0] == "$$":
                return "$"
            name, op, arg = m[1] or m[4], m[2], m[3]
            value = env.get(name)
            if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
                return arg
            if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
                raise AssertionError(f"compose would stop: {name}: {arg}")
            return value or ""

        return _VAR.sub(repl, node)
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    return node


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())  # resolves anchors and `<<` merge keys
    return {k: v for k, v in document.items() if not k.startswith("x-")}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        return dict(item.split("=", 1) for item in value)
    return {k: "" if v is None else str(v) for k, v in value.items()}


def startup_order(services: dict[str, Any]) -> list[str]:
    order: list[str] = []

    def visit(name: str, seen: tuple[str, ...] = ()) -> None:
        assert name not in seen, f"dependency cycle: {' -> '.join((*seen, name))}"
        if name in order:
            return
        for dep in depends_on(services[name]):
            visit(dep, (*seen, name))
        order.append(name)

    for name in services:
        visit(name)
    return order
