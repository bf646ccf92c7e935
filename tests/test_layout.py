# SPDX-License-Identifier: GPL-3.0-or-later
"""Project layout rules, checked on the source text: the bpy-free core, headers, lint and unsafe loading.

Each rule is a small scanner function run over the repository; every scanner is also run on a
snippet that breaks the rule, so a scanner that silently finds nothing fails here too.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "depth_addon"
#: The only places under ``depth_addon/`` allowed to import Blender (folders or single files).
#: Where bpy is allowed: the bridge (``blender/``), the use cases (``app/``), the command line (``cli/``), the
#: scripting facade ``api.py`` (re-exports of ``app``) and the ``python -m`` entry point.
BLENDER_LAYER = (CORE / "blender", CORE / "app", CORE / "cli", CORE / "api.py", CORE / "__main__.py")
SPDX = "# SPDX-License-Identifier: GPL-3.0-or-later"
#: Modules that exist only inside Blender; the core (everything but ``depth_addon/blender``) must not import them.
BLENDER_ONLY = frozenset({"bpy", "bmesh", "mathutils", "gpu", "bl_math", "idprop", "addon_utils", "gpu_extras"})
#: The add-on's own top-level packages: inside the add-on they are imported relatively, never by name.
OWN_PACKAGES = frozenset({"depth_addon", "operators", "panels"})
#: Calls that unpickle (run arbitrary code from a file).
UNSAFE_LOADS = frozenset({"torch.load", "pickle.load", "pickle.loads", "pickle.Unpickler", "dill.load", "joblib.load"})
SKIP_DIRS = frozenset({"__pycache__", "out", "dist", "node_modules"})


def python_files(root: Path = ROOT) -> Iterator[Path]:
    """Yield every ``.py`` file of the repository, skipping hidden folders (``.venv``, ``.git``), caches and outputs.

    :param root: Repository root.
    """
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield Path(dirpath) / name


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Yield ``(line, dotted name)`` for every absolute import, at any nesting level.

    Covers ``import x``, ``from x import y``, ``importlib.import_module("x")`` and ``__import__("x")``
    with a literal name. Relative imports (``from . import y``) are skipped.

    :param tree: Parsed module.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            if _dotted(node.func) in {"importlib.import_module", "import_module", "__import__"}:
                if isinstance(node.args[0].value, str):
                    yield node.lineno, node.args[0].value


def forbidden_imports(source: str, forbidden: frozenset[str] = BLENDER_ONLY) -> list[str]:
    """List the imports of ``source`` whose top-level package is in ``forbidden``.

    :param source: Python source text.
    :param forbidden: Top-level module names that must not be imported.
    :return: ``"line N: import name"`` entries; empty when clean.
    """
    return [
        f"line {line}: import {name}"
        for line, name in imported_modules(ast.parse(source))
        if name.split(".")[0] in forbidden
    ]


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, else an empty string."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def root_init_problems(source: str) -> list[str]:
    """Check that the root ``__init__.py`` only registers.

    Allowed top-level statements: the docstring, imports, one assignment of a tuple of names, and the
    functions ``register`` and ``unregister``.

    :param source: Text of the root ``__init__.py``.
    :return: One message per statement that does not belong there; empty when clean.
    """
    tree = ast.parse(source)
    problems = []
    if ast.get_docstring(tree) is None:
        problems.append("no module docstring")
    functions = set()
    tuples = 0
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and isinstance(node.value, ast.Tuple)
            and all(isinstance(e, ast.Name | ast.Attribute) for e in node.value.elts)
        ):
            tuples += 1
            continue
        if isinstance(node, ast.FunctionDef) and node.name in {"register", "unregister"}:
            functions.add(node.name)
            continue
        problems.append(f"line {node.lineno}: unexpected {type(node).__name__}")
    if tuples > 1:
        problems.append(f"{tuples} module tuples, expected one")
    problems.extend(f"no {name}()" for name in ("register", "unregister") if name not in functions)
    return problems


def header_problems(source: str) -> list[str]:
    """Check the SPDX first line (a shebang may precede it) and the module docstring.

    :param source: Python source text.
    :return: Messages; empty when clean.
    """
    lines = source.splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    problems = []
    if not lines or lines[0].strip() != SPDX:
        problems.append(f"first line is not {SPDX!r}")
    if not (ast.get_docstring(ast.parse(source)) or "").strip():
        problems.append("no module docstring")
    return problems


def unsafe_load_calls(source: str) -> list[str]:
    """Find unpickling loads: ``torch.load``, ``pickle.load(s)`` and friends, and ``allow_pickle=True``.

    Also catches ``from pickle import load`` style imports of those names.

    :param source: Python source text.
    :return: ``"line N: name"`` entries; empty when clean.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in UNSAFE_LOADS:
                found.append(f"line {node.lineno}: {name}")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"line {node.lineno}: {name or 'call'}(allow_pickle=...)")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in UNSAFE_LOADS:
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    return found


def own_absolute_imports(source: str) -> list[str]:
    """Find imports of the add-on's own packages by absolute name (they break in the installed extension).

    :param source: Python source text.
    :return: ``"line N: import name"`` entries; empty when clean.
    """
    return forbidden_imports(source, OWN_PACKAGES)


# --- the rules, run over the repository ---------------------------------------------------------------


def _core_modules() -> list[Path]:
    """The core's modules: everything under ``depth_addon/`` outside :data:`BLENDER_LAYER`."""
    return [p for p in python_files(CORE) if not any(p == b or p.is_relative_to(b) for b in BLENDER_LAYER)]


def test_scan_finds_files() -> None:
    """The file walk sees the add-on, skips the virtual environment and finds core modules."""
    files = {_rel(p) for p in python_files()}
    assert {"__init__.py", "depth_addon/__init__.py", "tests/test_layout.py"} <= files
    assert not any(f.startswith(".") or "/." in f for f in files)
    assert _core_modules()


def test_core_does_not_import_blender() -> None:
    """No module under ``depth_addon/`` outside ``depth_addon/blender/`` imports a Blender-only module."""
    bad = {_rel(p): found for p in _core_modules() if (found := forbidden_imports(p.read_text(encoding="utf-8")))}
    assert not bad, f"Blender-only imports in the core (move the code to depth_addon/blender/): {bad}"


def test_addon_imports_itself_relatively() -> None:
    """Inside the add-on, its own packages are imported relatively (the installed copy has another name)."""
    addon = [
        ROOT / "__init__.py",
        *python_files(CORE),
        *python_files(ROOT / "operators"),
        *python_files(ROOT / "panels"),
    ]
    bad = {_rel(p): found for p in addon if (found := own_absolute_imports(p.read_text(encoding="utf-8")))}
    assert not bad, f"absolute imports of the add-on's own packages: {bad}"


def test_core_imports_without_blender() -> None:
    """Every core module imports in a Python where the Blender-only modules are blocked (no indirect import)."""
    names = []
    for p in _core_modules():
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        f"for m in {sorted(BLENDER_ONLY)!r}: sys.modules[m] = None\n"
        f"for m in {names!r}: importlib.import_module(m)\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_root_init_only_registers() -> None:
    """The root ``__init__.py`` holds only imports, its docstring, a module tuple and register/unregister."""
    problems = root_init_problems((ROOT / "__init__.py").read_text(encoding="utf-8"))
    assert not problems, problems


def test_headers() -> None:
    """Every ``.py`` file starts with the SPDX line and has a module docstring."""
    bad = {_rel(p): found for p in python_files() if (found := header_problems(p.read_text(encoding="utf-8")))}
    assert not bad, bad


def test_no_unsafe_loading() -> None:
    """No unpickling anywhere: weights come from safetensors, arrays from ``.npy`` without pickles."""
    bad = {_rel(p): found for p in python_files() if (found := unsafe_load_calls(p.read_text(encoding="utf-8")))}
    assert not bad, bad


def _ruff(*args: str) -> subprocess.CompletedProcess:
    """Run the environment's ruff in the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ruff() -> None:
    """``ruff check .`` passes with the configuration in ``pyproject.toml``."""
    proc = _ruff(".")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


# --- the scanners can fail ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "snippet",
    [
        "import bpy",
        "import mathutils.geometry as g",
        "from gpu_extras.batch import batch_for_shader",
        "def f():\n    if True:\n        from bmesh import ops\n",
        "class A:\n    def m(self):\n        import idprop.types\n",
        "import importlib\nimportlib.import_module('addon_utils')",
        "x = __import__('bl_math')",
    ],
)
def test_forbidden_import_scanner_catches(snippet: str) -> None:
    """The layering scanner flags Blender-only imports however deeply nested."""
    assert forbidden_imports(snippet)


def test_forbidden_import_scanner_allows() -> None:
    """Ordinary and relative imports are not flagged."""
    assert (
        forbidden_imports("import numpy\nfrom . import blender\nfrom .blender import bpy_tools\nimport gpustat") == []
    )


def test_own_absolute_import_scanner() -> None:
    """``from depth_addon.x import y`` is flagged, ``from .x import y`` is not."""
    assert own_absolute_imports("from depth_addon.camera import CameraModel")
    assert own_absolute_imports("import operators")
    assert own_absolute_imports("from ..camera import CameraModel") == []


@pytest.mark.parametrize(
    "snippet",
    [
        '"""Doc."""\nfrom . import a\n_m = (a,)\nx = 1\ndef register(): ...\ndef unregister(): ...\n',
        '"""Doc."""\nfrom . import a\n_m = (a,)\nclass Op: ...\ndef register(): ...\ndef unregister(): ...\n',
        '"""Doc."""\nfrom . import a\n_m = (a,)\ndef register(): ...\ndef helper(): ...\ndef unregister(): ...\n',
        '"""Doc."""\nfrom . import a\n_m = (a,)\ndef register(): ...\n',
        "from . import a\n_m = (a,)\ndef register(): ...\ndef unregister(): ...\n",
        '"""Doc."""\nfrom . import a\n_m = (a,)\na.setup()\ndef register(): ...\ndef unregister(): ...\n',
    ],
)
def test_root_init_checker_catches(snippet: str) -> None:
    """Extra statements, a missing function or a missing docstring in the root ``__init__.py`` are flagged."""
    assert root_init_problems(snippet)


def test_root_init_checker_allows() -> None:
    """The expected shape passes."""
    good = '"""Doc."""\n\nfrom . import a, b\n\n_m = (a, b)\n\n\ndef register() -> None:\n    pass\n\n\n'
    good += "def unregister() -> None:\n    pass\n"
    assert root_init_problems(good) == []


@pytest.mark.parametrize(
    "snippet",
    [
        '"""Doc."""\n',
        f"{SPDX}\nimport os\n",
        f"{SPDX}\n# comment only\n",
        '# SPDX-License-Identifier: MIT\n"""Doc."""\n',
        f'"""Doc."""\n{SPDX}\n',
    ],
)
def test_header_checker_catches(snippet: str) -> None:
    """A missing or wrong SPDX line, or a missing docstring, is flagged."""
    assert header_problems(snippet)


def test_header_checker_allows() -> None:
    """SPDX line then docstring passes, with or without a shebang."""
    assert header_problems(f'{SPDX}\n"""Doc."""\n') == []
    assert header_problems(f'#!/usr/bin/env python3\n{SPDX}\n"""Doc."""\n') == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import torch\nsd = torch.load('w.pt')",
        "import torch\ndef f(p):\n    return torch.load(p, weights_only=True)",
        "import pickle\nwith open('x', 'rb') as fh:\n    pickle.load(fh)",
        "import pickle\npickle.loads(b'')",
        "from pickle import load",
        "from torch import load as tl",
        "import numpy as np\nnp.load('a.npy', allow_pickle=True)",
    ],
)
def test_unsafe_load_scanner_catches(snippet: str) -> None:
    """Unpickling calls and imports are flagged."""
    assert unsafe_load_calls(snippet)


def test_unsafe_load_scanner_allows() -> None:
    """Safe loaders and mere mentions in strings are not flagged."""
    ok = "import numpy as np\nfrom safetensors.torch import load_file\nnp.load('a.npy')\nload_file('w')\n"
    ok += "np.load('b.npy', allow_pickle=False)\ns = 'torch.load(' + 'pickle.load'\n"
    assert unsafe_load_calls(ok) == []


def test_ruff_catches(tmp_path: Path) -> None:
    """Ruff, with the repository's configuration, fails on a file that breaks it (unused import, long line)."""
    bad = tmp_path / "bad.py"
    bad.write_text(f'{SPDX}\n"""Doc."""\n\nimport os\n\nx = "{"a" * 130}"\n', encoding="utf-8")
    proc = _ruff("--config", str(ROOT / "pyproject.toml"), str(bad))
    assert proc.returncode != 0 and "F401" in proc.stdout and "E501" in proc.stdout, proc.stdout


def test_file_walk_skips_hidden_and_caches(tmp_path: Path) -> None:
    """The file walk skips ``.venv``-style hidden folders, caches and outputs."""
    for rel in ("a.py", "pkg/b.py", ".venv/lib/c.py", "pkg/__pycache__/d.py", "out/e.py", "dist/f.py", "g.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in python_files(tmp_path)) == ["a.py", "pkg/b.py"]
