# SPDX-License-Identifier: GPL-3.0-or-later
"""Sidebar and preferences drawing, operator polls and their messages, and undo of every data change.

Panels are drawn with their real ``draw`` into a real ``UILayout`` (a popup layout, see
``ui_harness``) inside a real 3D View / Image Editor sidebar context; what is not exercised is
Blender's own region drawing (layout resolution, pixels), which needs a window on screen.
"""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from analytic import build
from ui_harness import draw, operator_registered

from depth_addon.blender import compat

#: Operators that change no data (so need no undo step). The live depth preview refreshes an image as a view
#: of the scene, like a viewport, and is switched off rather than undone.
NO_DATA_CHANGE = {"depth.cancel_job", "depth.release_model", "depth.install_torch", "depth.health_check",
                  "depth.toggle_live_preview"}


@pytest.fixture
def jobs(addon):
    """The add-on's job module, with the queue emptied afterwards."""
    yield addon.jobs
    addon.jobs.QUEUE.abandon()
    addon.jobs.QUEUE.history.clear()


def _panels(addon) -> list[type]:
    return [cls for cls in addon.panels.classes if issubclass(cls, bpy.types.Panel)]


def _draw_panel(cls: type, capfd) -> object:
    log = draw(cls.draw, getattr(cls, "bl_space_type", "VIEW_3D"))
    err = capfd.readouterr().err
    assert not log.problems, f"{cls.__name__}: {log.problems}"
    for warning in ("property not found", "unknown operator", "Traceback"):
        assert warning not in err, f"{cls.__name__} made Blender print: {err[-2000:]}"
    return log


def test_panels_live_in_the_depth_tabs(addon) -> None:
    """Every panel sits in a "Depth" sidebar tab, in the 3D View or the Image Editor, with a docstring tooltip."""
    spaces = set()
    for cls in _panels(addon):
        assert (cls.bl_region_type, cls.bl_category) == ("UI", "Depth"), cls
        assert cls.__doc__ and cls.__doc__.strip(), cls
        spaces.add(cls.bl_space_type)
    assert spaces == {"VIEW_3D", "IMAGE_EDITOR"}
    labels = {cls.bl_label for cls in _panels(addon) if cls.bl_space_type == "VIEW_3D"}
    assert {"Status", "Depth", "Import", "Generate", "Texture", "Compositor"} <= labels


def test_panels_draw_on_an_empty_file(addon, jobs, capfd) -> None:
    """Every panel draws on an empty file (no camera, no images, no jobs) without errors or warnings."""
    for cls in _panels(addon):
        _draw_panel(cls, capfd)


def test_panels_draw_with_content(addon, jobs, capfd) -> None:
    """With a scene, a depth map, a running job, a preview and a finished job, every panel still draws and
    shows progress and Cancel."""
    build()
    scene = bpy.context.scene
    assert bpy.ops.depth.render_depth(write_files=False) == {"FINISHED"}
    preview = addon.depth_addon.blender.images.image_from_array(jobs.PREVIEW_IMAGE, np.zeros((4, 4, 3), np.float32))
    jobs.QUEUE.preview = preview.name
    result = addon.depth_addon.api.render_depth(scene)
    running = jobs.Job(scene.name, result, {"prompt": "x"}, label="Cam seed 0", state="running", fraction=0.4,
                       message="texture", step=3, eta_s=2.0)
    jobs.QUEUE.jobs.append(running)
    jobs.QUEUE.history.append(jobs.Job(scene.name, result, {}, label="old", state="error", error="boom"))
    jobs.sync_status(bpy.context.window_manager)
    area = next(a for a in bpy.context.screen.areas if a.type not in ("VIEW_3D", "PROPERTIES"))
    area.type = "IMAGE_EDITOR"
    area.spaces.active.image = bpy.data.images["Depth Map"]
    logs = {cls.__name__: _draw_panel(cls, capfd) for cls in _panels(addon)}
    status = logs["VIEW3D_PT_depth_status"]
    assert "depth.cancel_job" in status.operators
    assert any("Step 3" in text for text in status.labels)
    assert "depth.generate" in logs["VIEW3D_PT_depth_generate"].operators
    assert any("Depth Map" in text for text in logs["IMAGE_PT_depth"].labels)
    jobs.QUEUE.jobs.clear()


def test_generate_panel_follows_the_backend(addon, capfd) -> None:
    """Options a backend does not use are hidden (baseline), and shown for other backends."""
    build()
    generate = addon.panels.sidebar.VIEW3D_PT_depth_generate
    props = _draw_panel(generate, capfd).props
    assert "DepthAddonGenerateSettings.variations" in props and "DepthAddonSettings.prompt" in props
    assert not any(p.endswith((".steps", ".negative_prompt")) for p in props)
    bpy.context.scene.depth_addon.generator = "some_learned_model"
    props = _draw_panel(generate, capfd).props
    assert {"DepthAddonGenerateSettings.steps", "DepthAddonGenerateSettings.negative_prompt"} <= set(props)


def test_missing_features_say_so(addon, capfd) -> None:
    """Sections whose operators are not in this build show a short note instead of failing."""
    sidebar = addon.panels.sidebar
    labels = _draw_panel(sidebar.VIEW3D_PT_depth_texture, capfd).labels
    for title, idname, _icon in sidebar.TEXTURE_SECTIONS:
        if not sidebar.available(idname):
            assert title in labels and "Not available in this build" in labels
    if not sidebar.available(addon.operators.ids.IMPORT_DEPTH_MAP):
        assert "Depth import is not available in this build" in _draw_panel(sidebar.VIEW3D_PT_depth_import,
                                                                             capfd).labels


def test_missing_estimator_weights_are_explained(addon, monkeypatch, capfd, tmp_path) -> None:
    """Without depth estimator weights the Import panel says what to download and where to put it."""
    monkeypatch.setenv("DEPTH_ADDON_DEPTH_MODEL", str(tmp_path / "missing"))
    text = " ".join(_draw_panel(addon.panels.sidebar.VIEW3D_PT_depth_import, capfd).labels)
    assert "Depth-Anything-V2-Small-hf" in text and str(tmp_path / "missing")[-20:] in text.replace(" ", "")
    assert "Preferences › Depth Estimator" in text
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing" / "config.json").write_text("{}")
    (tmp_path / "missing" / "model.safetensors").write_bytes(b"")
    assert "Depth-Anything-V2-Small-hf" not in " ".join(
        _draw_panel(addon.panels.sidebar.VIEW3D_PT_depth_import, capfd).labels)
    monkeypatch.setattr(addon.depth_addon.app.setup, "_torch_cache", {"found": False, "where": "", "custom": False})
    assert "Install PyTorch" in " ".join(_draw_panel(addon.panels.sidebar.VIEW3D_PT_depth_import, capfd).labels)
    assert not bpy.ops.depth.import_photo_as_mesh.poll()


def test_missing_torch_is_explained(addon, monkeypatch, capfd) -> None:
    """Without PyTorch the default backend still generates; a backend that needs it (diffusers) is explained in
    the panels, and Generate is disabled with the reason."""
    build()
    monkeypatch.setattr(addon.depth_addon.app.setup, "_torch_cache", {"found": False, "where": "", "custom": False})
    log = _draw_panel(addon.panels.sidebar.VIEW3D_PT_depth_generate, capfd)
    assert "PyTorch is not installed" not in log.labels and "depth.generate" in log.operators
    assert bpy.ops.depth.generate.poll()
    bpy.context.scene.depth_addon.generator = "diffusers"
    log = _draw_panel(addon.panels.sidebar.VIEW3D_PT_depth_generate, capfd)
    assert "PyTorch is not installed" in log.labels and "depth.generate" not in log.operators
    assert "preferences.addon_show" in log.operators
    with pytest.raises(RuntimeError, match="needs PyTorch"):
        bpy.ops.depth.generate()


def test_diffusers_without_weights_is_explained(addon, prefs, monkeypatch, capfd, tmp_path) -> None:
    """With PyTorch there but no model configured, the diffusers backend's Generate is disabled with where to set
    the weights (it started the job and failed in the worker); a Model Folder that is gone is named; a folder set in
    the preferences or in DEPTH_ADDON_DIFFUSERS enables it."""
    build()
    monkeypatch.setattr(addon.depth_addon.app.setup, "_torch_cache", {"found": True, "where": "", "custom": False})
    monkeypatch.delenv("DEPTH_ADDON_DIFFUSERS", raising=False)
    bpy.context.scene.depth_addon.generator = "diffusers"
    log = _draw_panel(addon.panels.sidebar.VIEW3D_PT_depth_generate, capfd)
    assert "depth.generate" not in log.operators and "preferences.addon_show" in log.operators
    assert any("Model Folder" in label for label in log.labels), log.labels
    for call in (bpy.ops.depth.generate, bpy.ops.depth.texture_multiview):
        with pytest.raises(RuntimeError, match="'diffusers' backend needs your own weights: set Model Folder"):
            call()
    prefs.model_dir = str(tmp_path / "gone")
    with pytest.raises(RuntimeError, match="Model Folder .*gone of the .diffusers. backend was not found"):
        bpy.ops.depth.generate()
    prefs.model_dir = str(tmp_path)
    assert bpy.ops.depth.generate.poll()
    prefs.controlnet_dir = str(tmp_path / "no controlnet")
    with pytest.raises(RuntimeError, match="Depth ControlNet .*no controlnet of the .diffusers. backend was not found"):
        bpy.ops.depth.generate()
    prefs.controlnet_dir = str(tmp_path)
    assert bpy.ops.depth.generate.poll()
    prefs.model_dir = prefs.controlnet_dir = ""
    monkeypatch.setenv("DEPTH_ADDON_DIFFUSERS", '{"model": "/models/sd15",}')  # not JSON: said here, not in the worker
    assert not bpy.ops.depth.generate.poll()  # disabled, with the reason: no job is started to fail in the worker
    with pytest.raises(RuntimeError, match="DEPTH_ADDON_DIFFUSERS is not valid JSON"):
        bpy.ops.depth.generate()
    monkeypatch.setenv("DEPTH_ADDON_DIFFUSERS", '{"model": "/models/sd15"}')
    assert bpy.ops.depth.generate.poll()


def test_every_generating_operator_is_disabled_when_its_backend_cannot_run(addon, jobs, worker_plugins,
                                                                             monkeypatch) -> None:
    """Texture from Views and Regenerate generate too: like Generate, they are disabled with the reason when their
    backend needs PyTorch that is not installed, instead of rendering every view and failing in the worker."""
    build()
    bpy.context.scene.depth_addon.generator = "test-echo"
    assert bpy.ops.depth.generate() == {"FINISHED"}
    provenance = addon.depth_addon.blender.writeback.provenance
    for idb in (*bpy.data.images, *bpy.data.materials):  # the result was made by a backend that needs PyTorch
        if (record := provenance.read(idb)) is not None:
            provenance.attach(dict(record, generator="diffusers"), idb)
    bpy.context.view_layer.objects.active = bpy.data.objects["Box"]
    bpy.context.scene.depth_addon.generator = "diffusers"
    monkeypatch.setattr(addon.depth_addon.app.setup, "_torch_cache", {"found": False, "where": "", "custom": False})
    for call in (bpy.ops.depth.generate, bpy.ops.depth.texture_multiview, bpy.ops.depth.regenerate):
        with pytest.raises(RuntimeError, match="'diffusers' backend needs PyTorch"):
            call()
    bpy.context.scene.depth_addon.generator = "test-echo"  # Regenerate asks the backend of the record
    assert bpy.ops.depth.texture_multiview.poll() and not bpy.ops.depth.regenerate.poll()


def test_preferences_draw(addon, prefs, capfd) -> None:
    """The preferences page draws its settings, the PyTorch state and the install/check buttons."""
    log = draw(lambda host, context: addon.preferences.draw_preferences(prefs, host.layout, context), "VIEW_3D")
    err = capfd.readouterr().err
    assert not log.problems and "property not found" not in err
    assert {"depth.install_torch", "depth.health_check"} <= set(log.operators)
    assert {"DepthAddonPreferences.backend", "DepthAddonPreferences.worker_python"} <= set(log.props)


def test_menu_lists_every_operator_for_search(addon, capfd) -> None:
    """Render › Depth lists every ``depth.*`` operator (menu entries are what F3 search finds)."""
    menus = addon.panels.menus
    assert menus.draw_render_menu in bpy.types.TOPBAR_MT_render.draw._draw_funcs
    log = _draw_panel(menus.TOPBAR_MT_depth, capfd)
    assert {cls.bl_idname for cls in addon.operators.classes if hasattr(cls, "bl_idname")
            and cls.bl_idname.startswith("depth.")} <= set(log.operators)


# --- polls and messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "message"), [
    (lambda: bpy.ops.depth.generate(), "no active camera"),
    (lambda: bpy.ops.depth.cancel_job(), "No generation is running"),
    (lambda: bpy.ops.depth.release_model(), "No model is loaded"),
])
def test_disabled_operators_say_why(addon, call, message: str) -> None:
    """Operators that cannot run refuse with a message saying why (``poll_message_set``)."""
    addon.jobs.QUEUE.shutdown()  # no worker, no jobs
    with pytest.raises(RuntimeError, match=message):
        call()


def test_generate_refuses_an_unknown_generator(addon) -> None:
    """A misspelt Generator field disables Generate with the names that exist, instead of failing in the worker."""
    build()
    bpy.context.scene.depth_addon.generator = "embeded"
    try:
        with pytest.raises(RuntimeError, match="no generator called 'embeded' \\(known: analytic, baseline"):
            bpy.ops.depth.generate()
    finally:
        bpy.context.scene.depth_addon.generator = ""


def test_install_refused_offline(addon) -> None:
    """With online access off, Install PyTorch is refused with the reason and the manual route; nothing runs."""
    if bpy.app.online_access:
        pytest.skip("online access is on in this Blender; the refusal cannot be observed")
    with pytest.raises(RuntimeError, match="Online access is off.*site-packages"):
        bpy.ops.depth.install_torch()
    assert addon.operators.job_ops.DEPTH_OT_install_torch.process is None


def test_operators_are_searchable_with_tooltips(addon) -> None:
    """Every operator is registered under ``depth.``, has a label and a docstring tooltip, and is not hidden
    from F3 search."""
    for cls in addon.operators.classes:
        assert operator_registered(cls.bl_idname), cls.bl_idname
        assert cls.bl_label and cls.__doc__ and len(cls.__doc__.strip()) > 20, cls
        assert "INTERNAL" not in getattr(cls, "bl_options", set()), cls


def test_every_data_change_has_undo(addon) -> None:
    """Operators that change data push an undo step; only the ones that change none go without."""
    missing = [cls.bl_idname for cls in addon.operators.classes
               if cls.bl_idname not in NO_DATA_CHANGE and "UNDO" not in cls.bl_options]
    assert not missing, f"data-changing operators without UNDO: {missing}"
    for cls in addon.operators.classes:
        if cls.bl_idname in NO_DATA_CHANGE:
            assert "UNDO" not in cls.bl_options, cls.bl_idname


# --- undo driven headless ------------------------------------------------------------------------------


def _undo() -> None:
    area = next(a for a in bpy.context.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(window=bpy.context.window, area=area, region=region):
        assert bpy.ops.ed.undo() == {"FINISHED"}


def _state() -> dict:
    scene = bpy.context.scene
    return {"images": sorted(i.name for i in bpy.data.images if i.name != "Render Result"),
            "materials": sorted(m.name for m in bpy.data.materials),
            "objects": sorted(o.name for o in bpy.data.objects),
            "compositor": getattr(compat.scene_compositor(scene), "name", None)}


def _undo_restores(op: str, **kwargs) -> dict:
    """Run ``depth.<op>`` as the UI does (with its undo step) and check that one undo restores the file."""
    bpy.ops.ed.undo_push(message="before")
    before = _state()
    assert getattr(bpy.ops.depth, op)("EXEC_DEFAULT", True, **kwargs) == {"FINISHED"}
    after = _state()
    assert after != before, f"depth.{op} changed nothing"
    _undo()
    assert _state() == before, f"undo after depth.{op} did not restore the file"
    return after


def test_undo_render_depth(addon) -> None:
    """Undo removes the depth image."""
    build()
    _undo_restores("render_depth", write_files=False)


def test_undo_generate_compositor_and_remove(addon, jobs, worker_plugins) -> None:
    """Undo takes back a generation (image, projection materials, projector, compositor), a compositor set-up
    and a removal."""
    build()
    bpy.context.scene.depth_addon.generator = "test-echo"
    after = _undo_restores("generate")
    assert any(name.startswith("Depth Cam seed 0") for name in after["images"])
    _undo_restores("setup_compositor")
    assert bpy.ops.depth.generate() == {"FINISHED"}
    _undo_restores("remove_result")


def test_broken_bundled_runtime_is_explained(addon, monkeypatch, capfd) -> None:
    """A bundled wheel that does not load on this platform disables the backend that needs it, with the reason
    in the panel and the poll; the weight-free backends still generate."""
    build()
    monkeypatch.setitem(addon.depth_addon.app.setup._LOADS, "safetensors", False)
    log = _draw_panel(addon.panels.sidebar.VIEW3D_PT_depth_generate, capfd)
    assert "The 'embedded' backend cannot run here" in log.labels and "depth.generate" not in log.operators
    with pytest.raises(RuntimeError, match="does not load on this platform"):
        bpy.ops.depth.generate()
    bpy.context.scene.depth_addon.generator = "analytic"
    assert "depth.generate" in _draw_panel(addon.panels.sidebar.VIEW3D_PT_depth_generate, capfd).operators
    assert bpy.ops.depth.generate.poll()


def test_one_click_choices_are_not_remembered_by_the_next_click(addon):
    """Blender offers an operator's last-used values to its next run: a focus picked for one click (Focus on
    Active) must not turn the plain Set Up Compositor button into one that needs an active object."""
    build()
    bpy.context.view_layer.objects.active = bpy.data.objects["Box"]
    assert bpy.ops.depth.setup_compositor("EXEC_DEFAULT", True, focus="OBJECT") == {"FINISHED"}
    bpy.context.view_layer.objects.active = None
    assert bpy.ops.depth.setup_compositor("EXEC_DEFAULT", True) == {"FINISHED"}  # the sidebar's focus
    for name in ("focus", "focus_x", "focus_y"):
        assert bpy.ops.depth.setup_compositor.get_rna_type().properties[name].is_skip_save, name
    for name in ("seed", "prompt", "only_this"):
        assert bpy.ops.depth.regenerate.get_rna_type().properties[name].is_skip_save, name


def test_set_up_compositor_says_what_it_made(addon, capfd):
    """Set Up Compositor reports the group the scene now renders through, and the focus it picked."""
    build()
    bpy.context.view_layer.objects.active = bpy.data.objects["Box"]
    capfd.readouterr()
    assert bpy.ops.depth.setup_compositor(focus="OBJECT") == {"FINISHED"}
    out = capfd.readouterr()
    info = [line for line in (out.out + out.err).splitlines() if line.startswith("Info:")]
    assert info == ["Info: The scene renders through our compositor group 'Depth AI Compositor', focus picked at 4"]


def test_remove_with_only_other_objects_selected_gives_the_compositor_back(addon):
    from depth_addon.app import writeback

    scene = build()
    assert bpy.ops.depth.setup_compositor() == {"FINISHED"} and writeback.compositor_active(scene)
    bpy.data.objects["Box"].select_set(True)  # an object of the user's, showing no result
    assert bpy.ops.depth.remove_result() == {"FINISHED"}
    assert not writeback.compositor_active(scene)
    assert bpy.ops.depth.remove_result.poll() is False  # nothing of ours left


def test_the_live_preview_stays_on_while_another_scene_has_it(addon, monkeypatch):
    preview = __import__("sys").modules[addon.__name__ + ".depth_addon.blender.depth.preview"]  # the add-on's copy
    monkeypatch.setattr(preview, "set_enabled", lambda on: calls.append(on))
    calls: list[bool] = []
    first, second = bpy.context.scene, bpy.data.scenes.new("Second")
    first.depth_addon.live_preview = True
    second.depth_addon.live_preview = True
    second.depth_addon.live_preview = False
    assert calls[-1] is True  # the first scene still previews
    first.depth_addon.live_preview = False
    assert calls[-1] is False


def test_undo_and_redo_of_the_live_preview_switch_run_the_preview_as_shown(addon, monkeypatch):
    """Ctrl+Z of switching the live preview off shows it on again: the preview runs again too (undo restores the
    setting without its update, which left the checkbox on and the preview stopped), and redo stops it again."""
    preview = __import__("sys").modules[addon.__name__ + ".depth_addon.blender.depth.preview"]  # the add-on's copy
    monkeypatch.setattr(preview, "set_enabled", lambda on: calls.append(on))
    calls: list[bool] = []
    build()
    settings = bpy.context.scene.depth_addon
    settings.live_preview = True
    bpy.ops.ed.undo_push(message="Live Preview on")
    settings.live_preview = False
    bpy.ops.ed.undo_push(message="Live Preview off")
    _undo()
    assert bpy.context.scene.depth_addon.live_preview and calls[-1] is True
    area = next(a for a in bpy.context.screen.areas if a.type == "VIEW_3D")
    with bpy.context.temp_override(window=bpy.context.window, area=area):
        assert bpy.ops.ed.redo() == {"FINISHED"}
    assert not bpy.context.scene.depth_addon.live_preview and calls[-1] is False
