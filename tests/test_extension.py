# SPDX-License-Identifier: GPL-3.0-or-later
"""Packaging: the manifest passes Blender's validator, each platform's zip holds the right files and
wheels, and the zip for this machine installs and works.

Wheels are downloaded once into the build's wheel cache (``wheels/``) and reused; the tests that need
them skip, saying so, only when PyPI cannot be reached and the cache is empty.

The install test runs in a fresh Python process with its own ``BLENDER_USER_RESOURCES`` and
without the repository on ``sys.path``: this process already registers the same classes from the
source tree, and only a separate process proves that the installed copy works on its own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "scripts" / "build_extension.py"
PACKAGES = ("depth_addon", "operators", "panels")
RESULT_MARK = "DEPTH_ADDON_INSTALL_RESULT "
RESOLUTION = (64, 48)

# Runs in the child process: install the zip, use it, remove it, print one JSON line.
INSTALL_CHILD = r"""
import json
import os
import sys
import traceback
from pathlib import Path

zip_path, repo_root, mark = sys.argv[1], Path(sys.argv[2]), sys.argv[5]
res_x, res_y = int(sys.argv[3]), int(sys.argv[4])
result = {"steps": []}


def step(name):
    result["steps"].append(name)


def op_exists(idname):
    prefix, name = idname.split(".")
    return name in dir(getattr(bpy.ops, prefix))


def enabled(mod):
    return mod in {a.module for a in bpy.context.preferences.addons}


try:
    result["repo_on_path"] = any(Path(p or ".").resolve() == repo_root for p in sys.path)
    import bpy  # first: it puts Blender's own modules (addon_utils, bmesh) on the path

    import addon_utils
    import bmesh

    mod = "bl_ext.user_default.depth_addon"
    step("install")
    result["install"] = sorted(bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True))
    repo = next(r for r in bpy.context.preferences.extensions.repos if r.module == "user_default")
    result["repo_dir"] = repo.directory
    result["enabled"] = enabled(mod)
    result["module_file"] = getattr(sys.modules.get(mod), "__file__", None)
    source = [repo_root / "depth_addon", repo_root / "operators", repo_root / "panels"]
    result["from_source_tree"] = sorted(
        name for name, m in list(sys.modules.items())
        if getattr(m, "__file__", None) and (
            Path(m.__file__).resolve() == repo_root / "__init__.py"
            or any(Path(m.__file__).resolve().is_relative_to(s) for s in source)
        )
    )
    result["scene_settings"] = hasattr(bpy.types.Scene, "depth_addon")

    step("scene")
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = res_x, res_y
    scene.render.resolution_percentage = 100
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.location = (0.0, -6.0, 0.0)
    cam.rotation_euler = (1.5707963, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    me = bpy.data.meshes.new("Cube")
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=2.0)
    bm.to_mesh(me)
    bm.free()
    scene.collection.objects.link(bpy.data.objects.new("Cube", me))

    step("render_depth")
    result["operator_exists"] = op_exists("depth.render_depth")
    result["render_depth"] = sorted(bpy.ops.depth.render_depth())
    image = bpy.data.images.get("Depth Map")
    result["image_size"] = list(image.size) if image is not None else None
    result["image_float"] = bool(image.is_float) if image is not None else None

    step("wheels")
    site = Path(os.environ["BLENDER_USER_RESOURCES"]) / "extensions" / ".local" / "lib"
    found = [p.name.lower() for p in site.glob("python3*/site-packages/*")]
    result["wheels_installed"] = sorted(n for n in ("cv2", "openexr", "safetensors")
                                        if any(f == n or f.startswith(n + ".") for f in found))

    step("generate")
    result["generate"] = sorted(bpy.ops.depth.generate())
    result["generated_images"] = sorted(i.name for i in bpy.data.images if i.name.startswith("Depth Camera"))
    queue = sys.modules[mod + ".depth_addon.app.jobs"].QUEUE
    result["worker_package"] = queue.client.ready.versions["package"]
    result["worker_pid"] = queue.client.pid
    step("health")
    result["health"] = sorted(bpy.ops.depth.health_check())
    result["health_text"] = bpy.context.window_manager.depth_addon_jobs.health

    step("disable")
    addon_utils.disable(mod, default_set=True)
    try:
        os.kill(result["worker_pid"], 0)
        result["worker_after_disable"] = True
    except OSError:
        result["worker_after_disable"] = False
    result["enabled_after_disable"] = enabled(mod)
    result["operator_after_disable"] = op_exists("depth.render_depth")
    result["scene_settings_after_disable"] = hasattr(bpy.types.Scene, "depth_addon")

    step("uninstall")
    result["uninstall"] = sorted(bpy.ops.extensions.package_uninstall(
        repo_directory=repo.directory, pkg_id="depth_addon"))
    result["installed_after_uninstall"] = os.path.exists(os.path.join(repo.directory, "depth_addon"))
    result["enabled_after_uninstall"] = enabled(mod)
except BaseException as ex:
    result["error"] = f"{type(ex).__name__}: {ex}"
    result["traceback"] = traceback.format_exc()[-3000:]
print(mark + json.dumps(result), flush=True)
"""


def _load_build_script() -> ModuleType:
    """Import ``scripts/build_extension.py`` (not a package) as a module."""
    spec = importlib.util.spec_from_file_location("depth_addon_build_extension", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host_platform() -> str:
    """This machine as a Blender platform name (``linux-x64``)."""
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(platform.machine().lower(),
                                                                        platform.machine().lower())
    system = {"darwin": "macos"}.get(platform.system().lower(), platform.system().lower())
    return f"{system}-{machine}"


def pypi_reachable() -> bool:
    """Whether pypi.org accepts a connection (for skip decisions only)."""
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def build_ext() -> ModuleType:
    """The build script as a module."""
    return _load_build_script()


@pytest.fixture(scope="module")
def built_zips(build_ext: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every platform's zip, built once for this module (wheels from the shared cache)."""
    try:
        paths = build_ext.build(out_dir=tmp_path_factory.mktemp("dist"), source_dir=ROOT)
    except build_ext.BuildError as ex:
        if "cannot download wheels" in str(ex) and not pypi_reachable():
            pytest.skip(f"PyPI is unreachable and the wheel cache lacks wheels: {ex}")
        raise
    return {build_ext._platform_of(p.name): p for p in paths}


@pytest.fixture(scope="module")
def built_zip(built_zips: dict[str, Path]) -> Path:
    """The zip for this machine."""
    if host_platform() not in built_zips:
        pytest.skip(f"no extension zip is built for this machine ({host_platform()})")
    return built_zips[host_platform()]


def _source_files() -> set[str]:
    """Zip-style relative paths of the add-on's Python files in the source tree."""
    files = {"__init__.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if not any(part == "__pycache__" or part.startswith(".") for part in rel.parts):
                files.add(rel.as_posix())
    return files


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    """Copy the manifest and root ``__init__.py`` to ``tmp_path`` with ``old`` replaced by ``new``."""
    text = (ROOT / "blender_manifest.toml").read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in the manifest; update this test"
    (tmp_path / "blender_manifest.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
    shutil.copy(ROOT / "__init__.py", tmp_path / "__init__.py")
    return tmp_path


def test_manifest_passes_blender_validator(build_ext: ModuleType) -> None:
    """Blender's own ``extension validate`` accepts the repository's manifest."""
    build_ext.validate(ROOT)


def test_broken_manifest_fails_validator(build_ext: ModuleType, tmp_path: Path) -> None:
    """The validation step can fail: a manifest with a non-semantic version is rejected with the reason."""
    broken = _broken_copy(tmp_path, 'version = "', 'version = "zero')
    with pytest.raises(build_ext.BuildError, match="version"):
        build_ext.validate(broken)


def test_zip_members(build_ext: ModuleType, built_zips: dict[str, Path]) -> None:
    """One zip per platform, each with the manifest, every add-on source file and exactly its own platform's
    wheels of the bundled packages, and no development files."""
    assert sorted(built_zips) == sorted(build_ext.PLATFORMS)
    for plat, built in built_zips.items():
        with zipfile.ZipFile(built) as zf:
            names = zf.namelist()
            assert zf.testzip() is None
            manifest = tomllib.loads(zf.read("blender_manifest.toml").decode("utf-8"))
        assert built.name == f"depth_addon-{manifest['version']}-{plat.replace('-', '_')}.zip"
        missing = _source_files() - set(names)
        assert not missing, f"source files missing from the {plat} zip: {sorted(missing)}"
        wheels = sorted(n for n in names if n.startswith("wheels/"))
        assert sorted({w.split("/")[1].split("-")[0].lower() for w in wheels}) == [
            "opencv_python_headless", "openexr", "safetensors"], (plat, wheels)
        for python in build_ext.PYTHON_VERSIONS:  # every supported Blender's Python finds each package
            cp = "cp" + python.replace(".", "")
            fitting = {w.split("/")[1].split("-")[0].lower() for w in wheels
                       if w.split("-")[-2] == "abi3" or cp in w.split("-")[-3].split(".")}
            assert fitting == {"opencv_python_headless", "openexr", "safetensors"}, (plat, python, wheels)
        assert manifest["build"]["generated"]["platforms"] == [plat]
        assert sorted(w.removeprefix("./") for w in manifest["build"]["generated"]["wheels"]) == wheels
        assert not any(w.split("-")[0].lower() in ("numpy", "torch") for w in wheels)
        excluded_top = {"tests", "scripts", "out", "dist", "data", "Makefile", "pyproject.toml", "requirements.txt"}
        unwanted = [
            n
            for n in names
            if n.split("/")[0] in excluded_top or n.startswith(("requirements", "wheels/linux", "wheels/mac"))
            or any(part.startswith(".") or part == "__pycache__" for part in n.split("/"))
            or n.endswith((".pyc", ".zip"))
        ]
        assert not unwanted, f"development files in the {plat} zip: {unwanted}"
    repo_manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    assert "wheels" not in repo_manifest and "platforms" not in repo_manifest
    assert repo_manifest["permissions"]["network"]


def test_build_leaves_only_the_zips(built_zips: dict[str, Path]) -> None:
    """The atomic build leaves no temporary files next to the zips."""
    folder = next(iter(built_zips.values())).parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in built_zips.values())


def test_manifest_gets_platforms_and_wheels(build_ext: ModuleType) -> None:
    """The build's manifest copy lists platforms and wheels as top-level keys; a repository manifest that
    already lists wheels is refused."""
    text = (ROOT / "blender_manifest.toml").read_text(encoding="utf-8")
    data = tomllib.loads(build_ext._manifest_with_wheels(text, ["linux-x64"], ["a-1.0-py3-none-any.whl"]))
    assert data["platforms"] == ["linux-x64"] and data["wheels"] == ["./wheels/a-1.0-py3-none-any.whl"]
    assert data["permissions"] == tomllib.loads(text)["permissions"]
    with pytest.raises(build_ext.BuildError, match="must not list wheels"):
        build_ext._manifest_with_wheels('wheels = ["./x.whl"]\n' + text, ["linux-x64"], [])
    assert build_ext.pinned(("safetensors",))[0].startswith("safetensors==")
    with pytest.raises(build_ext.BuildError, match="not pinned"):
        build_ext.pinned(("no-such-package",))


def test_offline_download_fails_clearly(build_ext: ModuleType, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an index to download from and an empty cache, the build stops with a message naming the
    packages, the platform and the cache folder."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no configured mirrors or local wheel folders
    for name in [k for k in os.environ if k.startswith("PIP_") and k != "PIP_CONFIG_FILE"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(build_ext.BuildError, match=r"cannot download wheels for linux-x64 \(safetensors==.*"
                                                   r"the build needs PyPI"):
        build_ext.download_wheels("linux-x64", build_ext.pinned(("safetensors",)), tmp_path / "cache")


def test_member_check_catches_bad_content(build_ext: ModuleType) -> None:
    """The build script's own content check fails on a zip with missing and unwanted members."""
    problems = build_ext.member_problems(
        ["__init__.py", "depth_addon/x.py", "tests/test_a.py", "depth_addon/__pycache__/a.pyc", ".venv/x.py"]
    )
    joined = " ".join(problems)
    for expected in ("missing blender_manifest.toml", "missing operators/", "missing panels/", "unwanted tests/"):
        assert expected in joined
    assert "unwanted depth_addon/__pycache__/a.pyc" in joined and "unwanted .venv/x.py" in joined
    good = ["__init__.py", "blender_manifest.toml", "depth_addon/__init__.py", "operators/a.py", "panels/b.py"]
    assert build_ext.member_problems(good) == []


def test_script_args_after_double_dash(build_ext: ModuleType) -> None:
    """Arguments after ``--`` are the script's (``blender -b --python``); without ``--`` inside Blender, none."""
    assert build_ext.script_args(["blender", "-b", "--python", "b.py", "--", "--out-dir", "d"]) == ["--out-dir", "d"]
    assert build_ext.script_args(["blender", "-b", "--python", "b.py"]) == []
    assert build_ext.script_args(["b.py", "--validate-only"]) == ["--validate-only"]


def _run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the build script as a command in a fresh process, as from a shell.

    ``bpy`` exports ``OCIO`` (its colour configuration) into this process's C environment, which a child started
    with the inherited environment gets although ``os.environ`` does not show it. Blender 5.1+ announces an ``OCIO``
    variable on stdout at start-up ("Using OCIO=…"), so the child gets ``os.environ`` explicitly, without it.
    """
    env = {k: v for k, v in os.environ.items() if k != "OCIO"}
    return subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def test_script_command_line(built_zips: dict[str, Path], tmp_path: Path) -> None:
    """As a command: builds the asked platform into ``--out-dir`` and prints its path; a bad manifest gives
    exit 1 and one line."""
    out = tmp_path / "dist"
    ok = _run_script("--out-dir", str(out), "--platform", "windows-x64", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    printed = [Path(line) for line in ok.stdout.strip().splitlines()]
    assert len(printed) == 1 and printed[0].is_file() and printed[0].parent == out.resolve()
    assert printed[0].name.endswith("-windows_x64.zip")

    src = tmp_path / "src"
    src.mkdir()
    broken = _broken_copy(src, 'version = "', 'version = "zero')
    bad = _run_script("--source-dir", str(broken), "--out-dir", str(tmp_path / "bad"), cwd=tmp_path)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("build_extension: error:") and "version" in lines[0], bad.stderr
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_install_use_and_remove(built_zip: Path, tmp_path: Path) -> None:
    """The zip installs into a clean Blender with its wheels, renders depth, generates through its own worker,
    checks the setup, and disables (stopping the worker) and uninstalls cleanly."""
    user = tmp_path / "blender_user"
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["BLENDER_USER_RESOURCES"] = str(user)
    proc = subprocess.run(
        [sys.executable, "-I", "-c", INSTALL_CHILD, str(built_zip), str(ROOT), *map(str, RESOLUTION), RESULT_MARK],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert lines, f"no result from the child (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    r = json.loads(lines[-1][len(RESULT_MARK) :])
    assert "error" not in r, f"failed at step {r['steps'][-1]!r}: {r['error']}\n{r.get('traceback', '')}"

    assert r["repo_on_path"] is False
    assert r["install"] == ["FINISHED"]
    assert r["enabled"] is True
    assert Path(r["module_file"]).resolve().is_relative_to(user.resolve()), r["module_file"]
    assert r["from_source_tree"] == [], "the installed add-on imported modules from the source tree"
    assert r["scene_settings"] is True

    assert r["operator_exists"] is True
    assert r["render_depth"] == ["FINISHED"]
    assert r["image_size"] == list(RESOLUTION)
    assert r["image_float"] is True

    assert r["wheels_installed"] == ["cv2", "openexr", "safetensors"]
    assert r["generate"] == ["FINISHED"] and r["generated_images"], r
    assert Path(r["worker_package"]).resolve().is_relative_to(user.resolve()), "the worker ran another copy"
    assert r["health"] == ["FINISHED"] and "PyTorch" in r["health_text"]
    assert r["worker_after_disable"] is False, "disabling the add-on must stop its worker"

    assert r["enabled_after_disable"] is False
    assert r["operator_after_disable"] is False
    assert r["scene_settings_after_disable"] is False

    assert r["uninstall"] == ["FINISHED"]
    assert r["installed_after_uninstall"] is False
    assert r["enabled_after_uninstall"] is False
