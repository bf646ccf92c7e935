# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``bl_idname`` of every operator: the operators define themselves with these, the panels and menus draw them.

Plain strings only (no bpy), so drawing code can import them without importing the operators.
"""

RENDER_DEPTH = "depth.render_depth"
RENDER_DEPTH_SEQUENCE = "depth.render_depth_sequence"
TOGGLE_LIVE_PREVIEW = "depth.toggle_live_preview"
IMPORT_DEPTH_MAP = "depth.import_depth_map"
IMPORT_PHOTO_AS_MESH = "depth.import_photo_as_mesh"
GENERATE = "depth.generate"
CANCEL_JOB = "depth.cancel_job"
RELEASE_MODEL = "depth.release_model"
INSTALL_TORCH = "depth.install_torch"
HEALTH_CHECK = "depth.health_check"
PROJECT_IMAGE = "depth.project_image"
TEXTURE_MULTIVIEW = "depth.texture_multiview"
BAKE_TEXTURES = "depth.bake_textures"
SETUP_COMPOSITOR = "depth.setup_compositor"
REMOVE_RESULT = "depth.remove_result"
REGENERATE = "depth.regenerate"

#: The Render › Depth menu (and so F3 search), in sections.
MENU_SECTIONS = (
    (RENDER_DEPTH, RENDER_DEPTH_SEQUENCE, TOGGLE_LIVE_PREVIEW, IMPORT_DEPTH_MAP, IMPORT_PHOTO_AS_MESH),
    (GENERATE, CANCEL_JOB, RELEASE_MODEL),
    (TEXTURE_MULTIVIEW, PROJECT_IMAGE, REGENERATE, BAKE_TEXTURES, SETUP_COMPOSITOR, REMOVE_RESULT),
    (INSTALL_TORCH, HEALTH_CHECK),
)
