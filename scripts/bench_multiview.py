# SPDX-License-Identifier: GPL-3.0-or-later
"""Where multi-view bakes lose detail: the yard scene, one projected view against fused bakes.

The yard: two brick walls (4 m × 3 m boxes), two posts and a ground plane, seen by the scene camera at
512×384. Every result is rendered from the scene camera (Cycles, emission only, so the render shows the
texture and nothing else), and the mean |Laplacian| of luminance over the walls (eroded by two pixels, so
silhouettes do not count) measures the detail. Stages, each against the single projected view:

* ``single_projection`` — the scene camera's image projected (the reference);
* ``single_bake`` — the same single view baked into UVs (resampling alone);
* ``views_N`` — the scene camera's view and N placed views, generated, conditioned and fused (what
  ``texture --views N`` does);
* ``views_N_no_scene_view`` — the N placed views alone (they frame the whole scene);
* ``views_N_no_conditioning`` — without conditioning and harmonisation;
* per view: the detail of the generated image over the walls in that view's own pixels.

Also the agreement of two views where they overlap (median CIELAB ΔE before fusion; also at the coarser view's
footprint, the finer view's image blurred to it; and the floor of both: the same measures when every later view
copies the first view's paint, i.e. what resampling the texture alone gives), and the gradient across
UV seams against the surfaces' interior in each bake's render (:mod:`bench_seams`). The demo scene is
measured the same way over all its objects.
``python scripts/bench_multiview.py [--scene yard demo] [--json out.json]``; ``bench.py --quality`` runs it too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import bpy
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import report_figures, script_args  # noqa: E402
from bench_seams import gradient_ratio, seam_masks  # noqa: E402

from depth_addon import api  # noqa: E402
from depth_addon.app import multiview as app_multiview  # noqa: E402
from depth_addon.blender.demo_scene import build_demo_scene  # noqa: E402
from depth_addon.blender.final_render import render_still  # noqa: E402
from depth_addon.blender.writeback import bake_apply, projection  # noqa: E402
from depth_addon.texturing import conditioning  # noqa: E402
from depth_addon.texturing.conditioning import normals_from_depth  # noqa: E402
from depth_addon.texturing.fusion import View, as_soa, sample_view  # noqa: E402

WALLS = ("Wall A", "Wall B")


def _box(name: str, size: tuple[float, float, float], location: tuple[float, float, float]) -> bpy.types.Object:
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=location)
    obj = bpy.context.active_object
    obj.name = obj.data.name = name
    obj.scale = size
    bpy.ops.object.transform_apply(scale=True)
    return obj


def yard_scene(resolution: tuple[int, int] = (512, 384)) -> bpy.types.Scene:
    """The yard: two walls, two posts and a ground plane, a camera at ``resolution`` looking at them."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    _box("Wall A", (4.0, 0.3, 3.0), (-1.2, 1.0, 1.5))
    wall_b = _box("Wall B", (0.3, 4.0, 3.0), (2.2, -0.6, 1.5))
    wall_b.rotation_euler.z = 0.0
    _box("Post A", (0.25, 0.25, 2.2), (-0.6, -2.2, 1.1))
    _box("Post B", (0.25, 0.25, 2.2), (0.9, -2.6, 1.1))
    bpy.ops.mesh.primitive_plane_add(size=12.0, location=(0, 0, 0))
    bpy.context.active_object.name = "Ground"
    cam_data = bpy.data.cameras.new("Yard Camera")
    cam = bpy.data.objects.new("Yard Camera", cam_data)
    scene.collection.objects.link(cam)
    cam.location = (-6.5, -8.0, 3.2)
    direction = np.array([0.3, 0.0, 1.2]) - np.array(cam.location)
    cam.rotation_euler = _look(direction)
    scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    return scene


def _look(direction: np.ndarray):
    from mathutils import Vector

    return Vector(direction.tolist()).to_track_quat("-Z", "Y").to_euler()


def demo_scene(resolution: tuple[int, int] = (512, 384)) -> bpy.types.Scene:
    """The demo set (``make demo``'s scene) at ``resolution``."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return build_demo_scene(bpy.context.scene, resolution)


#: Scene name → (builder, objects whose detail is measured (None: every mesh)).
SCENES = {"yard": (yard_scene, WALLS), "demo": (demo_scene, None)}


def wall_mask(scene: bpy.types.Scene, names: tuple[str, ...] | None = WALLS) -> np.ndarray:
    """H×W bool: pixels of the named objects (every mesh when None) in the scene camera, two pixels in from
    their silhouettes."""
    result = api.render_depth(scene, ids=True)
    names = names or tuple(o.name for o in scene.objects if o.type == "MESH")
    ids = [result.objects.index(n) for n in names if n in result.objects]
    mask = np.isin(result.object_ids, ids).astype(np.uint8)
    return cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0


def detail(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean |Laplacian| of luminance over ``mask`` (colours in 0..1)."""
    rgb = np.asarray(image, np.float32)[..., :3]
    lum = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    return float(np.abs(cv2.Laplacian(lum, cv2.CV_32F, ksize=1))[mask].mean())


def render(scene: bpy.types.Scene, folder: Path, name: str) -> np.ndarray:
    """Render the scene camera with Cycles and read the PNG back as float RGB."""
    path = folder / f"{name}.png"
    render_still(scene, path, samples=16)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return img[..., 2::-1].astype(np.float32) / 255.0


def view_details(views: list[View], names: tuple[str, ...] | None = WALLS) -> list[float]:
    """Detail of each view's generated image over the named objects' boxes, in the view's own pixels."""
    out = []
    names = {n: bpy.data.objects[n] for n in (names or [o.name for o in bpy.data.objects if o.type == "MESH"])}
    for view in views:
        pts = view.camera.unproject(view.depth, world=True)
        inside = np.zeros(view.depth.shape, bool)
        for obj in names.values():
            lo = np.array([min(c[k] for c in (obj.matrix_world @ v.co for v in obj.data.vertices)) for k in range(3)])
            hi = np.array([max(c[k] for c in (obj.matrix_world @ v.co for v in obj.data.vertices)) for k in range(3)])
            with np.errstate(invalid="ignore"):
                inside |= np.all((pts >= lo - 0.01) & (pts <= hi + 0.01), axis=2)
        inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        out.append(detail(view.image, inside) if inside.any() else float("nan"))
    return out


def _pixel_metres(camera, z: np.ndarray) -> np.ndarray:
    """Size of one pixel on a surface at planar depth ``z`` (fronto-parallel), in metres."""
    left, right, _bottom, _top = camera.frame
    scale = (right - left) / camera.width
    return np.full_like(z, scale) if camera.ortho else z * scale


def _matched(a: View, b: View, s, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two views' images with the finer one blurred to the coarser one's footprint on the shared points."""
    z_b = np.take(b.depth.reshape(-1), s.row.astype(np.int64) * b.camera.width + s.col.astype(np.int64))
    ratio = float(np.median(_pixel_metres(b.camera, z_b) / _pixel_metres(a.camera, a.depth[valid][s.index])))
    mine, theirs = np.asarray(a.image, np.float32), np.asarray(b.image, np.float32)
    if ratio > 1.0:
        mine = cv2.GaussianBlur(mine, (0, 0), 0.5 * ratio)
    elif ratio < 1.0:
        theirs = cv2.GaussianBlur(theirs, (0, 0), 0.5 / ratio)
    return mine, theirs


def overlap_delta_e(views: list[View], tolerance: float = 0.005, matched: bool = False) -> float:
    """Median CIELAB ΔE between pairs of views where both see the same point (before fusion).

    :param views: The run's views, with images.
    :param tolerance: Relative depth slack of the visibility test.
    :param matched: Compare at the coarser view's footprint: the finer view's image is blurred first (Gaussian,
        sigma half the median ratio of the two views' pixel sizes on the shared points), so a brick one view
        resolves and another sees as one or two pixels counts as agreeing when the colours agree.
    """
    values = []
    for i, a in enumerate(views):
        valid = np.isfinite(a.depth)
        pts = as_soa(a.camera.unproject(a.depth, world=True)[valid])
        nrm = as_soa(normals_from_depth(a.depth, a.camera)[valid])
        for b in views[i + 1:]:
            s = sample_view(b, pts, nrm, tolerance, two_sided=True)
            if s.index.size < 100:
                continue
            mine, theirs = _matched(a, b, s, valid) if matched else (a.image, b.image)
            other = dataclasses.replace(b, image=theirs).colour_at(s.col, s.row)
            lab_a = cv2.cvtColor(np.clip(mine[valid][s.index], 0, 1)[None].astype(np.float32), cv2.COLOR_RGB2Lab)[0]
            lab_b = cv2.cvtColor(np.clip(other, 0, 1)[None].astype(np.float32), cv2.COLOR_RGB2Lab)[0]
            values.append(np.linalg.norm(lab_a - lab_b, axis=1))
    return float(np.median(np.concatenate(values))) if values else float("nan")


def copied_views(views: list[View], tolerance: float = 0.005) -> list[View]:
    """The views as if every later one had copied the first one's paint wherever it sees it: perfectly consistent
    paint, so :func:`overlap_delta_e` of these is the floor that resampling the texture between two footprints
    alone gives (the instrument's resolution for this texture and these views).

    :param views: The run's views, with images.
    :param tolerance: Relative depth slack of the visibility test.
    """
    out = views[:1]
    for view in views[1:]:
        prior = conditioning.reproject(views[:1], view, tolerance)
        out.append(dataclasses.replace(view, image=np.where((prior.weight > 0)[..., None], prior.colour, view.image)))
    return out


def run(views: int = 4, bake: int | str = "auto", prompt: str = "red brick", seed: int = 0,
        scene_name: str = "yard") -> dict:
    """Every stage on one scene of :data:`SCENES`; figures in a dict."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench_multiview_{scene_name}_"))
    build, names = SCENES[scene_name]
    scene = build()
    mask = wall_mask(scene, names)
    out: dict = {"scene": scene_name, "views": views, "bake": bake, "prompt": prompt, "wall_pixels": int(mask.sum())}
    api.texture_scene(scene, prompt=prompt, seed=seed, compositor=False)
    ref_image = render(scene, folder, "single_projection")
    out["single_projection"] = ref = detail(ref_image, mask)
    projection.remove_projection()
    runs = {"single_bake": dict(cameras=[scene.camera]),
            f"views_{views}": dict(views=views),
            f"views_{views}_no_scene_view": dict(views=views, scene_view=False),
            f"views_{views}_no_conditioning": dict(views=views, use_conditioning=False, harmonise=False)}
    for label, kw in runs.items():
        t = time.perf_counter()
        result = app_multiview.texture_multiview(scene, prompt=prompt, seed=seed, bake_size=bake, **kw)
        out[f"{label}_s"] = time.perf_counter() - t
        image = render(scene, folder, label)
        out[label] = detail(image, mask)
        seams = seam_masks(scene, result.uv_maps)
        out[f"{label}_seam_pixels"] = {name: int(m[0].sum()) for name, m in seams.items()}
        out[f"{label}_seam_gradient"] = gradient_ratio(image, seams)
        out[f"{label}_seam_gradient_projection"] = gradient_ratio(ref_image, seams)  # the surfaces' own
        out[f"{label}_ratio"] = out[label] / ref if ref > 0 else float("nan")
        out[f"{label}_sizes"] = dict(result.sizes)
        if len(result.views) > 1:
            out[f"{label}_per_view"] = view_details(result.views, names)
            out[f"{label}_overlap_delta_e"] = overlap_delta_e(result.views)
            out[f"{label}_overlap_delta_e_matched"] = overlap_delta_e(result.views, matched=True)
            copies = copied_views(result.views)
            out[f"{label}_overlap_delta_e_floor"] = overlap_delta_e(copies)
            out[f"{label}_overlap_delta_e_matched_floor"] = overlap_delta_e(copies, matched=True)
        for i, view in enumerate(result.views):
            bgr = (np.clip(view.image[..., 2::-1], 0, 1) * 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{label}_view{i + 1}.png"), bgr)
        bake_apply.remove_bake()
    out["renders"] = str(folder)
    return out


def table(figures: dict[str, dict]) -> str:
    """Detail ratios (against the single projected view), timings and seam gradients per scene and stage."""
    lines = [f"{'scene':<6}{'stage':<30}{'detail':>9}{'ratio':>7}{'seconds':>9}{'seams':>7}{'(proj.)':>8}"]
    for name, fig in figures.items():
        lines.append(f"{name:<6}{'single_projection':<30}{fig['single_projection']:>9.4f}{1.0:>7.2f}{'':>9}")
        for key in fig:
            if key.endswith("_ratio"):
                stage = key[:-6]
                lines.append(f"{name:<6}{stage:<30}{fig[stage]:>9.4f}{fig[key]:>7.2f}{fig[stage + '_s']:>9.2f}"
                             f"{fig[stage + '_seam_gradient']:>7.2f}{fig[stage + '_seam_gradient_projection']:>8.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--bake", default="auto")
    parser.add_argument("--scene", choices=sorted(SCENES), nargs="*", default=sorted(SCENES))
    args = script_args(parser, argv)
    bake = args.bake if args.bake == "auto" else int(args.bake)
    figures = {name: run(args.views, bake, scene_name=name) for name in args.scene}
    print(table(figures))
    report_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
