# SPDX-License-Identifier: GPL-3.0-or-later
"""File input/output for depth maps and images (no bpy): atomic writes, PNG with metadata, EXR."""
