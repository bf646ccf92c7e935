# SPDX-License-Identifier: GPL-3.0-or-later
"""The Flamenco job type splits a task exactly as the Python splitter does (run under Node.js)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from depth_addon.batch import parse_job, split_units

ROOT = Path(__file__).resolve().parents[1]
JOB_TYPE = ROOT / "scripts" / "flamenco" / "depth_addon_batch.js"

HARNESS = """
const fs = require('fs');
const tasks = [];
global.author = {
  Task: (name, type) => { const t = {name, type, commands: [], addCommand(c) { this.commands.push(c); }}; return t; },
  Command: (type, params) => ({type, params}),
};
global.print = () => {};
eval(fs.readFileSync(process.argv[1], 'utf8') + '; global.compileJob = compileJob; global.JOB_TYPE = JOB_TYPE;');
const settings = JSON.parse(process.argv[2]);
try {
  compileJob({settings, addTask: (t) => tasks.push(t)});
  console.log(JSON.stringify({keys: JOB_TYPE.settings.map(s => s.key), tasks}));
} catch (e) { console.log(JSON.stringify({error: String(e)})); }
"""


def compile_with_node(settings: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed; the job type is JavaScript run by the Flamenco Manager")
    out = subprocess.run([node, "-e", HARNESS, str(JOB_TYPE), json.dumps(settings)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("start, end, size", [(1, 25, 10), (1, 1, 10), (7, 30, 4), (3, 9, 100)])
def test_job_type_chunks_match_python_split(tmp_path: Path, start: int, end: int, size: int) -> None:
    settings = {"job_file": "/farm/job.json", "task": "shot010", "frame_start": start, "frame_end": end,
                "chunk_size": size, "cli_script": "/farm/depth_addon/scripts/depth_cli.py",
                "blendfile": "/farm/shot010.blend"}
    result = compile_with_node(settings)
    job = parse_job({"tasks": [{"name": "shot010", "blend": "x.blend", "frames": [start, end], "range": [1, 9]}]},
                    tmp_path)
    expected = [c["args"] for c in split_units(job, chunk_size=size)]
    got = [t["commands"][0]["params"]["args"] for t in result["tasks"]]
    assert [a[a.index("--task"):] for a in got] == expected
    for args in got:
        assert args[:4] == ["--python-exit-code", "1", "--python", settings["cli_script"]]
        assert args[4:8] == ["--", "--json", "batch", "/farm/job.json"]
    assert {"job_file", "task", "chunk_size", "cli_script", "blendfile"} <= set(result["keys"])


def test_job_type_refuses_bad_chunks() -> None:
    base = {"job_file": "j", "task": "t", "cli_script": "c", "blendfile": "b"}
    assert "chunk size" in compile_with_node(base | {"frame_start": 1, "frame_end": 5, "chunk_size": 0})["error"]
    assert "before" in compile_with_node(base | {"frame_start": 5, "frame_end": 1, "chunk_size": 2})["error"]
