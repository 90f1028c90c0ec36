"""The package's import graph has no circle.

Built from the source (``ast``, nothing imported): an edge for every import of a
module of the package, at module level or inside a function (a circle hidden behind
a function-level import is still a circle: it only moves the failure to the call),
leaving out ``if TYPE_CHECKING:`` blocks, which never run. Importing ``a.b.c`` also
imports the packages ``a.b`` and ``a`` that the importer is not itself inside.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import openaiperf

PACKAGE = Path(openaiperf.__file__).parent


def module_names(package: Path) -> dict[str, Path]:
    names = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        else:
            yield from imports(node)


def imported(module: str, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``node`` in ``module`` imports (a name of a module counts as it)."""
    if isinstance(node, ast.Import):
        found = {alias.name for alias in node.names}
    else:
        base = module if modules[module].name == "__init__.py" else module.rpartition(".")[0]
        if node.level:
            parts = base.split(".")[: len(base.split(".")) - node.level + 1]
            source = ".".join(parts + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        found = {f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names}
    out = set()
    for name in found:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if prefix in modules and prefix != module and not module.startswith(prefix + "."):
                out.add(prefix)
    return out


def import_graph(package: Path) -> dict[str, set[str]]:
    modules = module_names(package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in imports(ast.parse(path.read_text(encoding="utf-8"))):
            graph[name] |= imported(name, node, modules)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_package_imports_in_no_circle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 100  # the whole package was read
    assert circles(graph) == []


def test_a_circle_behind_a_function_level_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub.b import B\n")
    (package / "a.py").write_text("from pkg.sub import B\n")
    (package / "sub" / "b.py").write_text("B = 1\n\ndef f():\n    from pkg import a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (package / "d.py").write_text("from . import c\n")
    assert circles(import_graph(package)) == [["pkg.a", "pkg.sub", "pkg.sub.b"]]
