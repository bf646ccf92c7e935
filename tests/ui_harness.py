# SPDX-License-Identifier: GPL-3.0-or-later
"""Drawing panels headless against a real ``UILayout`` and a real area/region context.

Blender creates panel layouts only while it draws a region, which never happens without a window
on screen. The layout of a popup menu is real, though: ``WindowManager.popmenu_begin__internal``
returns one without drawing anything. Ending that popup needs a window event state that
background mode does not have (it crashes), so the popup is never ended: each draw leaves a few
kilobytes that Blender lists as unfreed blocks at exit.

:class:`CheckedLayout` wraps the real layout and checks what Blender itself would only print a
warning for: that every property drawn exists on its data and every operator is registered.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import bpy

SUBLAYOUTS = frozenset({"row", "column", "box", "split", "grid_flow", "column_flow"})
PROP_CALLS = frozenset({"prop", "prop_search", "prop_enum", "prop_menu_enum", "prop_tabs_enum", "props_enum"})
OPERATOR_CALLS = frozenset({"operator", "operator_menu_enum"})


def operator_registered(idname: str) -> bool:
    """Whether ``bpy.ops.<prefix>.<name>`` is registered (``hasattr`` is always true).

    :param idname: ``prefix.name``.
    """
    prefix, _, name = idname.partition(".")
    return name in dir(getattr(bpy.ops, prefix))


class CheckedLayout:
    """A real ``UILayout`` that records what is drawn and notes missing properties and operators.

    :param real: The layout to draw into.
    :param log: Shared record: ``problems``, ``props``, ``operators`` and ``labels`` lists.
    """

    def __init__(self, real: bpy.types.UILayout, log: SimpleNamespace) -> None:
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_log", log)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._real, name, value)

    def __getattr__(self, name: str):
        attr = getattr(self._real, name)
        log = self._log
        if name in SUBLAYOUTS:
            return lambda *a, **k: CheckedLayout(attr(*a, **k), log)
        if name in PROP_CALLS:
            def prop(data, prop_name: str, *a, **k):
                if prop_name not in data.bl_rna.properties:
                    log.problems.append(f"{type(data).__name__} has no property {prop_name!r}")
                log.props.append(f"{type(data).__name__}.{prop_name}")
                return attr(data, prop_name, *a, **k)
            return prop
        if name in OPERATOR_CALLS:
            def operator(idname: str, *a, **k):
                if not operator_registered(idname):
                    log.problems.append(f"operator {idname} is not registered")
                log.operators.append(idname)
                props = attr(idname, *a, **k)
                log.buttons.append((idname, props))  # read after the draw: what the button runs with
                return props
            return operator
        if name == "label":
            def label(*a, **k):
                log.labels.append(k.get("text", a[0] if a else ""))
                return attr(*a, **k)
            return label
        return attr


def new_log() -> SimpleNamespace:
    """An empty draw record (``buttons``: each operator button's idname and the properties it runs with)."""
    return SimpleNamespace(problems=[], props=[], operators=[], labels=[], buttons=[])


def area_context(space_type: str) -> dict:
    """``temp_override`` arguments for an area of ``space_type`` and its sidebar (an area is converted
    when the screen has none of that type).

    :param space_type: ``'VIEW_3D'``, ``'IMAGE_EDITOR'``, …
    """
    context = bpy.context
    areas = list(context.screen.areas)
    area = next((a for a in areas if a.type == space_type), None)
    if area is None:
        area = next(a for a in areas if a.type not in ("VIEW_3D", "PROPERTIES"))
        area.type = space_type
    region = next(r for r in area.regions if r.type == "UI")
    return {"window": context.window, "area": area, "region": region, "space_data": area.spaces.active}


def draw(draw_fn, space_type: str = "VIEW_3D", host: object | None = None) -> SimpleNamespace:
    """Call ``draw_fn(host, context)`` with a real layout and the sidebar of a ``space_type`` area.

    :param draw_fn: A panel's ``draw`` (or any function taking ``(self, context)``).
    :param space_type: Editor whose sidebar the draw happens in.
    :param host: Object passed as ``self``; its ``layout`` is set (a namespace is made when None).
    :return: The draw record.
    """
    log = new_log()
    with bpy.context.temp_override(**area_context(space_type)):
        menu = bpy.context.window_manager.popmenu_begin__internal("test", icon="NONE")
        layout = CheckedLayout(menu.layout, log)
        host = host if host is not None else SimpleNamespace()
        host.layout = layout
        draw_fn(host, bpy.context)
    return log


# --- fixture bodies shared by the UI and preferences tests ----------------------------------------------
# conftest.py wraps them as the ``prefs`` and ``worker_plugins`` fixtures.

TESTS_DIR = Path(__file__).resolve().parent


def prefs_entry(addon):
    """The add-on's preferences, through a temporary add-on entry (the test session registers the add-on
    without ``addon_utils``, so Blender has no entry for it); removed afterwards."""
    addons = bpy.context.preferences.addons
    entry = addons.get(addon.preferences.ADDON_ID)
    made = entry is None
    if made:
        entry = addons.new()
        entry.module = addon.preferences.ADDON_ID
    yield entry.preferences
    if made:
        addons.remove(entry)


def with_test_generators(addon, monkeypatch):
    """Make the add-on's worker also load the numpy-only test generators of ``worker_generators.py``."""
    from depth_addon.worker.config import WorkerConfig

    original = addon.depth_addon.app.setup.worker_config

    def config(context=None):
        base = original(context)
        return WorkerConfig(python=base.python, paths=(*base.paths, str(TESTS_DIR)), env=base.env,
                            args=("--generators", "worker_generators"))

    monkeypatch.setattr(addon.depth_addon.app.setup, "worker_config", config)
    yield config
