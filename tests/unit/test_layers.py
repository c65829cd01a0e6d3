"""Optional features are imported only when used: live reload and the proxy.

The import contracts in ``pyproject.toml`` (run by ``make lint``) keep the
layers in order; they cannot see *when* an import runs.  This test does:
outside its own package, ``staticsrv.live`` and ``staticsrv.net.proxy`` are
imported only inside a function or under ``TYPE_CHECKING``, so a server
started without ``--live`` or ``--proxy`` never loads them (nor watchfiles).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import staticsrv

PACKAGE = Path(staticsrv.__file__).parent
LAZY = ("staticsrv.live", "staticsrv.net.proxy")


def _imports_at_module_level(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every import that runs when the module is imported."""
    found: list[tuple[int, str]] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                found.extend((node.lineno, name) for name in [node.module, *names])
            elif isinstance(node, ast.If):
                test = node.test
                checking = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                    isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
                )
                if not checking:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)  # a class body runs at import time too

    visit(tree.body)
    return found


def _package_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts)


@pytest.mark.parametrize("lazy", LAZY)
def test_an_optional_feature_is_imported_only_when_used(lazy: str) -> None:
    eager = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _package_of(path)
        if module == lazy or module.startswith(lazy + "."):
            continue  # the package's own modules import each other freely
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, name in _imports_at_module_level(tree):
            if name == lazy or name.startswith(lazy + "."):
                eager.append(f"{module}:{line} imports {name}")
    assert eager == []


def test_the_check_sees_an_eager_import() -> None:
    tree = ast.parse(
        "import os\nfrom staticsrv.live import events\nif TYPE_CHECKING:\n    import x\n"
    )
    assert (2, "staticsrv.live.events") in _imports_at_module_level(tree)
    assert all(name != "x" for _, name in _imports_at_module_level(tree))
