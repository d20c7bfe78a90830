"""Each package names its public surface, and no package reaches into another's private names.

A package's `__init__` lists in `__all__` what other packages may use: the objects, or whole
modules whose public names are then all usable. Another package (or a top-level module such as
idp.app) imports only those, never a `_private` name or module. Checked on the source with
`ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IDP = ROOT / "idp"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (ROOT / name.replace(".", "/") / "__init__.py").is_file()


def owner(name: str) -> str:
    """The top-level part of idp a module belongs to: `idp.oidc` for idp.oidc.bridge, and a
    top-level module (idp.app) for itself."""
    return ".".join(name.split(".")[:2])


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True)
class Use:
    """`name` (None for a bare `import module`) of `module`, used by `importer` at `line`."""

    importer: str
    line: int
    module: str
    name: str | None

    def __str__(self) -> str:
        what = f"{self.module}.{self.name}" if self.name else self.module
        return f"{self.importer}:{self.line} uses {what}"


def resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def cross_package_uses(source: dict[str, ast.Module]) -> list[Use]:
    """Every import by one part of idp of another part."""
    uses = []
    for importer, tree in source.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = resolve(importer, node)
                found = [Use(importer, node.lineno, target, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                found = [Use(importer, node.lineno, a.name, None) for a in node.names]
            else:
                continue
            uses += [
                u
                for u in found
                if (u.module == "idp" or u.module.startswith("idp."))
                and owner(u.module) != owner(importer)
            ]
    return uses


def declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            if not isinstance(value, ast.List | ast.Tuple):
                return None
            names = [
                e.value
                for e in value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
            return names if len(names) == len(value.elts) else None
    return None


def private_uses(uses: list[Use]) -> list[str]:
    bad = []
    for use in uses:
        parts = use.module.split(".")
        if any(is_private(p) for p in parts) or (use.name is not None and is_private(use.name)):
            bad.append(str(use))
    return bad


def undeclared_uses(uses: list[Use], source: dict[str, ast.Module]) -> list[str]:
    """Uses of a package's contents that its `__all__` does not name (by the object or by
    its module)."""
    bad = []
    for use in uses:
        module = use.module
        package = module if is_package(module) else module.rpartition(".")[0]
        if package == "idp":
            continue  # a top-level module (idp.keys, idp.clock): the module is the surface
        public = declared_all(source[package]) or []
        via_module = module != package and module[len(package) + 1 :].split(".")[0] in public
        if use.name is None:
            ok = module == package or via_module
        else:
            ok = use.name in public or via_module
        if not ok:
            bad.append(f"{use} (not in {package}.__all__)")
    return bad


def parse_idp(root: Path = IDP) -> dict[str, ast.Module]:
    return {
        module_name(p): ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        for p in sorted(root.rglob("*.py"))
    }


@pytest.fixture(scope="module")
def source() -> dict[str, ast.Module]:
    return parse_idp()


def test_no_module_imports_another_packages_private_names(source):
    assert private_uses(cross_package_uses(source)) == []


def test_every_package_names_its_public_surface(source):
    packages = [name for name in source if is_package(name)]
    assert "idp.oidc" in packages and "idp.bankid.simulator" in packages
    missing = [name for name in packages if declared_all(source[name]) is None]
    assert missing == [], "these packages' __init__ define no __all__ (a list of names)"


def bound_names(tree: ast.Module) -> set[str]:
    """Names an `__init__` binds at its top level."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_every_name_a_package_lists_exists(source):
    """`__all__` names what the `__init__` binds, or a module of the package."""
    wrong = []
    for name, tree in source.items():
        if not is_package(name):
            continue
        bound = bound_names(tree)
        for public in declared_all(tree) or []:
            if public not in bound and f"{name}.{public}" not in source:
                wrong.append(f"{name}.{public}")
    assert wrong == []


def test_other_packages_use_only_what_a_package_names(source):
    assert undeclared_uses(cross_package_uses(source), source) == []


def test_the_checks_see_a_private_import_and_an_undeclared_one():
    """The checks above can fail: a made-up module breaking both rules is caught."""
    source = {
        "idp.oidc": ast.parse("__all__ = ['OAuthBridge']"),
        "idp.ciba.grant": ast.parse(
            "from idp.oidc.server import OAuthBridge, _run\nfrom idp.oidc.tokens import new_id\n"
        ),
    }
    uses = cross_package_uses(source)
    assert private_uses(uses) == ["idp.ciba.grant:1 uses idp.oidc.server._run"]
    assert undeclared_uses(uses, source) == [
        "idp.ciba.grant:1 uses idp.oidc.server._run (not in idp.oidc.__all__)",
        "idp.ciba.grant:2 uses idp.oidc.tokens.new_id (not in idp.oidc.__all__)",
    ]
