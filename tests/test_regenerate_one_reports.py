# SPDX-License-Identifier: GPL-3.0-or-later
"""What Regenerate › This Object Only says: the object keeps the material its phrase gave it as its own prompt, which
is that phrase at work, not a phrase whose target only an object with its own prompt matches."""

from __future__ import annotations

import bpy
from test_regenerate_one import small_scene

PROMPT = "brick walls, wooden posts and grass"
#: What a run says of a phrase whose target only objects with a prompt of their own match.
SHADOWED = "names only 'Wall', which has its own prompt"


def _reports(capfd) -> list[str]:
    captured = capfd.readouterr()
    return [line for line in (captured.out + captured.err).splitlines() if line.startswith(("Info:", "Warning:"))]


def _regenerate(capfd, **options) -> list[str]:
    capfd.readouterr()
    assert bpy.ops.depth.regenerate("EXEC_DEFAULT", True, **options) == {"FINISHED"}
    return _reports(capfd)


def test_this_object_only_does_not_say_its_own_phrase_paints_nothing(addon, capfd) -> None:
    """The wall repainted alone keeps 'brick' from 'brick walls': no run after it (this one, a plain Regenerate of
    another object) says that only an object with its own prompt matches the phrase's 'wall'; a new prompt for the wall
    does say so."""
    scene = small_scene((48, 36))
    scene.depth_addon.generator, scene.depth_addon.prompt = "analytic", PROMPT
    assert bpy.ops.depth.generate("EXEC_DEFAULT", True) == {"FINISHED"}
    bpy.context.view_layer.objects.active = bpy.data.objects["Wall"]
    said = _regenerate(capfd, only_this=True)
    assert any("Wall brick (explicit)" in line for line in said), said
    assert not any(SHADOWED in line for line in said), said
    bpy.context.view_layer.objects.active = bpy.data.objects["Post"]
    said = _regenerate(capfd)
    assert not any(SHADOWED in line for line in said), said
    bpy.context.view_layer.objects.active = bpy.data.objects["Wall"]
    said = _regenerate(capfd, only_this=True, prompt="blue marble")
    assert any(SHADOWED in line for line in said), said
