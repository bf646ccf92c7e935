# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate ``blender_manifest.toml`` with Blender's own validator and build per-platform extension zips.

Usage::

    python scripts/build_extension.py [--out-dir DIR] [--platform P ...] [--wheel-cache DIR] [--no-wheels]
    python scripts/build_extension.py --validate-only [--source-dir DIR]
    blender -b --python scripts/build_extension.py -- [options]

Both run the code behind ``blender --command extension validate|build`` (the ``bl_pkg`` core
add-on). The packages the add-on needs inside Blender (:data:`BUNDLED`, at the versions pinned in
``requirements/base.txt``; not numpy, which Blender ships, and not PyTorch, which the preferences
install) are downloaded once per platform as unmodified PyPI wheels into ``--wheel-cache`` (default
``wheels/``, reused by later builds). The sources and those wheels are staged in a temporary folder
with a copy of the manifest that lists ``platforms`` and ``wheels`` (the repository's manifest stays
free of them), and built with ``--split-platforms``: one zip per platform, holding only its wheels.

Zips are built in a temporary folder inside ``--out-dir`` (default ``dist/``), checked (required
members and wheels present, development files absent, archive accepted by the validator) and only
then moved into place, so a failed build never leaves a partial or stale-looking zip behind. On
success the zips' paths are the only lines on stdout; on failure (a wheel that cannot be
downloaded included) the exit status is 1 and stderr holds one line saying why.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROG = "build_extension"

#: Files and folders every built zip must contain (folders end with ``/``).
REQUIRED_MEMBERS = ("__init__.py", "blender_manifest.toml", "depth_addon/", "operators/", "panels/")
#: Leading path parts that must never reach a built zip.
EXCLUDED_TOP_LEVEL = (
    "tests",
    "scripts",
    "out",
    "dist",
    ".venv",
    ".git",
    ".ci",
    ".pytest_cache",
    ".ruff_cache",
)
#: Path parts or suffixes that must never appear anywhere in a built zip (nor any hidden file or folder).
EXCLUDED_ANYWHERE = ("__pycache__",)
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".zip", ".blend1")
#: Packages bundled as wheels (pinned in requirements/base.txt).
BUNDLED = ("OpenEXR", "opencv-python-headless", "safetensors")
PINS = ROOT / "requirements" / "base.txt"
WHEEL_CACHE = ROOT / "wheels"
#: Pythons of the supported Blenders: 3.11 (4.2 to 5.0) and 3.13 (5.1 on). A wheel built for one CPython (OpenEXR)
#: is bundled for each; Blender installs the ones for its own Python (abi3 wheels serve both).
PYTHON_VERSIONS = ("3.11", "3.13")
#: Blender platform → pip platform tags to download for (pip also accepts older macOS versions).
PLATFORMS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_14_0_arm64",),
    "macos-x64": ("macosx_14_0_x86_64",),
}


class BuildError(Exception):
    """Validation or packaging failed; the message is meant for one stderr line."""


def script_args(argv: list[str]) -> list[str]:
    """Return the arguments meant for this script.

    :param argv: The full ``sys.argv``.
    :return: What follows ``--`` when present (``blender -b --python this.py -- ...``), nothing when
        running inside a Blender executable without ``--``, else ``argv[1:]``.
    """
    if "--" in argv:
        return argv[argv.index("--") + 1 :]
    if "--python" in argv or "-P" in argv:
        return []
    return argv[1:]


def _isolate_user_resources() -> None:
    """Point Blender at an empty, temporary user folder unless ``bpy`` is already loaded.

    Keeps the build independent of the user's installed add-ons and preferences, and leaves them untouched.
    """
    if "bpy" in sys.modules or os.environ.get("BLENDER_USER_RESOURCES"):
        return
    path = tempfile.mkdtemp(prefix="depth_addon_build_")
    os.environ["BLENDER_USER_RESOURCES"] = path
    atexit.register(shutil.rmtree, path, True)


def _extension_cli(args: list[str]) -> tuple[int, str]:
    """Run ``blender --command extension <args>`` in this process.

    :param args: Arguments of the extension command, e.g. ``["validate", "/path"]``.
    :return: Exit status and everything the command printed.
    """
    _isolate_user_resources()
    import bpy  # noqa: F401  (makes the core add-ons, ``bl_pkg`` among them, importable)
    from bl_pkg import bl_extension_cli

    out = io.StringIO()
    sigint = signal.getsignal(signal.SIGINT)  # the command installs its own handler; restore ours
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = bl_extension_cli.cli_extension_handler(args)
    except SystemExit as ex:  # argparse errors
        rc = ex.code if isinstance(ex.code, int) else 2
    finally:
        signal.signal(signal.SIGINT, sigint)
    return rc, out.getvalue()


def _one_line(text: str) -> str:
    """Squeeze the validator's output into one line, dropping progress chatter."""
    chatter = ("building:", "complete", "created:", "Success parsing")
    lines = []
    for line in text.splitlines():
        line = line.strip()
        for prefix in ("FATAL_ERROR: ", "ERROR: ", "STATUS: "):
            line = line.removeprefix(prefix)
        if line and not line.startswith(chatter):
            lines.append(line)
    return "; ".join(lines) or "no message"


def validate(source_dir: Path | str = ROOT) -> None:
    """Check ``source_dir`` (a folder with ``blender_manifest.toml``, or a built zip) with Blender's validator.

    :param source_dir: Extension source folder or zip.
    :raises BuildError: When the validator rejects it; the message carries the validator's reasons.
    """
    if not Path(source_dir).exists():
        raise BuildError(f"{source_dir} does not exist")
    rc, text = _extension_cli(["validate", str(source_dir)])
    if rc != 0:
        raise BuildError(f"{source_dir} failed Blender's extension validator: {_one_line(text)}")


def member_problems(names: list[str]) -> list[str]:
    """List what is wrong with the member names of a built zip.

    :param names: ``ZipFile.namelist()`` of the archive.
    :return: One message per missing required member or unwanted member; empty when the zip is fine.
    """
    problems = []
    for required in REQUIRED_MEMBERS:
        if required.endswith("/"):
            found = any(name.startswith(required) for name in names)
        else:
            found = required in names
        if not found:
            problems.append(f"missing {required}")
    for name in names:
        parts = name.split("/")
        if (
            parts[0] in EXCLUDED_TOP_LEVEL
            or any(part in EXCLUDED_ANYWHERE or part.startswith(".") for part in parts)
            or name.endswith(EXCLUDED_SUFFIXES)
        ):
            problems.append(f"unwanted {name}")
    return problems


def pinned(names: tuple[str, ...] = BUNDLED, pins: Path = PINS) -> list[str]:
    """``name==version`` for each of ``names``, from the pins file.

    :param names: Distribution names.
    :param pins: A requirements file with ``name==version`` lines.
    :raises BuildError: When a name is not pinned there.
    """
    found = {}
    for line in pins.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            found[_norm(name)] = f"{name.strip()}=={version.strip()}"
    missing = [n for n in names if _norm(n) not in found]
    if missing:
        raise BuildError(f"{', '.join(missing)} not pinned in {pins}")
    return [found[_norm(n)] for n in names]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _cached_wheel(folder: Path, requirement: str, python: str = PYTHON_VERSIONS[0]) -> Path | None:
    """The wheel in ``folder`` for ``name==version`` that loads in CPython ``python``, if one was downloaded before."""
    name, _, version = requirement.partition("==")
    cp = "cp" + python.replace(".", "")
    for wheel in sorted(folder.glob("*.whl")):
        parts = wheel.name.split("-")
        tags, abi = parts[-3].split("."), parts[-2]
        fits = abi == "abi3" or cp in tags or any(t.startswith("py3") for t in tags)
        if _norm(parts[0]) == _norm(name) and parts[1] == version and fits:
            return wheel
    return None


def download_wheels(platform: str, requirements: list[str], cache: Path = WHEEL_CACHE) -> list[Path]:
    """Wheels of ``requirements`` for one Blender platform, from the cache or downloaded from PyPI into it.

    :param platform: A key of :data:`PLATFORMS`.
    :param requirements: ``name==version`` strings.
    :param cache: Wheel cache; ``<cache>/<platform>/`` holds the files.
    :raises BuildError: When pip cannot download them (offline, no wheel for the platform).
    """
    folder = cache / platform
    folder.mkdir(parents=True, exist_ok=True)
    for python in PYTHON_VERSIONS:
        missing = [r for r in requirements if _cached_wheel(folder, r, python) is None]
        if not missing:
            continue
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
               "--only-binary=:all:", "--no-deps", "--python-version", python, "--implementation", "cp",
               *(arg for tag in PLATFORMS[platform] for arg in ("--platform", tag)), "--dest", str(folder), *missing]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip().startswith("ERROR")]
            why = "; ".join(lines[-2:]) or f"pip exit {proc.returncode}"
            raise BuildError(f"cannot download wheels for {platform} ({', '.join(missing)}): {why}; the build needs "
                             f"PyPI, or these wheels in {folder}")
    wheels = [_cached_wheel(folder, r, python) for python in PYTHON_VERSIONS for r in requirements]
    if None in wheels:
        raise BuildError(f"pip reported success but wheels are missing in {folder}")
    return sorted(set(wheels))


def _manifest_with_wheels(text: str, platforms: list[str], wheels: list[str]) -> str:
    """The manifest text with top-level ``platforms`` and ``wheels`` (before the first table)."""
    data = tomllib.loads(text)
    if "wheels" in data or "platforms" in data:
        raise BuildError("the repository manifest must not list wheels or platforms; the build adds them")
    entries = "".join(f'  "./wheels/{w}",\n' for w in wheels)
    block = f"platforms = {platforms!r}\nwheels = [\n{entries}]\n\n".replace("'", '"')
    match = re.search(r"^\[", text, flags=re.MULTILINE)
    at = match.start() if match else len(text)
    return text[:at] + block + text[at:]


def stage(source_dir: Path, target: Path, wheels: dict[str, list[Path]]) -> Path:
    """Copy the extension into ``target`` with the wheels and a manifest that lists them.

    Only the extension is copied: the root's files (``*.py``, the manifest, read-me and licence) and its
    top-level Python packages (folders with an ``__init__.py``); data, caches and development folders
    stay behind. The manifest's ``[build]`` exclusions still apply inside.

    :param source_dir: Repository root.
    :param target: Empty staging folder.
    :param wheels: Wheels per Blender platform.
    """
    def ignore(_folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n.startswith(".") or n in EXCLUDED_ANYWHERE or n.endswith(EXCLUDED_SUFFIXES)}

    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source_dir.iterdir()):
        if entry.name.startswith(".") or entry.name in EXCLUDED_TOP_LEVEL:
            continue
        if entry.is_dir() and (entry / "__init__.py").is_file():
            shutil.copytree(entry, target / entry.name, ignore=ignore)
        elif entry.is_file() and (entry.suffix in (".py", ".md", ".toml", ".txt") or entry.name.startswith("LICENSE")):
            shutil.copy2(entry, target / entry.name)
    files = sorted({w.name: w for ws in wheels.values() for w in ws}.items())
    (target / "wheels").mkdir()
    for name, path in files:
        shutil.copy2(path, target / "wheels" / name)
    text = (source_dir / "blender_manifest.toml").read_text(encoding="utf-8")
    manifest = _manifest_with_wheels(text, sorted(wheels), [name for name, _ in files])
    (target / "blender_manifest.toml").write_text(manifest, encoding="utf-8")
    return target


def _platform_of(zip_name: str) -> str:
    """``linux-x64`` from ``depth_addon-0.1.0-linux_x64.zip`` (empty without a platform suffix)."""
    stem = zip_name.removesuffix(".zip")
    tail = stem.rsplit("-", 1)[-1]
    return tail.replace("_", "-") if tail.replace("_", "-") in PLATFORMS else ""


def build(out_dir: Path | str = ROOT / "dist", source_dir: Path | str = ROOT, platforms: list[str] | None = None,
          wheel_cache: Path | str = WHEEL_CACHE, bundle_wheels: bool = True) -> list[Path]:
    """Validate, build and check the extension zips, then move them atomically into ``out_dir``.

    :param out_dir: Folder that receives ``<id>-<version>-<platform>.zip``; created when missing.
    :param source_dir: Extension source folder (the repository root).
    :param platforms: Blender platforms to build (default: all of :data:`PLATFORMS`).
    :param wheel_cache: Where downloaded wheels are kept between builds.
    :param bundle_wheels: False builds one platform-independent zip without wheels (``<id>-<version>.zip``).
    :return: Paths of the zips.
    :raises BuildError: When validation, a download, the build or the content check fails.
    """
    source_dir = Path(source_dir).resolve()
    out_dir = Path(out_dir).resolve()
    platforms = list(platforms or PLATFORMS)
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise BuildError(f"unknown platform {', '.join(unknown)}; use {', '.join(PLATFORMS)}")
    validate(source_dir)
    wheels: dict[str, list[Path]] = {}
    if bundle_wheels:
        requirements = pinned()
        wheels = {p: download_wheels(p, requirements, Path(wheel_cache)) for p in platforms}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise BuildError(f"cannot create output folder {out_dir}: {ex}") from ex
    # A sibling temporary folder keeps the final rename on one file system (atomic).
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out_dir) as tmp:
        built_dir = Path(tmp) / "out"
        args = ["build", "--output-dir", str(built_dir)]
        if bundle_wheels:
            args += ["--source-dir", str(stage(source_dir, Path(tmp) / "src", wheels)), "--split-platforms"]
        else:
            args += ["--source-dir", str(source_dir)]
        built_dir.mkdir()
        rc, text = _extension_cli(args)
        if rc != 0:
            raise BuildError(f"Blender's extension build failed: {_one_line(text)}")
        zips = sorted(built_dir.glob("*.zip"))
        expected = len(platforms) if bundle_wheels else 1
        if len(zips) != expected:
            raise BuildError(f"expected {expected} zip(s) from the build, found {len(zips)}")
        for built in zips:
            with zipfile.ZipFile(built) as zf:
                names = zf.namelist()
            problems = member_problems(names)
            if bundle_wheels:
                platform = _platform_of(built.name)
                want = {f"wheels/{w.name}" for w in wheels.get(platform, [])}
                problems += [f"missing {w}" for w in sorted(want - set(names))] if want else [f"no platform {platform}"]
                problems += [f"foreign wheel {n}" for n in names if n.startswith("wheels/") and n not in want]
            if problems:
                raise BuildError(f"{built.name} has the wrong content ({', '.join(problems)}); fix the manifest's "
                                 "[build]")
            validate(built)
        targets = []
        for built in zips:
            os.replace(built, out_dir / built.name)
            targets.append(out_dir / built.name)
    return targets


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    :param argv: Arguments (without the program name); defaults to the script's part of ``sys.argv``.
    :return: Exit status: 0 on success, 1 on failure.
    """
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--source-dir", type=Path, default=ROOT, help="extension source (default: repository root)")
    parser.add_argument("--validate-only", action="store_true", help="validate the manifest, build nothing")
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="build only this platform (repeatable; default: all)")
    parser.add_argument("--wheel-cache", type=Path, default=WHEEL_CACHE, help="downloaded wheels (default: wheels/)")
    parser.add_argument("--no-wheels", action="store_true", help="one zip without bundled wheels (development)")
    args = parser.parse_args(script_args(sys.argv) if argv is None else argv)
    try:
        if args.validate_only:
            validate(args.source_dir)
            print(f"{args.source_dir.resolve() / 'blender_manifest.toml'}: valid")
        else:
            for path in build(args.out_dir, args.source_dir, args.platform, args.wheel_cache, not args.no_wheels):
                print(path)
    except BuildError as ex:
        print(f"{PROG}: error: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
