# SPDX-License-Identifier: GPL-3.0-or-later
"""Pinhole and orthographic camera model (no bpy).

A :class:`CameraModel` is what a depth map needs to become geometry again and what a projector
needs to put an image back: the image size, the view frame on the plane ``z = -1`` in camera space
(perspective) or in camera units (orthographic), and the camera-to-world matrix. Blender cameras
look down their local ``-Z`` axis with ``+Y`` up; row 0 of every image here is the *top* row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics and pose of the camera a depth map was taken from.

    :param width: Image width in pixels.
    :param height: Image height in pixels.
    :param frame: ``(left, right, bottom, top)`` of the view frame. For ``PERSP`` these are
        camera-space coordinates on the plane ``z = -1``; for ``ORTHO`` they are camera-space
        ``x``/``y`` extents.
    :param ortho: True for an orthographic camera.
    :param matrix_world: 4×4 camera-to-world matrix (row-major, Blender convention).
    :param clip: ``(clip_start, clip_end)`` in metres.
    """

    width: int
    height: int
    frame: tuple[float, float, float, float]
    ortho: bool = False
    matrix_world: tuple[tuple[float, ...], ...] = field(
        default=((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0), (0.0, 0.0, 0.0, 1.0))
    )
    clip: tuple[float, float] = (0.1, 1000.0)

    @classmethod
    def from_projection(
        cls,
        projection: np.ndarray,
        width: int,
        height: int,
        matrix_world: np.ndarray | None = None,
        clip: tuple[float, float] = (0.1, 1000.0),
    ) -> CameraModel:
        """Build the model from an OpenGL-style 4×4 projection matrix.

        :param projection: Matrix as returned by Blender's ``Object.calc_matrix_camera``.
        :param width: Image width in pixels.
        :param height: Image height in pixels.
        :param matrix_world: Camera-to-world matrix; identity when omitted.
        :param clip: Clipping distances.
        """
        p = np.asarray(projection, dtype=np.float64)
        ortho = abs(p[3, 3] - 1.0) < 1e-9 and abs(p[3, 2]) < 1e-9
        if ortho:
            left, right = (-1.0 - p[0, 3]) / p[0, 0], (1.0 - p[0, 3]) / p[0, 0]
            bottom, top = (-1.0 - p[1, 3]) / p[1, 1], (1.0 - p[1, 3]) / p[1, 1]
        else:
            left, right = (p[0, 2] - 1.0) / p[0, 0], (p[0, 2] + 1.0) / p[0, 0]
            bottom, top = (p[1, 2] - 1.0) / p[1, 1], (p[1, 2] + 1.0) / p[1, 1]
        mw = np.eye(4) if matrix_world is None else np.asarray(matrix_world, dtype=np.float64)
        return cls(
            width=int(width),
            height=int(height),
            frame=(float(left), float(right), float(bottom), float(top)),
            ortho=bool(ortho),
            matrix_world=tuple(tuple(float(v) for v in row) for row in mw),
            clip=(float(clip[0]), float(clip[1])),
        )

    @classmethod
    def from_fov(cls, width: int, height: int, fov_x_deg: float, **kwargs) -> CameraModel:
        """Perspective camera with a horizontal field of view and a centred principal point.

        :param width: Image width in pixels.
        :param height: Image height in pixels.
        :param fov_x_deg: Horizontal field of view in degrees.
        """
        tx = float(np.tan(np.radians(fov_x_deg) / 2.0))
        ty = tx * height / width
        return cls(width=int(width), height=int(height), frame=(-tx, tx, -ty, ty), **kwargs)

    @property
    def matrix(self) -> np.ndarray:
        """Camera-to-world matrix as a float64 array."""
        return np.array(self.matrix_world, dtype=np.float64)

    def pixel_plane_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Camera-space ``x`` (per column) and ``y`` (per row) of pixel centres on the view frame.

        :return: ``(x, y)`` with shapes ``(W,)`` and ``(H,)``; ``y`` decreases downwards.
        """
        left, right, bottom, top = self.frame
        x = left + (np.arange(self.width) + 0.5) / self.width * (right - left)
        y = top - (np.arange(self.height) + 0.5) / self.height * (top - bottom)
        return x, y

    def ray_lengths(self) -> np.ndarray:
        """Length of each pixel's ray direction scaled to camera-space ``z = -1`` (H×W float32).

        Planar depth times this factor is the radial (Euclidean) distance. Orthographic cameras
        have parallel rays, so the factor is 1 everywhere.
        """
        if self.ortho:
            return np.ones((self.height, self.width), np.float32)
        x, y = self.pixel_plane_coords()
        return np.sqrt(x[None, :] ** 2 + y[:, None] ** 2 + 1.0).astype(np.float32)

    def planar_to_radial(self, depth: np.ndarray) -> np.ndarray:
        """Convert camera-Z depth to distance along each pixel's ray (``inf`` stays ``inf``)."""
        return (np.asarray(depth, np.float32) * self.ray_lengths()).astype(np.float32)

    def radial_to_planar(self, distance: np.ndarray) -> np.ndarray:
        """Convert distance along each pixel's ray to camera-Z depth (``inf`` stays ``inf``)."""
        return (np.asarray(distance, np.float32) / self.ray_lengths()).astype(np.float32)

    def unproject(self, depth: np.ndarray, world: bool = False) -> np.ndarray:
        """Back-project planar depth to 3D points (H×W×3 float32).

        :param depth: H×W camera-Z depth in metres; non-finite values give non-finite points.
        :param world: Return world-space points instead of camera-space ones.
        """
        d = np.asarray(depth, np.float32)
        x, y = self.pixel_plane_coords()
        pts = np.empty(d.shape + (3,), np.float32)
        if self.ortho:
            pts[..., 0] = x[None, :]
            pts[..., 1] = y[:, None]
        else:
            pts[..., 0] = x[None, :] * d
            pts[..., 1] = y[:, None] * d
        pts[..., 2] = -d
        if world:
            m = self.matrix.astype(np.float32)
            with np.errstate(invalid="ignore"):  # inf (background) stays non-finite, without a warning
                pts = pts @ m[:3, :3].T + m[:3, 3]
        return pts

    def scaled(self, factor: float) -> CameraModel:
        """The same camera in a world ``factor`` times larger (its position, clip distances and, orthographic,
        its frame): e.g. scene units to metres.

        :param factor: Length factor, positive.
        """
        m = np.array(self.matrix_world, np.float64)
        m[:3, 3] *= factor
        frame = tuple(v * factor for v in self.frame) if self.ortho else self.frame
        return replace(self, frame=frame, matrix_world=tuple(tuple(float(v) for v in row) for row in m),
                       clip=(self.clip[0] * factor, self.clip[1] * factor))

    def to_dict(self) -> dict:
        """Plain-JSON form for metadata and provenance."""
        return {
            "width": self.width,
            "height": self.height,
            "frame": list(self.frame),
            "ortho": self.ortho,
            "matrix_world": [list(r) for r in self.matrix_world],
            "clip": list(self.clip),
        }

    @classmethod
    def from_dict(cls, data: dict) -> CameraModel:
        """Inverse of :meth:`to_dict`."""
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            frame=tuple(float(v) for v in data["frame"]),
            ortho=bool(data.get("ortho", False)),
            matrix_world=tuple(tuple(float(v) for v in r) for r in data["matrix_world"]),
            clip=tuple(float(v) for v in data.get("clip", (0.1, 1000.0))),
        )
