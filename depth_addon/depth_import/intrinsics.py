# SPDX-License-Identifier: GPL-3.0-or-later
"""Pinhole intrinsics of a depth image and their translation to a :class:`CameraModel` and a Blender camera.

Pixel convention (used by every function here and by the ``--cx/--cy`` options): pixel
coordinates start at the **top-left corner of the first pixel**, ``u`` to the right, ``v`` down,
so the centre of pixel (row ``i``, column ``j``) is at ``(j + 0.5, i + 0.5)``. A camera-space point
``(x, y, z)`` (camera looks down ``-Z``, ``+Y`` up) projects to ``u = cx + fx·x/(-z)``,
``v = cy - fy·y/(-z)``. OpenCV-style calibrations put pixel centres at integers; convert with
:meth:`Intrinsics.from_opencv` (adds 0.5 to ``cx`` and ``cy``).

Orthographic cameras (``ortho``) have parallel rays: ``u = cx + fx·x``, ``v = cy - fy·y`` at every depth, with
``fx``/``fy`` in pixels per metre, so the frame is in metres and the view is ``width / fx`` metres wide.

Stereo (Middlebury ``calib.txt``): ``doffs`` is the x-difference of the two principal points,
``cx1 - cx0``, in pixels; depth is ``Z = baseline · f / (d + doffs)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..camera import CameraModel
from ..errors import BadInput

#: Sensor width given to Blender cameras made from intrinsics (any value works; lens follows it).
SENSOR_MM = 36.0
#: Blender's shortest lens (mm): a wider view gets a narrower sensor instead of a lens Blender would lengthen.
MIN_LENS_MM = 1.0
#: How a sensor size in millimetres spans the image, as a Blender camera's Sensor Fit.
SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")
#: Field of view used when no camera is given (Blender's default 50 mm lens on a 36 mm sensor).
DEFAULT_FOV_DEG = math.degrees(2.0 * math.atan(18.0 / 50.0))


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise BadInput(f"{name} must be a positive number, got {value}")
    return value


@dataclass(frozen=True)
class Intrinsics:
    """Focal lengths and principal point in pixels for a ``width`` × ``height`` image (or, orthographic, its
    scale in pixels per metre and principal point).

    :param width: Image width in pixels.
    :param height: Image height in pixels.
    :param fx: Horizontal focal length in pixels.
    :param fy: Vertical focal length in pixels.
    :param cx: Principal point ``u`` (0 = left edge of the first pixel).
    :param cy: Principal point ``v`` (0 = top edge of the first row).
    :param ortho: Orthographic: ``fx``/``fy`` are pixels per metre and :attr:`frame` is in metres.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    ortho: bool = False

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise BadInput(f"image size must be positive, got {self.width}×{self.height}")
        _positive("fx", self.fx)
        _positive("fy", self.fy)
        if not (math.isfinite(self.cx) and math.isfinite(self.cy)):
            raise BadInput(f"principal point must be finite, got ({self.cx}, {self.cy})")
        if not (-self.width <= self.cx <= 2 * self.width and -self.height <= self.cy <= 2 * self.height):
            raise BadInput(f"principal point ({self.cx:g}, {self.cy:g}) px is far outside the "
                           f"{self.width}×{self.height} image; cx and cy are pixels from the top-left corner "
                           f"(the centre is {self.width / 2:g}, {self.height / 2:g}) and may lie at most one image "
                           "size outside it")
        fov_y = 2 * math.atan(self.height / (2 * self.fy))
        if not self.ortho and max(self.fov_x, fov_y) >= math.radians(175.0):  # an orthographic view has none
            raise BadInput(f"field of view above 175° (fx={self.fx:g}, fy={self.fy:g} px); check the focal length")

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float, cx: float | None = None,
                 cy: float | None = None) -> Intrinsics:
        """Square pixels, horizontal field of view ``fov_deg``; principal point centred unless given."""
        fov = float(fov_deg)
        if not 0.0 < fov < 175.0:
            raise BadInput(f"field of view must be between 0 and 175 degrees, got {fov_deg}")
        f = width / (2.0 * math.tan(math.radians(fov) / 2.0))
        return cls.from_focal_px(width, height, f, None, cx, cy)

    @classmethod
    def from_focal_px(cls, width: int, height: int, fx: float, fy: float | None = None, cx: float | None = None,
                      cy: float | None = None) -> Intrinsics:
        """Focal length(s) in pixels; ``fy`` defaults to ``fx`` and the principal point to the centre."""
        return cls(int(width), int(height), _positive("focal length (px)", fx),
                   _positive("fy", fx if fy is None else fy), width / 2.0 if cx is None else float(cx),
                   height / 2.0 if cy is None else float(cy))

    @classmethod
    def from_lens(cls, width: int, height: int, focal_mm: float, sensor_mm: float = SENSOR_MM,
                  cx: float | None = None, cy: float | None = None, sensor_fit: str = "AUTO") -> Intrinsics:
        """Focal length and sensor size in millimetres, the sensor spanning the image side its fit says (as a Blender
        camera's Sensor Fit: ``AUTO`` the larger side, ``HORIZONTAL`` the width, ``VERTICAL`` the height).

        :raises BadInput: For an unknown fit or a value out of range.
        """
        if sensor_fit not in SENSOR_FITS:
            raise BadInput(f"unknown sensor fit {sensor_fit!r}; use one of {', '.join(SENSOR_FITS)}")
        side = {"AUTO": max(width, height), "HORIZONTAL": width, "VERTICAL": height}[sensor_fit]
        f = _positive("focal length (mm)", focal_mm) * side / _positive("sensor size (mm)", sensor_mm)
        return cls.from_focal_px(width, height, f, None, cx, cy)

    @classmethod
    def from_ortho_width(cls, width: int, height: int, ortho_width: float, cx: float | None = None,
                         cy: float | None = None) -> Intrinsics:
        """Orthographic, square pixels, a view ``ortho_width`` metres wide (Blender's Orthographic Scale with
        horizontal fit); principal point centred unless given."""
        f = width / _positive("orthographic width (m)", ortho_width)
        return cls(int(width), int(height), f, f, width / 2.0 if cx is None else float(cx),
                   height / 2.0 if cy is None else float(cy), ortho=True)

    @classmethod
    def from_opencv(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> Intrinsics:
        """From an OpenCV-style calibration where pixel centres sit at integer coordinates."""
        return cls(int(width), int(height), float(fx), float(fy), float(cx) + 0.5, float(cy) + 0.5)

    @classmethod
    def from_camera_model(cls, cam: CameraModel) -> Intrinsics:
        """The intrinsics of a :class:`CameraModel` (e.g. of a depth render), perspective or orthographic."""
        left, right, bottom, top = cam.frame
        fx, fy = cam.width / (right - left), cam.height / (top - bottom)
        return cls(cam.width, cam.height, fx, fy, -left * fx, top * fy, cam.ortho)

    @property
    def frame(self) -> tuple[float, float, float, float]:
        """``(left, right, bottom, top)`` of the image on the camera-space plane ``z = -1`` (orthographic: in
        metres, at every depth)."""
        return (-self.cx / self.fx, (self.width - self.cx) / self.fx,
                -(self.height - self.cy) / self.fy, self.cy / self.fy)

    @property
    def ortho_width(self) -> float:
        """Width of an orthographic view in metres (Blender's Orthographic Scale with horizontal fit); 0 for a
        perspective one."""
        return self.width / self.fx if self.ortho else 0.0

    def flat_scale(self, depth: float) -> float:
        """Metres per unit of :attr:`frame` on a flat grid the depth displaces: ``depth`` (perspective: the frame
        at that depth), 1 for an orthographic camera (its frame is in metres).

        :param depth: Depth in metres at which a perspective frame is taken.
        """
        return 1.0 if self.ortho else depth

    @property
    def fov_x(self) -> float:
        """Horizontal field of view in radians (for a centred principal point)."""
        return 2.0 * math.atan(self.width / (2.0 * self.fx))

    def camera_model(self, matrix_world=None, clip: tuple[float, float] = (0.1, 1000.0)) -> CameraModel:
        """The :class:`CameraModel` with this frame (identity pose unless ``matrix_world`` is given)."""
        kwargs = {} if matrix_world is None else {"matrix_world": tuple(tuple(float(v) for v in r)
                                                                         for r in matrix_world)}
        return CameraModel(width=self.width, height=self.height, frame=self.frame, ortho=self.ortho, clip=clip,
                           **kwargs)

    def scaled(self, factor: int) -> Intrinsics:
        """Intrinsics after keeping every ``factor``-th block: size ``(W // f, H // f)``, same left/top edges."""
        f = int(factor)
        if f < 1 or self.width // f < 2 or self.height // f < 2:
            raise BadInput(f"downsampling {self.width}×{self.height} by {factor} leaves no mesh")
        return replace(self, width=self.width // f, height=self.height // f, fx=self.fx / f, fy=self.fy / f,
                       cx=self.cx / f, cy=self.cy / f)

    def blender_camera(self) -> dict[str, float | str]:
        """Settings of a Blender camera (sensor fit ``HORIZONTAL``) and render pixel aspect matching this frame.
        The sensor is :data:`SENSOR_MM` wide unless the lens would be shorter than Blender allows
        (:data:`MIN_LENS_MM`).

        Blender's view plane for horizontal fit, in pixels: ``x ∈ [-W/2, W/2] + shift_x·W`` and
        ``y ∈ [-ycor·H/2, ycor·H/2] + shift_y·W`` with ``ycor = aspect_y / aspect_x``, scaled by
        ``sensor / (lens · W)`` on the plane ``z = -1``. Matching it to :attr:`frame` gives the values.
        An orthographic view scales by ``ortho_scale / W`` instead, so its shifts and aspect are the same
        and its ``ortho_scale`` is :attr:`ortho_width` (``lens`` does not apply).

        :return: ``lens``, ``sensor_width``, ``sensor_fit``, ``shift_x``, ``shift_y``,
            ``pixel_aspect_x``, ``pixel_aspect_y`` (the render resolution must be ``W × H``).
        """
        w, h = self.width, self.height
        ycor = self.fx / self.fy
        lens = max(self.fx * SENSOR_MM / w, MIN_LENS_MM)  # views over ~173.6° wide: a 1 mm lens, a smaller sensor
        return {
            "lens": lens,
            "sensor_width": lens * w / self.fx,
            "sensor_fit": "HORIZONTAL",
            "shift_x": (w / 2.0 - self.cx) / w,
            "shift_y": (self.cy - h / 2.0) * ycor / w,
            "pixel_aspect_x": 1.0 if ycor >= 1.0 else 1.0 / ycor,
            "pixel_aspect_y": ycor if ycor >= 1.0 else 1.0,
        }

    def to_dict(self) -> dict:
        """Plain-JSON form for metadata (an orthographic camera's has ``ortho_width``, and ``fx``/``fy`` in pixels per
        metre)."""
        return {"width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy, "cx": self.cx,
                "cy": self.cy, "convention": "pixel edges: (0, 0) = top-left corner of the first pixel",
                **({"ortho_width": self.ortho_width} if self.ortho else {})}


def resolve(width: int, height: int, fov: float | None = None, focal_px: float | None = None,
            fy: float | None = None, focal_mm: float | None = None, sensor_mm: float = SENSOR_MM,
            cx: float | None = None, cy: float | None = None, ortho_width: float | None = None,
            sensor_fit: str = "AUTO") -> tuple[Intrinsics, bool]:
    """Intrinsics from whichever camera description was given (at most one of fov, focal_px, focal_mm and, for an
    orthographic camera, its width in metres).

    :return: ``(intrinsics, explicit)``; ``explicit`` is False when the default field of view was used.
    :raises BadInput: When more than one description is given or a value is out of range.
    """
    given = [n for n, v in (("fov", fov), ("focal length in pixels", focal_px), ("focal length in mm", focal_mm),
                            ("orthographic width", ortho_width)) if v is not None]
    if len(given) > 1:
        raise BadInput(f"give one camera description, not {' and '.join(given)}")
    if focal_px is not None:
        return Intrinsics.from_focal_px(width, height, focal_px, fy, cx, cy), True
    if fy is not None:
        raise BadInput("fy needs fx (the focal length in pixels)")
    if ortho_width is not None:
        return Intrinsics.from_ortho_width(width, height, ortho_width, cx, cy), True
    if focal_mm is not None:
        return Intrinsics.from_lens(width, height, focal_mm, sensor_mm, cx, cy, sensor_fit), True
    if fov is not None:
        return Intrinsics.from_fov(width, height, fov, cx, cy), True
    return Intrinsics.from_fov(width, height, DEFAULT_FOV_DEG, cx, cy), False
