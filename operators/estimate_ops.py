# SPDX-License-Identifier: GPL-3.0-or-later
"""Photo import: ``depth.import_photo_as_mesh`` estimates a photo's depth with local weights, aligns it to metres
and imports it as a camera-correct mesh coloured by the photo.

The weights folder is the operator's own Model Folder, else Preferences › Depth Estimator, else
``$DEPTH_ADDON_DEPTH_MODEL`` or ``~/depth_addon_models/Depth-Anything-V2-Small-hf``. Without weights there the
operator is disabled and its poll message says what to download and where to put it; nothing else depends on
the weights.
"""

import os
import traceback

import bpy
from bpy_extras.io_utils import ImportHelper

from ..depth_addon.app import setup
from ..depth_addon.app.estimate import import_photo, weights_problem
from ..depth_addon.errors import DepthAddonError
from . import ids
from .import_ops import known_points

_ALIGN = [
    ("none", "None", "Metric models as given; relative ones spread between Near and Far"),
    ("scene", "Scene", "Fit to the scene's own depth seen from the active camera"),
    ("points", "Known Points", "Fit to pixels of known distance"),
    ("ground", "Ground Plane", "Fit to the ground seen by a level camera of known focal length and height"),
]


class DEPTH_OT_import_photo_as_mesh(bpy.types.Operator, ImportHelper):
    """Estimate a photo's depth with a local Depth Anything V2 model, align it to metres and import it as a mesh
    with a matching camera"""

    bl_idname = ids.IMPORT_PHOTO_AS_MESH
    bl_label = "Import Photo as Mesh"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default="*.png;*.jpg;*.jpeg;*.tif;*.tiff;*.bmp;*.webp",
                                          options={"HIDDEN"})
    model_dir: bpy.props.StringProperty(name="Model Folder", subtype="DIR_PATH",
                                        description="Folder with config.json and .safetensors (empty: the default)")
    align: bpy.props.EnumProperty(name="Align", items=_ALIGN, default="none")
    known: bpy.props.StringProperty(name="Known Points",
                                    description="'row col metres' triples separated by ';' (Known Points)")
    focal_px: bpy.props.FloatProperty(name="Focal Length (px)", default=0.0, min=0.0)
    height: bpy.props.FloatProperty(name="Camera Height", default=1.5, min=0.0, unit="LENGTH")
    near: bpy.props.FloatProperty(name="Near", default=1.0, min=0.001, unit="LENGTH")
    far: bpy.props.FloatProperty(name="Far", default=10.0, min=0.002, unit="LENGTH")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None:
            cls.poll_message_set("No scene to import into")
            return False
        problem = weights_problem(setup.depth_model_dir(context))
        if problem:
            cls.poll_message_set(f"{problem}, then choose it in Preferences › Add-ons › Depth Addon › Depth Estimator")
            return False
        return True

    def align_options(self) -> dict:
        """Keywords of ``align_estimate`` for these settings (known points are ``row col metres``, as in
        Import Depth Map)."""
        points = [(col, row, metres) for row, col, metres in known_points(self.known)]
        return {"points": points, "focal_px": self.focal_px or None, "height": self.height,
                "near": self.near, "far": self.far}

    def execute(self, context: bpy.types.Context) -> set[str]:
        model = setup.depth_model_dir(context, self.model_dir)
        problem = weights_problem(model)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        try:
            result, depth = import_photo(self.filepath, model, self.align, scene=context.scene,
                                         align=self.align_options())
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # a bug, not bad input: the traceback goes to the console
            traceback.print_exc()
            self.report({"ERROR"}, f"Photo import of {os.path.basename(self.filepath)} failed: "
                                   f"{type(exc).__name__}: {exc} (traceback in the system console)")
            return {"CANCELLED"}
        for message in result.warnings:
            self.report({"WARNING"}, message)
        self.report({"INFO"}, f"Imported {result.object.name} ({depth.estimate.kind}, aligned by "
                              f"{depth.alignment.method})")
        return {"FINISHED"}


classes = (DEPTH_OT_import_photo_as_mesh,)
