# SPDX-License-Identifier: GPL-3.0-or-later
"""Texture from Views leaves the meshes as they were however its job ends: cancelled with Esc, failed, or done.

Unwrapping a mesh for the bake goes through edit mode, which writes hidden selection and hide attributes
(``.select_vert``, ``.hide_poly``, ``.uv_select_face`` …) onto meshes that had none. The job is queued with the
operator's own ``make_jobs`` and followed by its ``modal`` (Esc and timer events, as in ``test_jobs.py``).
"""

from __future__ import annotations

from types import SimpleNamespace

import bpy
import numpy as np
import pytest
from test_multiview import block_scene

TIMER = SimpleNamespace(type="TIMER", value="NOTHING")
ESC = SimpleNamespace(type="ESC", value="PRESS")


@pytest.fixture
def queue(addon, worker_plugins):
    """The job queue, with the test generators; emptied afterwards."""
    jobs = addon.depth_addon.app.jobs
    jobs.QUEUE.configure(worker_plugins())
    jobs.QUEUE.history.clear()  # earlier tests' jobs: history[0] is this test's, not theirs
    yield jobs.QUEUE
    jobs.QUEUE.abandon()
    jobs.QUEUE.history.clear()


def _meshes() -> dict:
    """Every mesh's attributes (hidden booleans with their values), UV maps, custom properties and vertex groups."""
    state = {}
    for mesh in bpy.data.meshes:
        attrs = {}
        for attr in mesh.attributes:
            values = None
            if attr.data_type == "BOOLEAN" and attr.name.startswith("."):
                values = np.empty(len(attr.data), bool)
                attr.data.foreach_get("value", values)
                values = values.tolist()
            attrs[attr.name] = (attr.domain, attr.data_type, values)
        uv_maps = [(uv.name, uv.active, uv.active_render) for uv in mesh.uv_layers]
        state[mesh.name] = {"attributes": attrs, "uv": uv_maps, "props": sorted(mesh.keys())}
    for obj in bpy.data.objects:
        state[f"object {obj.name}"] = {"groups": [g.name for g in obj.vertex_groups],
                                       "select": obj.select_get(), "hide": obj.hide_get()}
    return state


def _scene():
    """Two meshes without UV maps (both unwrapped for the bake), one with faces of its own selected and hidden."""
    ground, cube = block_scene()
    cube.data.polygons[0].select = True
    cube.data.polygons[1].hide = True
    cube.data.vertices[0].select = True
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = (0.0, -6.0, 3.0), (1.1, 0.0, 0.0)
    bpy.context.scene.camera = cam
    ground.select_set(True)
    cube.select_set(True)
    bpy.context.view_layer.objects.active = ground


def _follow(addon, generator: str, esc: bool = False) -> tuple[set[str], SimpleNamespace]:
    """Queue Texture from Views with its default options (two small views) and follow it to the end."""
    op_cls = addon.operators.texture_ops.DEPTH_OT_texture_multiview
    props = bpy.ops.depth.texture_multiview.get_rna_type().properties
    fake = SimpleNamespace(**{p.identifier: p.default for p in props if hasattr(p, "default")})
    fake.views, fake.view_size, fake.bake_size = 2, 48, "512"
    fake.reports, fake._applied = [], 0
    fake._cameras = lambda ctx: op_cls._cameras(fake, ctx)
    fake.report = lambda kind, text: fake.reports.append((set(kind), text))
    fake.report_job = lambda job: op_cls.report_job(fake, job)
    fake._end = lambda ctx: op_cls._end(fake, ctx)
    bpy.context.scene.depth_addon.generator = generator
    op_cls.make_jobs(fake, bpy.context)
    fake._timer = bpy.context.window_manager.event_timer_add(0.1, window=bpy.context.window)
    addon.depth_addon.app.jobs.QUEUE.modal_running = True
    if esc:
        assert op_cls.modal(fake, bpy.context, ESC) == {"RUNNING_MODAL"}
    while (result := op_cls.modal(fake, bpy.context, TIMER)) == {"PASS_THROUGH"}:
        pass
    return result, fake


@pytest.mark.parametrize(("generator", "esc", "how"), [("test-slow", True, "cancelled"),
                                                       ("test-crash", False, "error")])
def test_a_cancelled_or_failed_run_leaves_every_mesh_as_it_was(addon, queue, generator: str, esc: bool,
                                                               how: str) -> None:
    _scene()
    before = _meshes()
    result, fake = _follow(addon, generator, esc)
    assert result == {"CANCELLED"}
    assert queue.history[0].state == how, fake.reports
    assert _meshes() == before


def test_a_finished_run_leaves_its_uv_map_and_no_selection_marks(addon, queue) -> None:
    _scene()
    before = _meshes()
    result, fake = _follow(addon, "test-echo")
    assert result == {"FINISHED"}, fake.reports
    after = _meshes()
    for name in ("Ground", "Cube"):
        added = after[name]["attributes"].pop("Depth UV")
        assert added[:2] == ("CORNER", "FLOAT2")
        assert after[name]["attributes"] == before[name]["attributes"]  # no hidden attribute added, none changed
    assert all(after[k] == before[k] for k in before if k.startswith("object "))
