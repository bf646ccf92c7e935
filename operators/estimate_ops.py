# SPDX-License-Identifier: GPL-3.0-or-later
"""Photo import: ``depth.import_photo_as_mesh`` estimates a photo's depth with local weights in the worker (where
PyTorch is), aligns it to metres and imports it as a camera-correct mesh coloured by the photo.

The weights folder is the operator's own Model Folder, else Preferences › Depth Estimator, else
``$DEPTH_ADDON_DEPTH_MODEL`` or ``~/depth_addon_models/Depth-Anything-V2-Small-hf``. Without weights there the
sidebar says what to download and where to put it, and so does the operator when it runs (a script may name its
own Model Folder, so the weights do not disable it); nothing else depends on the weights.
"""

import os

import bpy
from bpy_extras.io_utils import ImportHelper

from ..depth_addon.app import setup
from ..depth_addon.app.depth import unit_scale
from ..depth_addon.app.estimate import import_photo_flow, weights_problem
from ..depth_addon.app.jobs import QUEUE, Job
from ..depth_addon.errors import ModelUnavailable
from ..depth_addon.estimation.estimator import default_folder
from . import ids
from .follow import FollowJobs
from .import_ops import known_points

_ALIGN = [
    ("none", "None", "Metric models as given; relative ones spread between Near and Far"),
    ("scene", "Scene", "Fit to the scene's own depth seen from the active camera"),
    ("points", "Known Points", "Fit to pixels of known distance"),
    ("ground", "Ground Plane", "Fit to the ground seen by a level camera of known focal length and height"),
]


class DEPTH_OT_import_photo_as_mesh(FollowJobs, bpy.types.Operator, ImportHelper):
    """Estimate a photo's depth with a local Depth Anything V2 model in the background worker, align it to metres
    and import it as a mesh with a matching camera. Blender stays usable meanwhile; Esc cancels"""

    bl_idname = ids.IMPORT_PHOTO_AS_MESH
    bl_label = "Import Photo as Mesh"
    bl_options = {"UNDO"}  # a job: not offered to Adjust Last Operation (see depth_addon/blender/options.py)

    filter_glob: bpy.props.StringProperty(default="*.png;*.jpg;*.jpeg;*.tif;*.tiff;*.bmp;*.webp",
                                          options={"HIDDEN"})
    model_dir: bpy.props.StringProperty(name="Model Folder", subtype="DIR_PATH",
                                        description="Folder with config.json and .safetensors (empty: the one set in "
                                                    "the preferences, else the default)")
    align: bpy.props.EnumProperty(name="Align", items=_ALIGN, default="none",
                                  description="How the estimated depth is scaled to metres")
    known: bpy.props.StringProperty(name="Known Points",
                                    description="'row col metres' triples separated by ';' (Known Points)")
    focal_px: bpy.props.FloatProperty(name="Focal Length (px)", default=0.0, min=0.0,
                                      description="Ground Plane: the photo's focal length in pixels (0: not known)")
    height: bpy.props.FloatProperty(name="Camera Height", default=1.5, min=0.0, unit="LENGTH",
                                    description="Ground Plane: height of the camera above the ground")
    near: bpy.props.FloatProperty(name="Near", default=1.0, min=0.001, unit="LENGTH",
                                  description="Align None: nearest distance a relative estimate is spread from")
    far: bpy.props.FloatProperty(name="Far", default=10.0, min=0.002, unit="LENGTH",
                                 description="Align None: farthest distance a relative estimate is spread to")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None:
            cls.poll_message_set("No scene to import into")
            return False
        problem = setup.estimator_torch_problem()  # weights: the run's own Model Folder may name them
        if problem:
            cls.poll_message_set(problem)
            return False
        return True

    def align_options(self, unit: float = 1.0) -> dict:
        """Keywords of ``align_estimate`` for these settings (known points are ``row col metres``, as in
        Import Depth Map; lengths typed here are in scene units, ``unit`` metres each)."""
        points = [(col, row, metres) for row, col, metres in known_points(self.known)]
        return {"points": points, "focal_px": self.focal_px or None, "height": self.height * unit,
                "near": self.near * unit, "far": self.far * unit}

    def make_jobs(self, context: bpy.types.Context) -> list[Job]:
        """One job: the photo's depth estimated in the worker, then aligned and imported on the main thread."""
        model = setup.depth_model_dir(context, self.model_dir) or str(default_folder())  # the worker uses this one
        problem = weights_problem(model)
        if problem:
            raise ModelUnavailable(problem)
        prefs = setup.addon_prefs(context)
        flow = import_photo_flow(self.filepath, model, self.align, scene=context.scene,
                                 align=self.align_options(unit_scale(context.scene)),
                                 device=prefs.device if prefs is not None else "cpu")
        return [QUEUE.submit(Job(context.scene.name, flow, {}, label=os.path.basename(self.filepath),
                                 describe=lambda done: done.summary))]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Open the file browser; choosing a photo runs :meth:`execute`."""
        return ImportHelper.invoke(self, context, event)

    def execute(self, context: bpy.types.Context) -> set[str]:
        """From the file browser: queue the job and follow it modally. From a script: queue it and wait."""
        if self.options.is_invoke and context.window is not None:
            return FollowJobs.invoke(self, context, None)
        return FollowJobs.execute(self, context)


classes = (DEPTH_OT_import_photo_as_mesh,)
