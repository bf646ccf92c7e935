# SPDX-License-Identifier: GPL-3.0-or-later
"""Render procedural training scenes with Blender (Cycles) for the embedded appearance model.

Each sample is one random scene: a ground (flat or terrain), optional walls, 2–7 primitives
(boxes, spheres, cylinders, cones, tori, some stacked), one material *style* per scene built from
Blender's own procedural nodes (brick, wood, stone, marble, tiles, metal, plaster, grass) with
per-object random palettes and scales, a sun with a random direction and a coloured sky. Every
sample is deterministic from ``(seed, index)``.

Written per sample, as ``<out>/<index:06d>.npz``: ``depth`` (H×W float32 planar camera Z in metres,
``inf`` = background, the add-on's mapping), ``normal`` (3×H×W float16 camera-space), ``label``
(H×W uint8 style id + 1 per pixel, 0 = background), ``object`` (H×W uint8 object index),
``rgb`` (H×W×3 uint8 display sRGB from the linear Cycles render), ``style`` (int), ``light``
(camera-space unit sun direction), ``frame`` (camera view frame on ``z = -1``).

Run: ``python scripts/make_training_data.py --out data/train --count 2000 --size 128``. With ``--multi`` every
wall and object gets its own random style (the held-out multi-material scenes of the scene-prompt bench). Walls
and boxes take their size from their object scale, so their Object-coordinate patterns stretch with it (3–10× along
a wall), as in every data set the shipped weights were trained and measured on; ``--metric`` sizes them in their
meshes instead, so every pattern keeps its size in metres (MODEL.md: tried for issue #17, no gain).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np
import OpenEXR
from mathutils import Matrix, Vector

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from depth_addon.blender.compat import ensure_node_tree, render_pass_name, set_multilayer_exr  # noqa: E402
from depth_addon.generation.prompt import STYLE_HSV, STYLES  # noqa: E402

_HSV = STYLE_HSV


def _hsv(rng: np.random.Generator, style: str, scale: float = 1.0) -> tuple[float, float, float, float]:
    import colorsys

    (h0, h1), (s0, s1), (v0, v1) = _HSV[style]
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(h0, h1), rng.uniform(s0, s1), rng.uniform(v0, v1) * scale)
    return (r ** 2.2, g ** 2.2, b ** 2.2, 1.0)  # linear


def _brick(nodes, links, vec, style: str, rng: np.random.Generator, c1: tuple, c2: tuple, rough: float) -> tuple:
    """Brick or tile courses with grey mortar; returns ``(colour socket, bump source, roughness)``."""
    tex = nodes.new("ShaderNodeTexBrick")
    links.new(vec, tex.inputs["Vector"])
    tex.inputs["Color1"].default_value = c1
    tex.inputs["Color2"].default_value = c2 if style == "brick" else c1
    grey = float(rng.uniform(0.5, 0.9)) if style == "tiles" else float(rng.uniform(0.3, 0.6))
    tex.inputs["Mortar"].default_value = (grey, grey, grey * 0.95, 1.0)
    tex.inputs["Scale"].default_value = float(rng.uniform(2.0, 4.0))
    tex.inputs["Mortar Size"].default_value = float(rng.uniform(0.015, 0.04))
    if style == "tiles":
        tex.offset = 0.0
        tex.inputs["Brick Width"].default_value = 0.5
        tex.inputs["Row Height"].default_value = 0.5
        rough = float(rng.uniform(0.15, 0.4))
    return tex.outputs["Color"], tex.outputs["Fac"], rough


def _wave(nodes, links, vec, style: str, rng: np.random.Generator, c1: tuple, c2: tuple, rough: float) -> tuple:
    """Wood rings or marble bands through a colour ramp; returns ``(colour socket, bump source, roughness)``."""
    tex = nodes.new("ShaderNodeTexWave")
    links.new(vec, tex.inputs["Vector"])
    tex.wave_type = "RINGS" if style == "wood" else "BANDS"
    tex.inputs["Scale"].default_value = float(rng.uniform(1.0, 3.0))
    tex.inputs["Distortion"].default_value = float(rng.uniform(2.0, 8.0) if style == "wood" else rng.uniform(8, 16))
    tex.inputs["Detail"].default_value = 3.0
    ramp = nodes.new("ShaderNodeValToRGB")
    links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
    if style == "marble":
        c2 = tuple(v * 0.25 for v in c1[:3]) + (1.0,)
        ramp.color_ramp.elements[0].position = 0.85
        rough = float(rng.uniform(0.1, 0.3))
    ramp.color_ramp.elements[0].color = c1
    ramp.color_ramp.elements[1].color = c2
    return ramp.outputs["Color"], tex.outputs["Fac"], rough


def _mixed(nodes, links, vec, style: str, rng: np.random.Generator, c1: tuple, c2: tuple, rough: float) -> tuple:
    """Stone (Voronoi distance) or metal, plaster, grass (noise) mixing two colours.

    :return: ``(colour socket, bump source, roughness)``.
    """
    if style == "stone":
        tex = nodes.new("ShaderNodeTexVoronoi")
        links.new(vec, tex.inputs["Vector"])
        tex.inputs["Scale"].default_value = float(rng.uniform(2.0, 6.0))
        fac = tex.outputs["Distance"]
    else:
        tex = nodes.new("ShaderNodeTexNoise")
        links.new(vec, tex.inputs["Vector"])
        tex.inputs["Scale"].default_value = {"metal": 3.0, "plaster": 6.0, "grass": 40.0}[style] * float(
            rng.uniform(0.6, 1.6))
        tex.inputs["Detail"].default_value = 6.0
        fac = tex.outputs["Fac"]
        if style != "grass":
            c2 = tuple(0.8 * v for v in c1[:3]) + (1.0,)
        if style == "metal":
            rough = float(rng.uniform(0.2, 0.45))
    mix = nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    links.new(fac, mix.inputs["Factor"])
    mix.inputs["A"].default_value = c1
    mix.inputs["B"].default_value = c2
    return mix.outputs["Result"], fac, rough


#: Node builder per style.
_TEXTURES = {"brick": _brick, "tiles": _brick, "wood": _wave, "marble": _wave, "stone": _mixed, "metal": _mixed,
             "plaster": _mixed, "grass": _mixed}


def _material(name: str, style: str, rng: np.random.Generator, index: int) -> bpy.types.Material:
    """A procedural node material of ``style`` with a random palette and scale."""
    mat = bpy.data.materials.new(name)
    mat.pass_index = index
    nt = ensure_node_tree(mat)
    nodes, links = nt.nodes, nt.links
    bsdf = nodes.get("Principled BSDF")
    coord = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    links.new(coord.outputs["Object"], mapping.inputs["Vector"])
    mapping.inputs["Scale"].default_value = (float(rng.uniform(0.6, 1.6)),) * 3
    mapping.inputs["Rotation"].default_value = tuple(float(v) for v in rng.uniform(0, 0.6, 3))
    c1, c2 = _hsv(rng, style), _hsv(rng, style, 0.6)
    rough = float(rng.uniform(0.5, 0.95))
    colour, bump_src, rough = _TEXTURES[style](nodes, links, mapping.outputs["Vector"], style, rng, c1, c2, rough)
    if style == "metal":
        bsdf.inputs["Metallic"].default_value = 1.0
    links.new(colour, bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = rough
    if style != "metal":
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = float(rng.uniform(0.1, 0.4))
        links.new(bump_src, bump.inputs["Height"])
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return mat


def _clear() -> None:
    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob, do_unlink=True)
    for coll in (bpy.data.meshes, bpy.data.materials, bpy.data.lights, bpy.data.cameras, bpy.data.worlds):
        for block in list(coll):
            coll.remove(block)


def _link(ob: bpy.types.Object, mat: bpy.types.Material, index: int) -> None:
    ob.data.materials.append(mat)
    ob.pass_index = index


def _stretch(ob: bpy.types.Object, scale: tuple[float, float, float], metric: bool) -> None:
    """Give ``ob`` the size ``scale``: as its object scale, or (``metric``) in its mesh, so that its Object texture
    coordinates stay in metres and its material's pattern keeps the size it has on every other object."""
    if metric:
        ob.data.transform(Matrix.Diagonal((*scale, 1.0)))
    else:
        ob.scale = scale


def _add(kind: str, loc: tuple[float, float, float], size: float, rng: np.random.Generator, metric: bool = False
         ) -> bpy.types.Object:
    ops = bpy.ops.mesh
    if kind == "box":
        ops.primitive_cube_add(size=size, location=loc)
        ob = bpy.context.object
        _stretch(ob, tuple(float(v) for v in rng.uniform(0.6, 1.5, 3)), metric)
    elif kind == "sphere":
        ops.primitive_uv_sphere_add(radius=size * 0.55, location=loc, segments=32, ring_count=16)
    elif kind == "cylinder":
        ops.primitive_cylinder_add(radius=size * 0.4, depth=size * rng.uniform(1.0, 2.5), location=loc, vertices=32)
    elif kind == "cone":
        ops.primitive_cone_add(radius1=size * 0.5, depth=size * 1.4, location=loc, vertices=32)
    else:
        ops.primitive_torus_add(major_radius=size * 0.5, minor_radius=size * 0.18, location=loc)
    ob = bpy.context.object
    ob.rotation_euler = (0.0 if kind != "torus" else float(rng.uniform(0, 1.5)), 0.0, float(rng.uniform(0, 6.28)))
    if kind != "box":
        ob.data.shade_smooth()
    bpy.context.view_layer.update()
    low = min((ob.matrix_world @ Vector(c)).z for c in ob.bound_box)
    ob.location.z -= low - loc[2]
    return ob


def _ground(rng: np.random.Generator, style: str) -> None:
    """A flat ground plane or a sine terrain (35 %) of ``style``, object index 1."""
    if rng.uniform() < 0.35:  # terrain
        bpy.ops.mesh.primitive_grid_add(x_subdivisions=48, y_subdivisions=48, size=40.0)
        ground = bpy.context.object
        co = np.empty(len(ground.data.vertices) * 3, np.float32)
        ground.data.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3)
        amp, freq = rng.uniform(0.3, 1.5), rng.uniform(0.1, 0.35)
        ph = rng.uniform(0, 6.28, 4)
        co[:, 2] = amp * (np.sin(freq * co[:, 0] + ph[0]) * np.cos(freq * 1.3 * co[:, 1] + ph[1])
                          + 0.5 * np.sin(2.1 * freq * co[:, 0] + 1.7 * freq * co[:, 1] + ph[2]))
        co[:, 2] -= co[np.abs(co[:, :2]).max(1) < 4, 2].max() if (np.abs(co[:, :2]).max(1) < 4).any() else 0
        ground.data.vertices.foreach_set("co", co.ravel())
        ground.data.shade_smooth()
    else:
        bpy.ops.mesh.primitive_plane_add(size=60.0)
        ground = bpy.context.object
    _link(ground, _material("ground", style, rng, STYLES.index(style) + 1), 1)


def _walls_and_objects(rng: np.random.Generator, style_id: int, multi: bool = False, metric: bool = False) -> None:
    """0–2 walls and 2–7 primitives (25 % with a smaller one stacked on top) of the scene style, or with ``multi``
    each of its own random style; ``metric``: walls and boxes sized in their meshes (:func:`_stretch`)."""
    index = 1

    def pick() -> int:  # draws nothing more from ``rng`` for single-style scenes, so they render as before
        return int(rng.integers(len(STYLES))) if multi else style_id

    for _ in range(int(rng.integers(0, 3))):  # walls
        index += 1
        bpy.ops.mesh.primitive_cube_add(size=1.0, location=(float(rng.uniform(-6, 6)), float(rng.uniform(3, 12)), 0))
        wall = bpy.context.object
        size_w = (float(rng.uniform(3, 10)), float(rng.uniform(0.2, 0.6)), float(rng.uniform(2, 5)))
        _stretch(wall, size_w, metric)
        wall.location.z = size_w[2] / 2
        wall.rotation_euler.z = float(rng.uniform(-0.8, 0.8))
        k = pick()
        _link(wall, _material("wall", STYLES[k], rng, k + 1), index)
    kinds = ("box", "sphere", "cylinder", "cone", "torus")
    for _ in range(int(rng.integers(2, 8))):
        index += 1
        loc = (float(rng.uniform(-4, 4)), float(rng.uniform(-2, 6)), 0.0)
        size_o = float(rng.uniform(0.7, 2.2))
        ob = _add(kinds[int(rng.integers(len(kinds)))], loc, size_o, rng, metric)
        k = pick()
        _link(ob, _material(f"obj{index}", STYLES[k], rng, k + 1), index)
        if rng.uniform() < 0.25:  # stacked
            index += 1
            top = max((ob.matrix_world @ Vector(c)).z for c in ob.bound_box)
            ob2 = _add(kinds[int(rng.integers(len(kinds)))], (loc[0], loc[1], top), size_o * 0.6, rng, metric)
            k = pick()
            _link(ob2, _material(f"obj{index}", STYLES[k], rng, k + 1), index)


def _camera_sun_sky(rng: np.random.Generator, sc: bpy.types.Scene) -> tuple[bpy.types.Object, Vector]:
    """A random camera looking into the scene, a sun and a coloured sky; returns the camera and the sun direction."""
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    sc.collection.objects.link(cam)
    cam.data.lens = float(rng.uniform(24, 50))
    cam.data.clip_end = 300.0
    dist, az, height = rng.uniform(7, 14), rng.uniform(-0.6, 0.6), rng.uniform(0.8, 5.0)
    cam.location = (float(dist * math.sin(az)), float(-dist * math.cos(az) + 2.0), float(height))
    target = Vector((float(rng.uniform(-1.5, 1.5)), float(rng.uniform(1, 4)), float(rng.uniform(0.3, 1.5))))
    cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()
    sc.camera = cam
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sc.collection.objects.link(sun)
    el, saz = rng.uniform(0.35, 1.3), rng.uniform(0, 6.28)
    direction = Vector((math.cos(el) * math.cos(saz), math.cos(el) * math.sin(saz), math.sin(el)))  # towards sun
    sun.rotation_euler = direction.to_track_quat("Z", "Y").to_euler()
    sun.data.energy = float(rng.uniform(2.5, 4.5))
    sun.data.angle = float(rng.uniform(0.02, 0.15))
    sun.data.color = (1.0, float(rng.uniform(0.9, 1.0)), float(rng.uniform(0.78, 0.95)))
    world = bpy.data.worlds.new("sky")
    sc.world = world
    bg = ensure_node_tree(world).nodes.get("Background")
    sky = (float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.5, 0.7)), float(rng.uniform(0.75, 1.0)), 1.0)
    bg.inputs["Color"].default_value = sky
    bg.inputs["Strength"].default_value = float(rng.uniform(0.5, 1.0))
    return cam, direction


def _render_settings(sc: bpy.types.Scene, size: int, samples: int) -> None:
    """Cycles on the CPU, no denoising, fixed seed; depth, normal, material and object index passes."""
    r = sc.render
    r.engine = "CYCLES"
    r.resolution_x = r.resolution_y = size
    r.resolution_percentage = 100
    c = sc.cycles
    c.device = "CPU"
    c.samples = samples
    c.use_adaptive_sampling = False
    c.use_denoising = False
    c.max_bounces = 4
    c.seed = 0
    sc.view_settings.view_transform = "Standard"
    vl = sc.view_layers[0]
    vl.use_pass_z = vl.use_pass_normal = vl.use_pass_material_index = vl.use_pass_object_index = True
    set_multilayer_exr(r.image_settings)


def build_scene(rng: np.random.Generator, size: int, samples: int, multi: bool = False, metric: bool = False
                ) -> dict:
    """Clear the file and build one random scene; return its labels."""
    _clear()
    sc = bpy.context.scene
    style_id = int(rng.integers(len(STYLES)))
    style = STYLES[style_id]
    ground_style = style if rng.uniform() < 0.5 else STYLES[int(rng.integers(len(STYLES)))]
    _ground(rng, ground_style)
    _walls_and_objects(rng, style_id, multi, metric)
    cam, direction = _camera_sun_sky(rng, sc)
    _render_settings(sc, size, samples)
    bpy.context.view_layer.update()
    rot = np.array(cam.matrix_world)[:3, :3]
    frame = np.array([tuple(v) for v in cam.data.view_frame(scene=sc)])
    frame = frame / -frame[:, 2:3]
    light = rot.T @ np.array(direction)
    return {"style": style_id, "light": (light / np.linalg.norm(light)).astype(np.float32), "rot": rot,
            "frame": np.array([frame[:, 0].min(), frame[:, 0].max(), frame[:, 1].min(), frame[:, 1].max()],
                              np.float32)}


def render_sample(rng: np.random.Generator, size: int, samples: int, tmp: str, multi: bool = False,
                  metric: bool = False) -> dict[str, np.ndarray]:
    """Build, render and read back one sample (``multi``: every object its own style; ``metric``: patterns sized
    in metres on walls and boxes too)."""
    info = build_scene(rng, size, samples, multi, metric)
    sc = bpy.context.scene
    sc.render.filepath = os.path.join(tmp, "s.exr")
    bpy.ops.render.render(write_still=True)
    ch: dict[str, np.ndarray] = {}
    for part in OpenEXR.File(sc.render.filepath).parts:
        for key, val in part.channels.items():
            ch[key.split(".", 1)[-1] if key.startswith("ViewLayer.") else key] = np.asarray(val.pixels)
    depth = ch["Depth.Z"]
    depth = np.where(depth >= 1e9, np.inf, depth).astype(np.float32)
    combined = ch["Combined"]
    lin = np.clip(combined[..., :3], 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    normal = np.stack([ch[f"Normal.{a}"] for a in "XYZ"], -1) @ info["rot"]  # world → camera (row vectors)
    label = np.rint(ch[render_pass_name("Material Index") + ".X"]).astype(np.uint8)
    obj = np.rint(ch[render_pass_name("Object Index") + ".X"]).astype(np.uint8)
    label[~np.isfinite(depth)] = 0
    return {"depth": depth, "normal": np.moveaxis(normal, -1, 0).astype(np.float16),
            "label": label, "object": obj, "rgb": np.rint(srgb * 255).astype(np.uint8),
            "style": np.int64(info["style"]), "light": info["light"], "frame": info["frame"]}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    :param argv: Arguments (default: ``sys.argv``).
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--start", type=int, default=0, help="first sample index")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--multi", action="store_true", help="every wall and object its own random style")
    ap.add_argument("--metric", action="store_true", help="walls and boxes sized in their meshes: their patterns "
                    "keep their size in metres instead of stretching with the object's scale")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.render.threads_mode = "FIXED"
    sc.render.threads = args.threads
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.start, args.start + args.count):
            path = args.out / f"{i:06d}.npz"
            if path.exists():
                continue
            sample = render_sample(np.random.default_rng([args.seed, i]), args.size, args.samples, tmp, args.multi,
                                   args.metric)
            np.savez(path.with_suffix(".tmp.npz"), **sample)
            path.with_suffix(".tmp.npz").replace(path)
            done = i - args.start + 1
            if done % 25 == 0 or done == args.count:
                print(f"{done}/{args.count} samples, {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
