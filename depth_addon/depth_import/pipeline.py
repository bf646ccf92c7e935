# SPDX-License-Identifier: GPL-3.0-or-later
"""Everything an import does before Blender is touched: read, validate, convert, clean up, mesh arrays.

:func:`prepare` either returns a complete :class:`PreparedImport` or raises
:class:`~depth_addon.errors.BadInput`; the Blender side (``depth_addon.blender.mesh.build``) only
creates datablocks from a prepared import, so a bad input never leaves anything half-made.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..io.depth_read import stored_info
from . import intrinsics as intr
from .color_input import NO_COLOR, load_color
from .formats import MAX_PIXELS, check_size, display
from .grid import GridMesh, build_grid, plan_grid, plane_grid, plane_step, worker
from .preprocess import Preprocess, valid_mask
from .readers import read_depth
from .values import ValueSpec, background_mask, to_metres

MODES = ("reconstruct", "displace")
#: How ``displace`` mode moves the plane: a Displace modifier on a plane with a vertex per pixel, or a
#: material's Displacement output on a coarse plane with a Subdivision modifier (render-time relief).
DISPLACE_METHODS = ("modifier", "material")
COLOR_MISMATCH = ("resize", "refuse")


@dataclass(frozen=True)
class ImportOptions:
    """All options of a depth import (the CLI flags and operator properties map onto these).

    :param values: Meaning of the values (see :class:`~.values.ValueSpec`).
    :param channel: Channel/array to read (see :func:`~.readers.read_depth`).
    :param fov: Horizontal field of view in degrees.
    :param focal_px: Focal length ``fx`` in pixels (also the stereo focal length).
    :param fy: Vertical focal length in pixels (default ``fx``).
    :param focal_mm: Focal length in millimetres (with ``sensor_mm``).
    :param sensor_mm: Sensor size in millimetres, along the side ``sensor_fit`` says.
    :param sensor_fit: ``AUTO`` (the larger image side), ``HORIZONTAL`` or ``VERTICAL``, as a Blender camera's.
    :param cx: Principal point ``u`` in pixels, 0 = left edge (default: centre).
    :param cy: Principal point ``v`` in pixels, 0 = top edge (default: centre).
    :param ortho_width: An orthographic camera's view width in metres, instead of a lens.
    :param preprocess: Clean-up steps.
    :param mode: ``reconstruct`` (unprojection) or ``displace`` (relief plane).
    :param displace_method: ``modifier`` (Displace modifier, a vertex per pixel) or ``material`` (material
        displacement on a coarse plane with a Subdivision modifier); ``displace`` mode only.
    :param color_mismatch: ``resize``: use a colour image of another size at its own resolution (a copy resized to
        the depth's size only for guided denoising; a warning if its aspect ratio differs), or ``refuse`` it.
    :param from_file: What this project's own depth files record wins over the options above: their camera, and a
        PNG's mapping (the sidebar's default). Without it they fill in only what the options leave open.
    """

    values: ValueSpec = field(default_factory=ValueSpec)
    channel: str | None = None
    fov: float | None = None
    focal_px: float | None = None
    fy: float | None = None
    focal_mm: float | None = None
    sensor_mm: float = intr.SENSOR_MM
    sensor_fit: str = "AUTO"
    cx: float | None = None
    cy: float | None = None
    ortho_width: float | None = None
    preprocess: Preprocess = field(default_factory=Preprocess)
    mode: str = "reconstruct"
    displace_method: str = "modifier"
    color_mismatch: str = "resize"
    from_file: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInput(f"unknown mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.displace_method not in DISPLACE_METHODS:
            raise BadInput(f"unknown displace method {self.displace_method!r}; use one of "
                           f"{', '.join(DISPLACE_METHODS)}")
        if self.color_mismatch not in COLOR_MISMATCH:
            raise BadInput(f"color_mismatch must be one of {', '.join(COLOR_MISMATCH)}")

    @classmethod
    def from_flat(cls, **options) -> ImportOptions:
        """Build the options from flat keywords: this class's fields, :class:`ValueSpec` fields (``kind``
        may be given as ``values``), and :class:`Preprocess` fields (``normalise`` as ``normalise_range``).

        :raises BadInput: For an unknown keyword.
        """
        spec_names = {f.name for f in fields(ValueSpec)}
        pre_names = {f.name for f in fields(Preprocess)} - {"normalise"}
        own = {f.name for f in fields(cls)} - {"values", "preprocess"}
        spec, pre, mine = {}, {}, {}
        for key, value in options.items():
            if key == "values" and isinstance(value, str):
                spec["kind"] = value
            elif key == "values" and isinstance(value, ValueSpec):
                mine["values"] = value
            elif key == "normalise_range":
                pre["normalise"] = None if value is None else tuple(value)
            elif key in own:  # before ValueSpec: ``focal_px`` is the camera's (disparity uses it too)
                mine[key] = value
            elif key in spec_names:
                spec[key] = tuple(tuple(p) for p in value) if key == "known" else value
            elif key in pre_names:
                pre[key] = tuple(value) if key == "clip" and value is not None else value
            elif key == "preprocess" and isinstance(value, Preprocess):
                mine["preprocess"] = value
            else:
                raise BadInput(f"unknown import option {key!r}")
        if spec:
            mine["values"] = ValueSpec(**spec)
        if pre:
            mine["preprocess"] = Preprocess(**pre)
        return cls(**mine)


@dataclass
class PreparedImport:
    """A validated, converted and meshed depth map, ready to become datablocks.

    :param name: Base name for the datablocks (the file stem).
    :param depth: H×W metres after pre-processing (NaN invalid), the grid's depth.
    :param intrinsics: Intrinsics of ``depth``.
    :param render_size: Render resolution for the camera (the depth's size before downsampling, cropped).
    :param grid_job: The mesh arrays (camera space) being built on a worker thread; read :attr:`grid`.
    :param grid_size: ``(vertices, edges, faces)`` of that grid, known before it is built (None for the
        coarse plane of material displacement).
    :param mode: ``reconstruct`` or ``displace``.
    :param displace_method: ``modifier`` or ``material`` (``displace`` mode).
    :param depth_range: Smallest and largest valid depth (metres).
    :param displace_depth: Depth at which the flat displace grid is scaled (median valid depth).
    :param color: H×W×3 float32 colour at its own size when it must be stored from memory (given as an array, a
        multilayer EXR's pass, a photo turned upright whose pixels are not 8-bit), else None.
    :param color_path: Colour file to load as is (any size: the UVs span the whole image), else None.
    :param color_file: A photo turned upright, as an image file kept packed as it is, else None.
    :param color_linear: True when the colour values are scene-linear (EXR, float TIFF).
    :param warnings: Messages for the user (e.g. colour turned upright).
    :param stages: Pre-processing previews (when asked for).
    :param info: Provenance: source file, channel, conversion, options.
    :param timings: Seconds per phase.
    :param uv_extent: Grid pixels that span UV 0..1 when downsampling cropped a remainder (see ``grid.build_grid``),
        else None: the depth image then spans less than the UVs (:meth:`depth_crop`).
    """

    name: str
    depth: np.ndarray
    intrinsics: intr.Intrinsics
    render_size: tuple[int, int]
    grid_job: Future
    mode: str
    grid_size: tuple[int, int, int] | None = None
    displace_method: str = "modifier"
    depth_range: tuple[float, float] = (0.0, 0.0)
    displace_depth: float = 0.0
    color: np.ndarray | None = None
    color_path: str | None = None
    color_file: bytes | None = None
    color_linear: bool = False
    warnings: list[str] = field(default_factory=list)
    stages: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    uv_extent: tuple[float, float] | None = None

    def depth_crop(self) -> tuple[float, float]:
        """``(right, bottom)`` in the depth image's own 0..1 coordinates (bottom up) at UV ``(1, 0)``: where the UVs
        that span the colour image reach in the depth image, which downsampling cropped; ``(1, 0)`` uncropped."""
        if self.uv_extent is None:
            return 1.0, 0.0
        h, w = self.depth.shape
        return self.uv_extent[0] / w, 1.0 - self.uv_extent[1] / h

    @property
    def grid(self) -> GridMesh:
        """The mesh arrays (waits for the worker thread the first time)."""
        return self.grid_job.result()


def _raw_from_array(values: np.ndarray) -> tuple[np.ndarray, float]:
    a = np.asarray(values)
    if a.dtype.kind not in "uif" or a.ndim != 2:
        raise BadInput(f"depth array must be H×W integers or floats, got {a.dtype} with shape {a.shape}")
    check_size(a.shape[1], a.shape[0], "depth array")
    return a.astype(np.float32), float(np.iinfo(a.dtype).max) if a.dtype.kind in "ui" else 0.0


def prepare(depth_source, color_source=None, options: ImportOptions | None = None,
            keep_stages: bool = False) -> PreparedImport:
    """Read, validate, convert and pre-process a depth map and build its mesh arrays.

    :param depth_source: Depth file path, or an H×W array of raw values.
    :param color_source: Colour image path, an H×W×3 array in [0, 1], or None.
    :param options: What the values mean, the camera, clean-up and mode.
    :param keep_stages: Keep a preview of each pre-processing step.
    :raises BadInput: For every input problem, before anything is allocated in Blender.
    """
    options = options or ImportOptions()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    values, integer_max, name, where, source = _read_source(depth_source, options.channel)
    h, w = values.shape
    warnings: list[str] = []
    values, integer_max, cam, explicit = _lens_and_values(depth_source, values, integer_max, options, source, warnings)
    color = NO_COLOR
    need = options.preprocess.denoise == "guided"
    color_job = None  # the colour image decodes on the worker thread while the depth is converted and cleaned up
    if color_source is not None:
        color_job = worker().submit(load_color, color_source, (w, h), options.color_mismatch, warnings, need)
    timings["read"] = time.perf_counter() - t

    t = time.perf_counter()
    try:
        depth, conversion, background = _converted(values, integer_max, options, source, cam if explicit else None,
                                                   where)
        if source.get("stored_radial"):  # the camera's Z, as the grid unprojects it
            depth = cam.camera_model().radial_to_planar(depth).astype(np.float32)
            conversion["radial_to_planar"] = True
    except BaseException:
        if color_job is not None:
            color_job.cancel()
        raise
    if color_job is not None and need:  # guided filtering reads the colour (at the depth's size)
        color = color_job.result()
    timings["convert"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        pre = options.preprocess.run(depth, cam, color.guide if need else None, keep_stages, background)
    finally:  # otherwise joined after the clean-up (which overlaps the decode) but before any grid work
        if color_job is not None and not need:
            color = color_job.result()
    timings["preprocess"] = time.perf_counter() - t

    f = options.preprocess.downsample
    lo, hi, ok = _valid_range(pre.depth)
    valid_fraction = 1.0 if ok is None else np.count_nonzero(ok) / ok.size
    displace_depth = float(np.median(pre.depth if ok is None else pre.depth[ok])) if options.mode == "displace" else 0.0

    coarse = options.mode == "displace" and options.displace_method == "material"
    plan = None if coarse else plan_grid(pre.keep)  # the sizes now: Blender allocates while the arrays are built
    uv_extent = (w / f, h / f) if f > 1 else None
    grid_job = worker().submit(_grid, pre, plan, displace_depth, uv_extent, timings)
    info = {**source, "conversion": conversion, "intrinsics": pre.intrinsics.to_dict(), "mode": options.mode,
            **({"displace_method": options.displace_method} if options.mode == "displace" else {}),
            "camera_given": explicit, "valid_fraction": valid_fraction, "max_pixels": MAX_PIXELS}
    return PreparedImport(
        name=name, depth=pre.depth, intrinsics=pre.intrinsics, grid_job=grid_job, mode=options.mode,
        grid_size=None if plan is None else (plan.vertex_count, plan.edge_count, plan.face_count),
        displace_method=options.displace_method, depth_range=(lo, hi),
        render_size=(pre.intrinsics.width * f, pre.intrinsics.height * f),
        displace_depth=displace_depth, color=color.array, color_path=color.path, color_file=color.encoded,
        color_linear=color.linear,
        warnings=warnings, stages=pre.stages, info=info, timings=timings, uv_extent=uv_extent)


def _converted(values: np.ndarray, integer_max: float, options: ImportOptions, source: dict,
               cam: intr.Intrinsics | None, where: str) -> tuple[np.ndarray, dict, np.ndarray | None]:
    """``(metres with NaN where invalid, the conversion's record, the background mask or None)``; this project's
    own files (a PNG's mapping, or read as recorded) are in metres already. ``values`` may be reused.

    :param cam: The camera when one was given or recorded (its focal length for disparity), else None.
    """
    ours = "stored_mapping" in source or (options.from_file and "stored_camera" in source)
    spec = ValueSpec() if ours else options.values
    if spec.kind == "disparity" and cam is not None and cam.ortho:
        raise BadInput("stereo disparity needs a perspective camera: an orthographic one has no focal length")
    background = background_mask(values, spec)  # before the conversion, which may reuse ``values``
    depth, conversion = to_metres(values, spec, integer_max, None if cam is None else cam.fx, where, copy=False)
    if background is not None:
        depth[background] = np.nan
        conversion["background_pixels"] = int(np.count_nonzero(background))
    return depth, conversion, background


def _lens_and_values(path, values: np.ndarray, integer_max: float, options: ImportOptions, source: dict,
                     warnings: list[str]) -> tuple[np.ndarray, float, intr.Intrinsics, bool]:
    """The camera the options describe, and what this project's own depth files carry where the options leave it
    open (or with ``from_file``): the camera they were rendered from, and a PNG's mapping of metres to values (the
    code of its far end is the background, as written).

    :return: ``(values, integer_max, intrinsics, explicit)``, the values in metres when a mapping was used;
        ``explicit`` is False when the default field of view was taken.
    """
    cam, explicit = intr.resolve(values.shape[1], values.shape[0], options.fov, options.focal_px, options.fy,
                                 options.focal_mm, options.sensor_mm, options.cx, options.cy, options.ortho_width,
                                 options.sensor_fit)
    camera, mapping, focal, radial = (None, None, None, False) if isinstance(path, np.ndarray) else stored_info(path)
    if radial:
        source["stored_radial"] = True  # distances along the rays: made planar once in metres
    if mapping is not None and (options.values == ValueSpec() or options.from_file) and integer_max > 0:
        coded = values * np.float32(1.0 / integer_max)
        values = mapping.unapply(coded)
        background = np.float32(mapping.apply(np.array([np.inf]))[0])  # the code the far end and the sky get
        values[coded == background] = np.nan  # the sky or a surface at or beyond the far end: one code, so a hole
        integer_max = 0.0
        source["stored_mapping"] = mapping.to_dict()
    elif options.values == ValueSpec() and integer_max > 0 and options.preprocess.normalise is None:
        finite = values[np.isfinite(values)]
        if finite.size:
            warnings.append(f"the integer values ({finite.min():.0f}–{finite.max():.0f}) are taken as metres; say "
                            "what they are with values (inverse, disparity), scale or normalise")
    if (not explicit or options.from_file) and camera is not None and (camera.width, camera.height) == (
            cam.width, cam.height):
        cam, explicit = intr.Intrinsics.from_camera_model(camera), True
        source["stored_camera"] = True
        source["stored_pose"] = camera.matrix.tolist()  # camera to world, metres: the import is placed there
    elif (not explicit or options.from_file) and focal is not None:  # an estimate's lens (Depth Pro, a scene)
        cam, explicit = intr.Intrinsics.from_focal_px(cam.width, cam.height, focal, None, options.cx, options.cy), True
        source["stored_focal_px"] = focal
    elif not explicit:
        warnings.append(f"no lens given: a {np.degrees(cam.fov_x):.1f}° horizontal field of view is assumed (set "
                        "the field of view or the focal length)")
    return values, integer_max, cam, explicit


def _read_source(depth_source, channel: str | None) -> tuple[np.ndarray, float, str, str, dict]:
    """Raw values of a depth file or array: ``(values, integer_max, name, where, source info)``.

    :param depth_source: Depth file path, or an H×W array of raw values.
    :param channel: EXR channel to read, or None for the default.
    """
    if isinstance(depth_source, np.ndarray):
        values, integer_max = _raw_from_array(depth_source)
        return values, integer_max, "Depth", "depth array", {"source": "array"}
    raw = read_depth(depth_source, channel)
    source = {"source": os.fspath(depth_source), "format": raw.info.format, "channel": raw.channel}
    return raw.values, raw.integer_max, Path(depth_source).stem, display(depth_source), source


def _valid_range(depth: np.ndarray) -> tuple[float, float, np.ndarray | None]:
    """``(near, far, valid mask)`` of cleaned depth; the mask is None when every pixel is valid."""
    lo, hi = float(depth.min()), float(depth.max())  # NaN propagates: finite and positive = all valid
    ok = None if 0 < lo <= hi < np.inf else valid_mask(depth)
    if ok is not None:
        lo, hi = float(depth.min(where=ok, initial=np.inf)), float(depth.max(where=ok, initial=-np.inf))
    return lo, hi, ok


def _grid(pre, plan, displace_depth: float, uv_extent: tuple[float, float] | None, timings: dict) -> GridMesh:
    """The mesh arrays (pure numpy on valid input: runs on worker threads while the caller goes on)."""
    t = time.perf_counter()
    intr = pre.intrinsics
    flat = intr.flat_scale(displace_depth) if displace_depth else None
    if plan is None:  # a coarse plane to subdivide and displace at render time
        shape = pre.depth.shape
        mesh = plane_grid(shape, intr.frame, pre.keep, plane_step(shape[1], shape[0]), flat, uv_extent)
    else:
        mesh = build_grid(pre.depth, intr.frame, pre.keep, flat, uv_extent, plan, intr.ortho)
    timings["grid"] = time.perf_counter() - t
    return mesh
