# SPDX-License-Identifier: GPL-3.0-or-later
"""The bridge: bpy primitives, split by job. It never imports the use cases (``app``), the CLI or ``api``.

* :mod:`.depth` renders depth out of a scene (GPU, Workbench, Cycles) and fits its range;
* :mod:`.mesh` builds camera-correct meshes from imported depth;
* :mod:`.writeback` puts images back: projection materials, UV bakes, multi-view fusion, provenance;
* :mod:`.compositor` owns our compositor node group;
* :mod:`.compat` is the only package that checks the Blender version; :mod:`.props` holds every
  PropertyGroup; :mod:`.images`, :mod:`.camera`, :mod:`.render_state`, :mod:`.final_render` and
  :mod:`.demo_scene` are shared helpers.
"""
