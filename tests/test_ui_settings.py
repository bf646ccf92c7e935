# SPDX-License-Identifier: GPL-3.0-or-later
"""The settings an artist edits in the Depth tabs and the preferences: each has a tooltip, and lengths and pixel
counts show their unit.

The settings are found by drawing every panel and the preferences page (``ui_harness``), so a setting added to
a panel later is checked too.
"""

from __future__ import annotations

import bpy
from analytic import build
from ui_harness import draw


def _drawn_settings(addon, prefs) -> dict[str, bpy.types.Property]:
    """``Type.name`` → RNA property of every setting the panels and the preferences page draw (a scene with a
    selected mesh, a backend that uses every generation option)."""
    scene = build()
    box = bpy.data.objects["Box"]
    box.select_set(True)
    scene.depth_addon.generator = "diffusers"
    data = {type(d).__name__: d for d in (scene.depth_addon, scene.depth_addon_generate, scene.depth_addon_texture,
                                          scene.depth_addon_sequence, box, prefs)}
    drawn: list[str] = []
    for cls in addon.panels.classes:
        if issubclass(cls, bpy.types.Panel):
            drawn += draw(cls.draw, cls.bl_space_type).props
    drawn += draw(lambda host, context: addon.preferences.draw_preferences(prefs, host.layout, context)).props
    found = {}
    for entry in drawn:
        owner, _, name = entry.partition(".")
        found[entry] = data[owner].bl_rna.properties[name]
    return found


def test_every_setting_has_a_tooltip(addon, prefs) -> None:
    """Hovering any setting of the Depth tabs or the preferences says what it does (a choice's tooltip showed only
    the chosen item, and Device and PyTorch Build had none)."""
    settings = _drawn_settings(addon, prefs)
    assert {"DepthAddonSettings.engine", "DepthAddonGenerateSettings.steps", "Object.depth_addon_prompt",
            "DepthAddonPreferences.device", "DepthAddonPreferences.torch_build"} <= set(settings)
    missing = sorted(name for name, prop in settings.items() if len(prop.description.strip()) < 12)
    missing += sorted(f"{name}:{item.identifier}" for name, prop in settings.items() if prop.type == "ENUM"
                      for item in prop.enum_items if len(item.description.strip()) < 8)
    assert not missing, f"settings without a tooltip: {missing}"


def test_lengths_and_pixel_counts_show_their_unit(addon, prefs) -> None:
    """Distances show the scene's length unit and sizes in pixels show px."""
    settings = _drawn_settings(addon, prefs)
    for name in ("DepthAddonSettings.near", "DepthAddonSettings.far", "DepthAddonSettings.comp_focus_distance"):
        assert settings[name].unit == "LENGTH", name
    assert settings["DepthAddonSettings.preview_size"].subtype == "PIXEL"
    assert settings["DepthAddonTextureSettings.view_size"].subtype == "PIXEL"


def test_every_operator_option_has_a_tooltip(addon) -> None:
    """The options of each operator, shown in its Adjust Last Operation panel or dialog, say what they do (a third
    of them had no tooltip, or only the chosen item's)."""
    missing = []
    for cls in addon.operators.classes:
        prefix, _, name = cls.bl_idname.partition(".")
        for prop in getattr(getattr(bpy.ops, prefix), name).get_rna_type().properties:
            if prop.identifier != "rna_type" and not prop.is_hidden and len(prop.description.strip()) < 12:
                missing.append(f"{cls.bl_idname}.{prop.identifier}")
            if prop.type == "ENUM" and not prop.is_hidden:  # each choice says what it does when hovered in the list
                missing += [f"{cls.bl_idname}.{prop.identifier}:{item.identifier}" for item in prop.enum_items
                            if len(item.description.strip()) < 8]
    assert not missing, f"operator options without a tooltip: {missing}"
