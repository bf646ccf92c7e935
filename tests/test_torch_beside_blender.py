# SPDX-License-Identifier: GPL-3.0-or-later
"""PyTorch and diffusers load in a Blender process that has already rendered with OpenGL.

Headless Workbench, EEVEE and the ``gpu`` module run on Mesa's llvmpipe, which loads the system's libLLVM. Any
library that carries its own LLVM and is loaded afterwards can bind to it and crash in its static constructors:
triton (pulled in by PyPI's CUDA builds of torch, and imported by ``diffusers``) did exactly that, which is why
the Python 3.13 venvs remove it. The order matters, so this runs in a fresh process: render first, then import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = r"""
import sys

import bpy

scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x = scene.render.resolution_y = 8
scene.render.filepath = sys.argv[1]
bpy.ops.render.render(write_still=True)

import torch
from diffusers import StableDiffusionControlNetPipeline  # noqa: F401

print("LOADED", torch.__version__, torch.from_numpy(__import__("numpy").ones(3)).sum().item())
"""


def test_torch_and_diffusers_load_after_an_opengl_render(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "r.png")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-2000:]}"
    assert (tmp_path / "r.png").is_file()
    assert "LOADED" in proc.stdout and proc.stdout.strip().endswith("3.0"), proc.stdout
