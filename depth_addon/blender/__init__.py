# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place that talks to ``bpy``: rendering depth, building meshes, materials and compositor groups."""
