# SPDX-License-Identifier: GPL-3.0-or-later
"""Where to put the cameras of a multi-view texturing run: orbit, hemisphere and greedy coverage.

All placements look at the centre of the scene's bounding sphere from far enough away that the
whole sphere fits in the frame. The greedy placement starts from a set of candidate directions and
repeatedly adds the candidate that sees the most not-yet-covered surface (area × facing), using a
point-splat z-buffer on surface samples as a cheap visibility test.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..camera import CameraModel
from ..errors import BadInput
from .fusion import as_soa, project_points, view_directions

PLACEMENTS = ("orbit", "hemisphere", "greedy")


def look_at(eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world matrix of a camera at ``eye`` looking at ``target`` (camera -Z forward, +Y up).

    :param eye: Camera position.
    :param target: Point to look at.
    :param up: World up; a perpendicular one is chosen when the view is parallel to it.
    """
    eye, target = np.asarray(eye, np.float64), np.asarray(target, np.float64)
    forward = target - eye
    if np.linalg.norm(forward) < 1e-12:
        raise BadInput("camera position and target coincide")
    forward /= np.linalg.norm(forward)
    u = np.asarray(up, np.float64)
    if abs(float(forward @ u)) > 0.999:
        u = np.array([0.0, 1.0, 0.0]) if abs(forward[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    right = np.cross(forward, u)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, true_up, -forward, eye
    return m


def framing_camera(direction: np.ndarray, center: np.ndarray, radius: float, size: tuple[int, int] = (512, 512),
                   fov_deg: float = 50.0, margin: float = 1.1) -> CameraModel:
    """A perspective camera on the ray ``center + t·direction`` that frames the bounding sphere.

    :param direction: Direction from the centre towards the camera.
    :param center: Bounding-sphere centre.
    :param radius: Bounding-sphere radius (> 0).
    :param size: ``(width, height)`` of the view.
    :param fov_deg: Field of view of the narrower image side.
    :param margin: Extra room around the sphere.
    """
    d = np.asarray(direction, np.float64)
    d = d / np.linalg.norm(d)
    w, h = size
    half = math.radians(fov_deg) / 2.0
    distance = max(radius * margin / math.sin(half), 1e-3)
    t = math.tan(half)
    tx, ty = (t * w / h, t) if w >= h else (t, t * h / w)
    eye = np.asarray(center, np.float64) + d * distance
    near, far = max(distance - radius * 1.5, distance * 1e-3), distance + radius * 1.5
    return CameraModel(width=int(w), height=int(h), frame=(-tx, tx, -ty, ty), ortho=False,
                       matrix_world=tuple(tuple(float(v) for v in r) for r in look_at(eye, center)),
                       clip=(float(near), float(far)))


def orbit_directions(count: int, elevation_deg: float = 25.0, start_deg: float = -90.0) -> np.ndarray:
    """``count`` unit directions evenly around the vertical axis at one elevation.

    :param count: Number of views (≥ 1).
    :param elevation_deg: Angle above the horizon.
    :param start_deg: Azimuth of the first view (-90° = from -Y, Blender's front view).
    """
    if count < 1:
        raise BadInput(f"need at least one view, got {count}")
    az = np.radians(start_deg + 360.0 * np.arange(count) / count)
    el = math.radians(elevation_deg)
    return np.stack([np.cos(az) * math.cos(el), np.sin(az) * math.cos(el), np.full(count, math.sin(el))], 1)


def hemisphere_directions(count: int, min_elevation_deg: float = 10.0) -> np.ndarray:
    """``count`` unit directions spread evenly over the upper hemisphere (Fibonacci spiral).

    :param count: Number of views (≥ 1).
    :param min_elevation_deg: Lowest elevation used.
    """
    if count < 1:
        raise BadInput(f"need at least one view, got {count}")
    lo = math.sin(math.radians(min_elevation_deg))
    i = np.arange(count) + 0.5
    z = 1.0 - (1.0 - lo) * i / count  # from near the zenith down to the lowest band
    r = np.sqrt(np.maximum(1.0 - z * z, 0.0))
    az = -math.pi / 2 + i * math.pi * (3.0 - math.sqrt(5.0))
    return np.stack([r * np.cos(az), r * np.sin(az), z], 1)


def splat_visibility(camera: CameraModel, points: np.ndarray, normals: np.ndarray, resolution: int = 96,
                     tolerance: float = 0.03) -> np.ndarray:
    """Approximate facing term of each point in a view (0 where hidden), from a point-splat z-buffer.

    The points are splatted into a small depth buffer (nearest depth per pixel, then the nearest
    of each 3×3 neighbourhood to close the gaps between sparse samples); a point is visible when
    it is within ``tolerance`` of that depth. The buffer shrinks when there are few samples.

    :param camera: The view (its aspect is kept, its size replaced by ``resolution``).
    :param points: (N, 3) surface samples.
    :param normals: (N, 3) unit normals.
    :param resolution: Larger side of the z-buffer in pixels.
    :param tolerance: Relative depth slack.
    """
    xyz = as_soa(points)
    col, row, z = project_points(camera, xyz)
    in_frame = int(((col >= 0) & (col < camera.width) & (row >= 0) & (row < camera.height) & (z > 0)).sum())
    side = int(np.clip(np.sqrt(max(in_frame, 1)) * 0.7, 8, resolution))
    scale = side / max(camera.width, camera.height)
    w, h = max(1, round(camera.width * scale)), max(1, round(camera.height * scale))
    small = CameraModel(width=w, height=h, frame=camera.frame, ortho=camera.ortho,
                        matrix_world=camera.matrix_world, clip=camera.clip)
    col, row = col * np.float32(w / camera.width), row * np.float32(h / camera.height)
    ci, ri = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
    inside = (ci >= 0) & (ci < w) & (ri >= 0) & (ri < h) & (z > 0)
    flat = np.where(inside, ri * w + ci, 0)
    zbuf = np.full(w * h, np.inf, np.float32)
    np.minimum.at(zbuf, flat[inside], z[inside])
    zbuf = cv2.erode(zbuf.reshape(h, w), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE).reshape(-1)
    visible = inside & (z <= zbuf[flat] * (1.0 + tolerance))
    vdir, _dist = view_directions(small, xyz)
    n = as_soa(normals)
    facing = np.abs(n[0] * vdir[0] + n[1] * vdir[1] + n[2] * vdir[2])
    return np.where(visible, facing, 0.0).astype(np.float32)


def greedy_views(points: np.ndarray, normals: np.ndarray, area: np.ndarray, candidates: list[CameraModel],
                 count: int, covered_facing: float = 0.3) -> tuple[list[int], list[float]]:
    """Pick ``count`` candidates one by one, each time the one adding the most uncovered surface.

    A sample counts as covered once some chosen view sees it with ``|n·v| ≥ covered_facing``; the
    gain of a candidate is the area it sees weighted by its facing term, over uncovered samples.

    :param points: (N, 3) surface samples.
    :param normals: (N, 3) unit normals.
    :param area: (N,) surface area each sample stands for.
    :param candidates: Candidate views.
    :param count: Views to choose (at most ``len(candidates)``).
    :param covered_facing: Facing term from which a sample counts as covered.
    :return: ``(indices into candidates, covered area fraction after each pick)``.
    """
    if not candidates:
        raise BadInput("no candidate views to choose from")
    area = np.asarray(area, np.float64)
    total = max(float(area.sum()), 1e-30)
    facing = np.stack([splat_visibility(c, points, normals) for c in candidates])
    covered = np.zeros(len(points), bool)
    chosen: list[int] = []
    fractions: list[float] = []
    for _ in range(min(int(count), len(candidates))):
        gain = (facing * (~covered) * area).sum(axis=1)
        gain[chosen] = -1.0
        best = int(np.argmax(gain))
        if gain[best] <= 0 and chosen:
            break  # nothing left that any candidate sees
        chosen.append(best)
        covered |= facing[best] >= covered_facing
        fractions.append(float(area[covered].sum()) / total)
    return chosen, fractions


def place_views(placement: str, count: int, center: np.ndarray, radius: float, size: tuple[int, int] = (512, 512),
                fov_deg: float = 50.0, samples: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                candidates: int = 24) -> list[CameraModel]:
    """Cameras for ``placement`` (``orbit``, ``hemisphere`` or ``greedy``) around a bounding sphere.

    :param placement: Strategy name.
    :param count: Number of views.
    :param center: Bounding-sphere centre.
    :param radius: Bounding-sphere radius.
    :param size: ``(width, height)`` of each view.
    :param fov_deg: Field of view of the narrower side.
    :param samples: ``(points, normals, area)`` of the surface (needed by ``greedy``).
    :param candidates: Candidate directions tried by ``greedy`` (hemisphere plus a low orbit).
    """
    if placement not in PLACEMENTS:
        raise BadInput(f"unknown view placement {placement!r}; use one of {', '.join(PLACEMENTS)}")
    if not radius > 0:
        raise BadInput("the objects have no extent to place views around")
    if placement == "orbit":
        dirs = orbit_directions(count)
    elif placement == "hemisphere":
        dirs = hemisphere_directions(count)
    else:
        if samples is None:
            raise BadInput("greedy placement needs surface samples")
        pool = np.concatenate([hemisphere_directions(max(candidates - 8, 1)), orbit_directions(8, elevation_deg=5.0)])
        cams = [framing_camera(d, center, radius, size, fov_deg) for d in pool]
        picked, _fractions = greedy_views(*samples, cams, count)
        return [cams[i] for i in picked]
    return [framing_camera(d, center, radius, size, fov_deg) for d in dirs]
