# SPDX-License-Identifier: GPL-3.0-or-later
"""Architecture rules, checked on the source text: who may import whom, no import cycles, small files and functions.

The add-on's modules form a graph from their relative imports (at any depth, inside functions too). The
layers, from the bottom: the bpy-free core (``depth_addon/`` except the folders below), the bridge
(``depth_addon/blender/``, bpy primitives), the use cases (``depth_addon/app/``, re-exported by
``depth_addon/api.py``), then the command line (``depth_addon/cli/``), the operators and the panels.
Every rule is also run on a small tree that breaks it, so a rule that silently finds nothing fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from test_layout import ROOT, _rel, python_files

#: Largest file in lines.
MAX_LINES = 400
#: Largest function body in lines, its docstring not counted.
MAX_FUNCTION_LINES = 60
#: Functions that are data tables (one literal spelled out), exempt from :data:`MAX_FUNCTION_LINES`.
DATA_TABLES: frozenset[str] = frozenset()
#: Layer rules: modules under the first prefix never import modules under any of the second.
FORBIDDEN = (
    ("depth_addon.blender", ("depth_addon.app", "depth_addon.cli", "depth_addon.api")),
    ("depth_addon.app", ("depth_addon.cli", "depth_addon.api", "operators", "panels")),
    ("operators", ("depth_addon.blender", "panels")),
)
#: What the panels may import of the add-on: drawing reads settings and use cases, and names operators.
PANEL_IMPORTS = ("panels", "depth_addon.app", "depth_addon.blender.props", "operators.ids")
#: The bpy-free core: ``depth_addon`` minus these.
NOT_CORE = ("depth_addon.blender", "depth_addon.app", "depth_addon.cli", "depth_addon.api", "depth_addon.__main__")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = ROOT, skip: tuple[str, ...] = ("tests", "scripts")) -> dict[str, set[str]]:
    """Map each add-on module (dotted, relative to ``root``) to the add-on modules it imports relatively.

    ``from .pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``.

    :param root: The add-on's root folder (the extension package).
    :param skip: Top-level folders that are not part of the add-on.
    """
    files = {_module_name(p, root): p for p in python_files(root) if p.relative_to(root).parts[0] not in skip}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            parts = package.split(".") if package else []
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                deps.add(sub if sub in files else base)
        deps.discard(name)
        graph[name] = {d for d in deps if d in files}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan).

    :param graph: Module → imported modules.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that break :data:`FORBIDDEN`, :data:`PANEL_IMPORTS` or the core's independence.

    :param graph: Module → imported modules.
    :return: ``"importer -> imported"`` entries; empty when clean.
    """
    bad = []
    for name, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if any(_under(name, [low]) and _under(dep, high) for low, high in FORBIDDEN):
                bad.append(f"{name} -> {dep}")
            elif _under(name, ["panels"]) and not _under(dep, PANEL_IMPORTS):
                bad.append(f"{name} -> {dep} (panels import only props, app and operator ids)")
            elif _under(name, ["depth_addon"]) and not _under(name, NOT_CORE) and _under(dep, NOT_CORE):
                bad.append(f"{name} -> {dep} (the core imports no bpy layer)")
    return bad


def private_imports(source: str) -> list[str]:
    """Names with one leading underscore imported from another module (promote them, or keep them local).

    Private *modules* (``from . import _ops``) are allowed: a package may keep helpers for its own modules.

    :param source: Python source text.
    :return: ``"line N: from module import _name"`` entries; empty when clean.
    """
    return [f"line {node.lineno}: from {'.' * node.level}{node.module} import {alias.name}"
            for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]


def long_files(paths: Iterable[Path], limit: int = MAX_LINES) -> dict[Path, int]:
    """Map each file longer than ``limit`` lines to its line count.

    :param paths: Files to measure.
    :param limit: Largest allowed line count.
    """
    counts = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in paths}
    return {p: n for p, n in counts.items() if n > limit}


def long_functions(paths: Iterable[Path], limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """Map ``file:line name`` of every function longer than ``limit`` lines (docstring excluded) to its length.

    :param paths: Files to scan.
    :param limit: Largest allowed length.
    """
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name in DATA_TABLES:
                continue
            length = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                length -= first.end_lineno - first.lineno + 1
            if length > limit:
                found[f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{node.lineno} {node.name}"] = (
                    length)
    return found


# --- the rules, run over the repository ---------------------------------------------------------------


def test_graph_sees_the_layers() -> None:
    """The graph has the add-on's layers and their expected edges (so the rules below see real imports)."""
    graph = import_graph()
    assert {"depth_addon.api", "depth_addon.app.texture", "depth_addon.blender.props", "operators.ids"} <= set(graph)
    assert "depth_addon.app.texture" in graph["depth_addon.api"]
    assert any(d.startswith("depth_addon.blender") for d in graph["depth_addon.app.texture"])


def test_no_import_cycles() -> None:
    """No module imports itself through others, not even from inside a function."""
    found = cycles(import_graph())
    assert not found, f"import cycles: {found}"


def test_layers() -> None:
    """The bridge never imports the use cases, the CLI or the facade; operators call the use cases, never
    bridge internals; panels import only settings, use cases and operator ids."""
    bad = layer_violations(import_graph())
    assert not bad, bad


def test_no_private_imports() -> None:
    """No add-on module imports another module's private helper."""
    addon = [p for p in python_files() if p.relative_to(ROOT).parts[0] not in ("tests", "scripts")]
    bad = {str(p.relative_to(ROOT)): found for p in addon if (found := private_imports(p.read_text(encoding="utf-8")))}
    assert not bad, bad


def test_file_length() -> None:
    """No ``.py`` file is longer than the limit; split large modules."""
    long = {_rel(p): n for p, n in long_files(python_files()).items()}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_function_length() -> None:
    """No function is longer than :data:`MAX_FUNCTION_LINES` lines (docstring excluded); split long ones."""
    long = long_functions(python_files())
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


# --- the rules can fail -------------------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_cycle_rule_catches(tmp_path: Path) -> None:
    """A cycle through a function-level import is found; a chain is not a cycle."""
    root = _tree(tmp_path, {
        "depth_addon/__init__.py": "",
        "depth_addon/a.py": "from . import b\n",
        "depth_addon/b.py": "def f():\n    from .c import x\n",
        "depth_addon/c.py": "from .a import y\n",
        "depth_addon/d.py": "from .a import y\n",
    })
    assert cycles(import_graph(root)) == [["depth_addon.a", "depth_addon.b", "depth_addon.c"]]


def test_layer_rule_catches(tmp_path: Path) -> None:
    """Bridge → app, operators → bridge, panels → bridge and core → app are each flagged; allowed edges are not."""
    root = _tree(tmp_path, {
        "depth_addon/__init__.py": "",
        "depth_addon/mapping.py": "from .app import texture\n",
        "depth_addon/app/__init__.py": "",
        "depth_addon/app/texture.py": "from ..blender import images\n",
        "depth_addon/blender/__init__.py": "",
        "depth_addon/blender/images.py": "def f():\n    from ..app import texture\n",
        "depth_addon/blender/props.py": "",
        "operators/__init__.py": "",
        "operators/ids.py": "",
        "operators/ops.py": "from ..depth_addon.blender import images\nfrom ..depth_addon.app import texture\n",
        "panels/__init__.py": "",
        "panels/side.py": "from ..depth_addon.blender import images, props\nfrom ..operators import ids\n",
    })
    assert layer_violations(import_graph(root)) == [
        "depth_addon.blender.images -> depth_addon.app.texture",
        "depth_addon.mapping -> depth_addon.app.texture (the core imports no bpy layer)",
        "operators.ops -> depth_addon.blender.images",
        "panels.side -> depth_addon.blender.images (panels import only props, app and operator ids)",
    ]


def test_private_import_rule() -> None:
    """``from .m import _helper`` is flagged, also inside a function; private modules and dunders are not."""
    assert private_imports("def f():\n    from .baseline import _fract\n") == ["line 2: from .baseline import _fract"]
    assert private_imports("from . import _ops\nfrom .m import __version__, public\n") == []


def test_length_rule_catches(tmp_path: Path) -> None:
    """A file one line over the limit is flagged, one at the limit is not."""
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    (tmp_path / "ok.py").write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    assert {p.name: n for p, n in long_files(python_files(tmp_path)).items()} == {"long.py": MAX_LINES + 1}


def test_function_length_rule_catches(tmp_path: Path) -> None:
    """A body one line over the limit is flagged; a long docstring does not count."""
    body = "    x = 1\n" * (MAX_FUNCTION_LINES - 1)
    doc = '    """' + "Doc.\n" * 30 + '    """\n'
    root = _tree(tmp_path, {"m.py": f"def over():\n{body}    x = 2\n\n\ndef ok():\n{doc}{body}"})
    assert list(long_functions(python_files(root))) == [f"{root / 'm.py'}:1 over"]


def test_function_length_counts_signature(tmp_path: Path) -> None:
    """The ``def`` line counts: ``def`` plus ``limit - 1`` body lines passes, plus ``limit`` does not."""
    root = _tree(tmp_path, {"a.py": "def f():\n" + "    x = 1\n" * (MAX_FUNCTION_LINES - 1),
                            "b.py": "def g():\n" + "    x = 1\n" * MAX_FUNCTION_LINES})
    assert list(long_functions(python_files(root))) == [f"{root / 'b.py'}:1 g"]
