# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth operators: one view or a sequence of views into images and files, and the live preview."""

import os
from pathlib import Path

import bpy

from ..depth_addon import api
from ..depth_addon.app import depth, options
from ..depth_addon.errors import BadInput, DepthAddonError
from ..depth_addon.io.atomic import check_writable_dir
from . import ids

CLIPPED_HINT = "widen Near/Far, or untick Lock Range to fit the range"


def camera_poll(cls, context: bpy.types.Context) -> bool:
    """Shared poll: a scene with an active camera."""
    if context.scene is None or context.scene.camera is None:
        cls.poll_message_set("The scene has no active camera")
        return False
    return True


def output_dir(context: bpy.types.Context) -> str | None:
    """The settings' output folder as an absolute path, or None when it cannot be resolved yet."""
    path = context.scene.depth_addon.output_dir
    if path.startswith("//") and not bpy.data.filepath:
        return None
    return bpy.path.abspath(path) if path else None


class DEPTH_OT_render_depth(bpy.types.Operator):
    """Render float depth from the active camera into the "Depth Map" image (what the model gets) and EXR/PNG
    files when the output folder can be resolved"""

    bl_idname = ids.RENDER_DEPTH
    bl_label = "Render Depth"
    bl_options = {"REGISTER", "UNDO"}

    engine: bpy.props.EnumProperty(  # one call's choice: the next click renders with the sidebar's Engine again
        name="Engine", default="settings", options={"SKIP_SAVE"},
        items=[("settings", "Sidebar", "The Depth panel's Engine"),
               *[(e, {"gpu": "GPU"}.get(e, e.title()), f"Render depth with the {e} path") for e in depth.ENGINES]],
        description="How depth is rendered (Sidebar: the Depth panel's Engine; Auto: the fastest path that works here)"
    )
    write_files: bpy.props.BoolProperty(name="Write Files", description="Write depth.exr and depth.png", default=True)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return camera_poll(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        settings = scene.depth_addon
        folder = output_dir(context) if self.write_files else None
        fitted = settings.near, settings.far
        try:  # the files first: a render that cannot be written shows nothing and keeps the last one
            folder = None if folder is None else str(check_writable_dir(folder))
            engine = settings.engine if self.engine == "settings" else self.engine
            result = api.render_depth(scene, engine=engine, radial=settings.radial)
            mapping = depth.scene_mapping(scene, result)
            if folder is not None:
                api.save_depth(result, os.path.join(folder, "depth.exr"), mapping)
                api.save_depth(result, os.path.join(folder, "depth.png"), mapping, bits=int(settings.bits))
            depth.show_model_image(result, mapping, int(settings.bits))
            found = depth.clipped(result, mapping, f"camera {result.meta['camera_name']!r} frame {scene.frame_current}")
        except DepthAddonError as exc:
            settings.near, settings.far = fitted  # a cancelled operator pushes no undo step to take them back
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        where = f", files in {folder}" if folder else ""
        metres = depth.scaled_mapping(mapping, result.unit_scale)
        self.report({"INFO"}, f"Depth {result.camera.width}×{result.camera.height} via {result.engine} "
                              f"in {result.seconds * 1000:.0f} ms, range {metres.near:.3g}–{metres.far:.3g} m{where}")
        if found is not None:
            self.report({"WARNING"}, depth.clipping_warning([found], 1, metres, CLIPPED_HINT))
        for warning in result.meta.get("warnings", ()):
            self.report({"WARNING"}, warning)
        return {"FINISHED"}


class DEPTH_OT_render_depth_sequence(bpy.types.Operator):
    """Render depth for the scene's frame range and/or every camera with one shared range, into
    depth_<camera>_<frame>.exr/.png files in the output folder (Esc cancels; files written are kept)"""

    bl_idname = ids.RENDER_DEPTH_SEQUENCE
    bl_label = "Render Depth Sequence"
    bl_options = {"UNDO"}  # not offered to Adjust Last Operation, which would run it again frozen (options.py)

    __annotations__ = dict(options.SEQUENCE)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return camera_poll(cls, context)

    def _prepare(self, context: bpy.types.Context) -> None:
        scene = context.scene
        if not (self.write_png or self.write_exr):
            raise BadInput("nothing to write: choose PNG, EXR or both")
        folder = output_dir(context)
        if folder is None:
            raise BadInput("save the file first or set an absolute output folder")
        self.folder = check_writable_dir(folder)
        self.fitted = scene.depth_addon.near, scene.depth_addon.far  # given back when the sequence does not finish
        self.views = depth.scene_views(
            scene, (scene.frame_start, scene.frame_end) if self.frames else None, self.all_cameras)
        self.mapping = depth.sequence_mapping(scene, self.views)
        self.written: list[Path] = []
        self.warnings: list[str] = []  # what the depth renders found, each once
        self.clipped: list[depth.Clipped] = []  # the views whose PNG (or "Depth Map") is clipped, said once at the end
        self.index = 0
        self.frame = scene.frame_current

    def _write(self, scene: bpy.types.Scene, view, result) -> None:
        found = list(result.meta.get("warnings", ()))
        if not result.mask.any():  # a frame that looks away: background, in the range the views share
            found.append(f"camera {view.camera!r} sees no geometry at frame {view.frame}: written as background")
        self.warnings += [w for w in found if w not in self.warnings]
        bits = int(scene.depth_addon.bits)
        for path in self._paths(view):
            self.written.append(api.save_depth(result, path, self.mapping, bits=bits))
        if view == self.views[-1]:
            depth.show_model_image(result, self.mapping, bits)
        found = depth.clipped(result, self.mapping, f"camera {view.camera!r} frame {view.frame}")
        if found is not None and (self.write_png or view == self.views[-1]):  # an EXR holds metres: nothing clipped
            self.clipped.append(found)

    def _paths(self, view) -> list[Path]:
        """The files of one view, EXR first."""
        wanted = [s for s, on in ((".exr", self.write_exr), (".png", self.write_png)) if on]
        return [depth.output_path(self.folder / f"depth_{{camera}}_{{frame:04d}}{s}", view, True) for s in wanted]

    def _step(self, context: bpy.types.Context) -> bool:
        """Render the next view; False when every view is done."""
        scene = context.scene
        view = self.views[self.index]
        if scene.frame_current != view.frame:
            scene.frame_set(view.frame)
        settings = scene.depth_addon
        self._write(scene, view, api.render_depth(scene, view.camera, engine=settings.engine,
                                                  radial=settings.radial))
        self.index += 1
        context.window_manager.progress_update(self.index)
        return self.index < len(self.views)

    def _finish(self, context: bpy.types.Context, cancelled: bool = False, error: Exception | None = None
                ) -> set[str]:
        """End the sequence: frame, timer and progress back; Near/Far back too unless it finished (a cancelled
        operator pushes no undo step to take them back). One report says what was written, kept and why it stopped.
        """
        wm = context.window_manager
        wm.progress_end()
        scene = context.scene
        if scene.frame_current != self.frame:
            scene.frame_set(self.frame)
        if self.timer is not None:
            wm.event_timer_remove(self.timer)
            self.timer = None
        stopped = cancelled or error is not None
        if stopped:
            scene.depth_addon.near, scene.depth_addon.far = self.fitted
        metres = depth.scaled_mapping(self.mapping, depth.unit_scale(scene))
        span = f"range {metres.near:.3g}–{metres.far:.3g} m"
        if error is not None:
            self.report({"ERROR"}, self._failure(error, span))
        else:
            state, back = ("cancelled after", "; Near/Far are as before") if cancelled else ("wrote", "")
            self.report({"WARNING" if cancelled else "INFO"},
                        f"Depth sequence {state} {len(self.written)} files, {span}, in {self.folder}{back}")
        if self.clipped:
            self.report({"WARNING"}, depth.clipping_warning(self.clipped, self.index, metres, CLIPPED_HINT))
        for warning in self.warnings:
            self.report({"WARNING"}, warning)
        return {"CANCELLED" if stopped else "FINISHED"}

    def _failure(self, error: Exception, span: str) -> str:
        """The error of a sequence that failed at view ``self.index``: where, why, and what was kept on disk."""
        view = self.views[self.index]
        kept = (f"the {len(self.written)} files written before it are kept in {self.folder} (written with {span})"
                if self.written else "no file was written")
        written = {p.name for p in self.written}
        stale = [p for v in self.views[self.index:] for p in self._paths(v) if p.is_file() and p.name not in written]
        earlier = (f"; {len(stale)} file{'s' if len(stale) > 1 else ''} of the frames after it there "
                   f"{'are' if len(stale) > 1 else 'is'} from an earlier run") if stale else ""
        return (f"Depth sequence stopped at camera {view.camera!r} frame {view.frame}: {error}; {kept}{earlier}; "
                "Near/Far are as before")

    def execute(self, context: bpy.types.Context) -> set[str]:
        self.timer = None
        try:
            self._prepare(context)
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        context.window_manager.progress_begin(0, len(self.views))
        try:
            while self._guarded_step(context):
                pass
        except DepthAddonError:  # reported with what was kept
            return {"CANCELLED"}
        return self._finish(context)

    def _guarded_step(self, context: bpy.types.Context) -> bool:
        """One view/frame; on any error the sequence is finished as failed (reported) and the error re-raised."""
        try:
            return self._step(context)
        except Exception as exc:
            self._finish(context, error=exc)
            raise

    def invoke(self, context: bpy.types.Context, _event: bpy.types.Event) -> set[str]:
        self.timer = None
        try:
            self._prepare(context)
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        wm.progress_begin(0, len(self.views))
        self.timer = wm.event_timer_add(0.001, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            return self._finish(context, cancelled=True)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            more = self._guarded_step(context)
        except DepthAddonError:  # reported with what was kept
            return {"CANCELLED"}
        return {"RUNNING_MODAL"} if more else self._finish(context)


class DEPTH_OT_toggle_live_preview(bpy.types.Operator):
    """Keep the "Depth Preview" image up to date with the active camera's depth while you work (needs the
    Blender window; open the image in an Image Editor)"""

    bl_idname = ids.TOGGLE_LIVE_PREVIEW
    bl_label = "Live Depth Preview"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:  # switching it off needs no camera
        return context.scene is not None and context.scene.depth_addon.live_preview or camera_poll(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.depth_addon
        settings.live_preview = not settings.live_preview
        if settings.live_preview and bpy.app.background:
            self.report({"WARNING"}, "The live preview only runs with the Blender window open")
        elif settings.live_preview:
            self.report({"INFO"}, f"Live depth preview on: image {depth.PREVIEW_IMAGE!r}")
        return {"FINISHED"}


classes = (DEPTH_OT_render_depth, DEPTH_OT_render_depth_sequence, DEPTH_OT_toggle_live_preview)
