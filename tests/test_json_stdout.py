# SPDX-License-Identifier: GPL-3.0-or-later
"""``--json`` keeps stdout to JSON events from the very start: what ``import bpy`` logs goes to stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("entry", [["scripts/depth_cli.py"], ["-m", "depth_addon"]])
def test_json_stdout_holds_only_events_with_ocio_set(entry: list[str]) -> None:
    """With ``$OCIO`` set, as studio pipelines set it for their colour config, bpy logs the config it uses on stdout
    while it loads, before any command runs: the first line of the event stream was not JSON."""
    import bpy

    config = Path(bpy.utils.resource_path("LOCAL")) / "datafiles" / "colormanagement" / "config.ocio"
    proc = subprocess.run([sys.executable, *entry, "--json", "info"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=os.environ | {"OCIO": str(config)})
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line)["event"] for line in proc.stdout.splitlines()]
    assert events == ["start", "done"]
    assert "ocio" in proc.stderr.lower()  # Blender's own line ("OCIO" or the config file), where its logs go
