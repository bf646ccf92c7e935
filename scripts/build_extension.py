# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate ``blender_manifest.toml`` with Blender's own validator and build the extension zip.

Usage::

    python scripts/build_extension.py [--out-dir DIR] [--validate-only] [--source-dir DIR]
    blender -b --python scripts/build_extension.py -- [--out-dir DIR] [--validate-only]

Both run the code behind ``blender --command extension validate|build`` (the ``bl_pkg`` core
add-on). The zip is built in a temporary folder inside ``--out-dir`` (default ``dist/``), checked
(required members present, development files absent, archive accepted by the validator) and only
then moved into place, so a failed build never leaves a partial or stale-looking zip behind. On
success the zip's path is the only line on stdout; on failure the exit status is 1 and stderr
holds one line saying why.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import os
import shutil
import signal
import sys
import tempfile
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


def build(out_dir: Path | str = ROOT / "dist", source_dir: Path | str = ROOT) -> Path:
    """Validate, build and check the extension zip, then move it atomically into ``out_dir``.

    :param out_dir: Folder that receives ``<id>-<version>.zip``; created when missing.
    :param source_dir: Extension source folder (the repository root).
    :return: Path of the zip.
    :raises BuildError: When validation, the build or the content check fails.
    """
    source_dir = Path(source_dir).resolve()
    out_dir = Path(out_dir).resolve()
    validate(source_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise BuildError(f"cannot create output folder {out_dir}: {ex}") from ex
    # A sibling temporary folder keeps the final rename on one file system (atomic).
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out_dir) as tmp:
        rc, text = _extension_cli(["build", "--source-dir", str(source_dir), "--output-dir", tmp])
        if rc != 0:
            raise BuildError(f"Blender's extension build failed: {_one_line(text)}")
        zips = sorted(Path(tmp).glob("*.zip"))
        if len(zips) != 1:
            raise BuildError(f"expected one zip from the build, found {len(zips)}")
        built = zips[0]
        with zipfile.ZipFile(built) as zf:
            problems = member_problems(zf.namelist())
        if problems:
            raise BuildError(f"{built.name} has the wrong content ({', '.join(problems)}); fix the manifest's [build]")
        validate(built)
        target = out_dir / built.name
        os.replace(built, target)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    :param argv: Arguments (without the program name); defaults to the script's part of ``sys.argv``.
    :return: Exit status: 0 on success, 1 on failure.
    """
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--source-dir", type=Path, default=ROOT, help="extension source (default: repository root)")
    parser.add_argument("--validate-only", action="store_true", help="validate the manifest, build nothing")
    args = parser.parse_args(script_args(sys.argv) if argv is None else argv)
    try:
        if args.validate_only:
            validate(args.source_dir)
            print(f"{args.source_dir.resolve() / 'blender_manifest.toml'}: valid")
        else:
            print(build(args.out_dir, args.source_dir))
    except BuildError as ex:
        print(f"{PROG}: error: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
