# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth-map import: ``depth.import_depth_map`` (file browser), a file handler for drag and drop into the 3D
View and a File → Import menu entry (:func:`register_extras`).

The operator's options match the ``import-depth`` command line (known points, range normalisation, colour
size policy, denoise radius); stereo disparity needs its focal length given as Intrinsics ``fx``.
"""

import os
import re
import traceback

import bpy
from bpy_extras.io_utils import ImportHelper

from ..depth_addon.app.depth import unit_scale
from ..depth_addon.app.importing import import_depth_map
from ..depth_addon.depth_import.intrinsics import DEFAULT_FOV_DEG
from ..depth_addon.errors import BadInput, DepthAddonError
from . import ids

EXTENSIONS = ".exr;.pfm;.npy;.npz;.tif;.tiff;.png"

_VALUES = [
    ("depth", "Metric Depth", "Distances along the camera axis (times Scale, plus Shift)"),
    ("inverse", "Inverse Depth", "Relative inverse depth from monocular estimators (affine-invariant disparity)"),
    ("disparity", "Stereo Disparity", "Disparity in pixels: depth = focal · baseline / (disparity + doffs)"),
]
_MISMATCH = [
    ("resize", "Use", "Use a colour image of another size at its own resolution (the UVs span it whole; "
     "guided denoising reads a copy at the depth's size)"),
    ("refuse", "Refuse", "Refuse a colour image whose size differs from the depth's"),
]
_CAMERA = [
    ("FOV", "Field of View", "Horizontal field of view, centred principal point"),
    ("LENS", "Focal Length", "Focal length and sensor size in millimetres"),
    ("PIXELS", "Intrinsics", "fx, fy, cx, cy in pixels (0 = left/top edge of the first pixel)"),
    ("ORTHO", "Orthographic", "Parallel rays: the view's width (an orthographic camera's Orthographic Scale)"),
]


def known_points(text: str) -> tuple[tuple[float, float, float], ...]:
    """Parse the Known Points field: ``row col metres`` triples separated by ``;`` (commas allowed).

    :param text: E.g. ``"10 20 2.5; 40 60 4"``; empty for none.
    :raises BadInput: When a group is not three numbers.
    """
    points = []
    for group in filter(None, (g.strip() for g in text.split(";"))):
        parts = [p for p in re.split(r"[\s,]+", group) if p]
        try:
            if len(parts) != 3:
                raise ValueError
            points.append(tuple(float(p) for p in parts))
        except ValueError:
            raise BadInput(f"known point {group!r} is not 'row col metres' (three numbers; separate points "
                           "with ';')") from None
    return tuple(points)


class DEPTH_OT_import_depth_map(bpy.types.Operator, ImportHelper):
    """Import a depth map as a reconstructed mesh (or displaced plane) with a camera that sees it exactly as the
    image, optionally coloured by a photo"""

    bl_idname = ids.IMPORT_DEPTH_MAP
    bl_label = "Import Depth Map"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filter_glob: bpy.props.StringProperty(default=";".join("*" + e for e in EXTENSIONS.split(";")),
                                          options={"HIDDEN"})
    directory: bpy.props.StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE", "HIDDEN"})
    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement, options={"SKIP_SAVE", "HIDDEN"})

    color_path: bpy.props.StringProperty(name="Colour Image", subtype="FILE_PATH",
                                         description="Photo for the material")
    color_mismatch: bpy.props.EnumProperty(name="Other Size", items=_MISMATCH, default="resize",
                                           description="What to do when the colour image's size differs")
    channel: bpy.props.StringProperty(name="Channel", description="EXR channel, R/G/B/A, NPZ array or NPY index "
                                      "(empty: automatic)")
    values: bpy.props.EnumProperty(name="Values", items=_VALUES, default="depth",
                                   description="What the numbers in the file are")
    scale: bpy.props.FloatProperty(name="Scale", default=1.0, description="Factor on the raw values")
    shift: bpy.props.FloatProperty(name="Shift", default=0.0, description="Offset after the scale")
    use_affine: bpy.props.BoolProperty(name="Given Scale/Shift", default=False,
                                       description="Inverse depth: use Scale and Shift instead of Near/Far")
    normalise_values: bpy.props.BoolProperty(name="Normalise Integers", default=False,
                                             description="Divide 8/16-bit values by their maximum first")
    known: bpy.props.StringProperty(name="Known Points", description="Inverse depth: fit scale and shift to "
                                    "known distances, 'row col metres' separated by ';' (pixel indices, row 0 = top)")
    near: bpy.props.FloatProperty(name="Near", default=1.0, min=1e-4, unit="LENGTH",
                                  description="Inverse depth: distance of the nearest pixel")
    far: bpy.props.FloatProperty(name="Far", default=10.0, min=1e-3, unit="LENGTH",
                                 description="Inverse depth: distance of the farthest pixel")
    baseline: bpy.props.FloatProperty(name="Baseline", default=0.0, min=0.0, unit="LENGTH",
                                      description="Stereo baseline (0: not set)")
    doffs: bpy.props.FloatProperty(name="doffs", default=0.0, description="Principal-point x-offset (px)")

    camera: bpy.props.EnumProperty(name="Camera", items=_CAMERA, default="FOV",
                                   description="How the camera that saw the depth is described")
    from_file: bpy.props.BoolProperty(
        name="As Recorded", default=True,
        description="Depth files this add-on wrote record their camera and, in a PNG, the mapping of its values: "
                    "use them instead of the settings below (other files are read with the settings)")
    fov: bpy.props.FloatProperty(name="Field of View", default=DEFAULT_FOV_DEG, min=1.0, max=170.0,
                                description="Horizontal field of view in degrees")
    focal_mm: bpy.props.FloatProperty(name="Focal Length", default=50.0, min=1.0, subtype="DISTANCE_CAMERA",
                                     description="Focal length of the lens in millimetres")
    sensor_mm: bpy.props.FloatProperty(name="Sensor", default=36.0, min=1.0, subtype="DISTANCE_CAMERA",
                                      description="Sensor size in millimetres, along the side Sensor Fit says")
    sensor_fit: bpy.props.EnumProperty(
        name="Sensor Fit", default="AUTO", description="Which image side the sensor spans, as a camera's Sensor Fit",
        items=[("AUTO", "Auto", "The larger side of the image"), ("HORIZONTAL", "Horizontal", "The image's width"),
               ("VERTICAL", "Vertical", "The image's height")])
    fx: bpy.props.FloatProperty(name="fx", default=0.0, min=0.0,
                                description="Focal length in pixels (required; stereo disparity needs it)")
    fy: bpy.props.FloatProperty(name="fy", default=0.0, min=0.0, description="0: same as fx")
    ortho_width: bpy.props.FloatProperty(name="Width", default=10.0, min=1e-4, unit="LENGTH",
                                         description="Width of the orthographic view")
    use_principal: bpy.props.BoolProperty(name="Principal Point", default=False,
                                          description="Give the principal point instead of the image centre")
    cx: bpy.props.FloatProperty(name="cx", default=0.0, description="Principal point in pixels from the left edge")
    cy: bpy.props.FloatProperty(name="cy", default=0.0, description="Principal point in pixels from the top edge")

    mode: bpy.props.EnumProperty(name="Mode", default="reconstruct", description="What the depth becomes", items=[
        ("reconstruct", "Reconstruct", "Perspective unprojection into one mesh"),
        ("displace", "Displace", "Relief: a plane moved by the depth (Displace modifier or material displacement)")])
    displace_method: bpy.props.EnumProperty(name="Method", default="modifier", description="How the plane is moved",
                                            items=[
        ("modifier", "Modifier", "Displace modifier on a plane with a vertex per pixel: exact, shown everywhere"),
        ("material", "Material", "Material displacement on a coarse plane with a Subdivision modifier "
                                 "(adaptive where available): light, full detail at render time")])
    use_normalise_range: bpy.props.BoolProperty(name="Normalise Range", default=False,
                                                description="Map the valid depth linearly onto Near–Far")
    range_near: bpy.props.FloatProperty(name="Near", default=1.0, min=1e-4, unit="LENGTH",
                                        description="Where the nearest valid depth goes")
    range_far: bpy.props.FloatProperty(name="Far", default=10.0, min=1e-3, unit="LENGTH",
                                       description="Where the farthest valid depth goes")
    use_clip: bpy.props.BoolProperty(name="Clip Outliers", default=False,
                                     description="Clamp depth to percentiles (flying pixels, sensor spikes)")
    clip_low: bpy.props.FloatProperty(name="Low %", default=1.0, min=0.0, max=100.0,
                                      description="Depth below this percentile is raised to it")
    clip_high: bpy.props.FloatProperty(name="High %", default=99.0, min=0.0, max=100.0,
                                       description="Depth above this percentile is lowered to it")
    fill_holes: bpy.props.BoolProperty(name="Fill Holes", default=False,
                                       description="Inpaint invalid pixels (the background a file marks as seeing "
                                                   "nothing stays empty)")
    max_hole: bpy.props.IntProperty(name="Largest Hole", default=0, min=0, description="Pixels; 0: all")
    denoise: bpy.props.EnumProperty(name="Denoise", default="none", description="Smooth the depth before the mesh is "
                                    "made", items=[
        ("none", "None", "The depth as read"), ("bilateral", "Bilateral", "Edge-preserving"),
        ("guided", "Guided", "Guided by the colour image")])
    denoise_sigma: bpy.props.FloatProperty(name="Strength", default=0.03, min=1e-4,
                                           description="Depth steps smaller than this part of the depth are smoothed "
                                                       "away, larger ones kept as edges")
    denoise_radius: bpy.props.IntProperty(name="Radius", default=3, min=1, max=64, subtype="PIXEL",
                                          description="Pixels around each pixel that are smoothed together")
    downsample: bpy.props.IntProperty(name="Downsample", default=1, min=1, max=64,
                                      description="Pixels per vertex along each side (1: a vertex per pixel)")
    use_tear: bpy.props.BoolProperty(name="Tear at Jumps", default=True,
                                     description="Leave out faces across depth jumps instead of stretching them")
    tear_ratio: bpy.props.FloatProperty(name="Ratio", default=1.1, min=1.001,
                                        description="Largest depth ratio across a face that is kept")
    shading: bpy.props.EnumProperty(name="Shading", default="PRINCIPLED", description="The mesh's material", items=[
        ("PRINCIPLED", "Principled", "A Principled BSDF with the photo as base colour, lit by the scene"),
        ("EMISSION", "Shadeless", "Emission: the photo's colours exactly")])
    set_camera: bpy.props.BoolProperty(name="Make Active Camera", default=True,
                                       description="Render the scene through the imported camera")
    set_resolution: bpy.props.BoolProperty(name="Set Resolution", default=True,
                                           description="Set the render size so the camera frames the image")
    pack: bpy.props.BoolProperty(name="Pack Images", default=True, description="Keep the images in the .blend")
    preview: bpy.props.BoolProperty(name="Preview Steps", default=False,
                                    description="Keep each clean-up step as an image (normalised inverse depth)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None:
            cls.poll_message_set("No scene to import into")
            return False
        return True

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self.invoke_popup(context)  # a dropped file gets the options dialog, else the file browser

    def _paths(self) -> list[str]:
        if self.directory and len(self.files) > 0 and self.files[0].name:
            return [os.path.join(self.directory, f.name) for f in self.files]
        return [self.filepath]

    def camera_problem(self) -> str | None:
        """Why the camera settings cannot be used, or None: disparity needs a focal length given in pixels."""
        if self.values == "disparity" and (self.camera != "PIXELS" or self.fx <= 0):
            return ("Stereo disparity needs the focal length in pixels: set Camera to Intrinsics and enter fx "
                    "(from the stereo calibration)")
        if self.camera == "PIXELS" and self.fx <= 0:
            return "Camera Intrinsics needs fx, the focal length in pixels"
        return None

    def import_options(self, unit: float = 1.0) -> dict:
        """The import options these properties describe (flat keywords of ``ImportOptions``); lengths typed here
        are in scene units, ``unit`` metres each.

        :raises BadInput: For unusable settings (see :meth:`camera_problem`, malformed known points).
        """
        problem = self.camera_problem()
        if problem:
            raise BadInput(problem)
        opts = {"values": self.values, "channel": self.channel or None, "normalise": self.normalise_values,
                "near": self.near * unit, "far": self.far * unit, "doffs": self.doffs, "mode": self.mode,
                "displace_method": self.displace_method, "color_mismatch": self.color_mismatch,
                "baseline": self.baseline * unit or None, "fill_holes": self.fill_holes, "max_hole": self.max_hole,
                "denoise": self.denoise, "denoise_sigma": self.denoise_sigma, "denoise_radius": self.denoise_radius,
                "downsample": self.downsample, "tear_ratio": self.tear_ratio if self.use_tear else None,
                "clip": (self.clip_low, self.clip_high) if self.use_clip else None,
                "normalise_range": ((self.range_near * unit, self.range_far * unit) if self.use_normalise_range
                                    else None),
                "from_file": self.from_file}
        known = known_points(self.known) if self.values == "inverse" else ()
        if known:
            opts["known"] = known
        elif self.values != "inverse" or self.use_affine:
            opts.update(scale=self.scale, shift=self.shift)
        if self.camera == "FOV":
            opts["fov"] = self.fov
        elif self.camera == "LENS":
            opts.update(focal_mm=self.focal_mm, sensor_mm=self.sensor_mm, sensor_fit=self.sensor_fit)
        elif self.camera == "ORTHO":
            opts["ortho_width"] = self.ortho_width * unit
        else:
            opts.update(focal_px=self.fx, fy=self.fy or None)
        if self.use_principal:
            opts.update(cx=self.cx, cy=self.cy)
        return opts

    def execute(self, context: bpy.types.Context) -> set[str]:
        paths = [p for p in self._paths() if p]
        if not paths:
            self.report({"ERROR"}, "No depth file chosen")
            return {"CANCELLED"}
        try:
            options = self.import_options(unit_scale(context.scene))
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        color = bpy.path.abspath(self.color_path) if self.color_path else None
        done, failed = [], []
        for path in paths:  # each file on its own: one that fails leaves nothing, and the others still come in
            try:
                result = import_depth_map(path, color, scene=context.scene, set_scene_camera=self.set_camera,
                                          set_resolution=self.set_resolution, shading=self.shading,
                                          pack=self.pack, preview=self.preview, **options)
            except DepthAddonError as exc:
                failed.append(f"{os.path.basename(path)}: {exc}" if len(paths) > 1 else str(exc))
                continue
            except Exception as exc:  # a bug, not bad input: the traceback goes to the console, nothing is left
                traceback.print_exc()
                failed.append(f"depth import of {os.path.basename(path)} failed: {type(exc).__name__}: {exc} "
                              "(traceback in the system console)")
                continue
            for message in result.warnings:
                self.report({"WARNING"}, message)
            done.append(result)
        if not done:
            self.report({"ERROR"}, "; ".join(failed))
            return {"CANCELLED"}
        for message in failed:
            self.report({"WARNING"}, f"Not imported: {message}")
        last = done[-1]
        self.report({"INFO"}, f"Imported {len(done)} of {len(paths)} depth map(s); {last.object.name}: "
                              f"{len(last.object.data.polygons)} faces in {sum(last.timings.values()):.2f} s")
        return {"FINISHED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "mode")
        if self.mode == "displace":
            layout.prop(self, "displace_method")
        layout.prop(self, "color_path")
        if self.color_path:
            layout.prop(self, "color_mismatch")
        layout.prop(self, "channel")
        layout.prop(self, "from_file")
        col = layout.column(heading="Values")
        col.prop(self, "values", text="")
        if self.values == "inverse":
            col.prop(self, "known")
            if not self.known.strip():
                col.prop(self, "use_affine")
                if not self.use_affine:
                    col.prop(self, "near")
                    col.prop(self, "far")
        if self.values != "inverse" or (self.use_affine and not self.known.strip()):
            col.prop(self, "scale")
            col.prop(self, "shift")
        if self.values == "disparity":
            col.prop(self, "baseline")
            col.prop(self, "doffs")
        col.prop(self, "normalise_values")
        col = layout.column(heading="Camera")
        col.prop(self, "camera", text="")
        props = {"FOV": ("fov",), "LENS": ("focal_mm", "sensor_mm", "sensor_fit"), "PIXELS": ("fx", "fy"),
                 "ORTHO": ("ortho_width",)}[self.camera]
        for name in props:
            col.prop(self, name)
        col.prop(self, "use_principal")
        if self.use_principal:
            col.prop(self, "cx")
            col.prop(self, "cy")
        problem = self.camera_problem()
        if problem:
            col.label(text=problem.split(":")[0], icon="ERROR")
        col = layout.column(heading="Clean-up")
        shown = {"use_normalise_range": ("range_near", "range_far"), "use_clip": ("clip_low", "clip_high"),
                 "fill_holes": ("max_hole",), "use_tear": ("tear_ratio",)}
        for name in shown:
            col.prop(self, name)
            for sub in shown[name] if getattr(self, name) else ():
                col.prop(self, sub)
        col.prop(self, "denoise")
        if self.denoise != "none":
            col.prop(self, "denoise_sigma")
            col.prop(self, "denoise_radius")
        col.prop(self, "downsample")
        col.prop(self, "preview")
        col = layout.column(heading="Scene")
        for name in ("shading", "set_camera", "set_resolution", "pack"):
            col.prop(self, name)


class DEPTH_FH_depth_map(bpy.types.FileHandler):
    """Drop depth maps (EXR, PFM, NPY/NPZ, TIFF, PNG) into the 3D View to import them as a mesh with a camera"""

    bl_idname = "DEPTH_FH_depth_map"
    bl_label = "Depth Map"
    bl_import_operator = "depth.import_depth_map"
    bl_file_extensions = EXTENSIONS

    @classmethod
    def poll_drop(cls, context: bpy.types.Context) -> bool:
        return context.area is not None and context.area.type == "VIEW_3D"


def menu_import(self, context: bpy.types.Context) -> None:
    """File → Import entry."""
    self.layout.operator(DEPTH_OT_import_depth_map.bl_idname, text="Depth Map (.exr, .pfm, .npy, .png, .tif)")


classes = (DEPTH_OT_import_depth_map,)
#: Registered beside the operators but not one of them (their ids are not ``depth.*``).
handlers = (DEPTH_FH_depth_map,)


def register_extras() -> None:
    """Register the drag-and-drop file handler and the File → Import menu entry (after ``classes``)."""
    for cls in handlers:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)


def unregister_extras() -> None:
    """Undo :func:`register_extras` (before unregistering ``classes``)."""
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    for cls in reversed(handlers):
        if cls.is_registered:
            bpy.utils.unregister_class(cls)
