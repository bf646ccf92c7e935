# SPDX-License-Identifier: GPL-3.0-or-later
"""One generation path for every route: a use case is a *flow* that asks for images and gets them back.

A flow is a Python generator. It does its Blender work on the main thread (render depth, reproject
earlier views, write the result back) and, wherever it needs an image, yields a
:class:`GenerateRequest` and receives a :class:`Generated`. Who answers decides where the generator runs:

* :func:`run_local` answers in this process (the command line, scripts and :mod:`depth_addon.api`);
* :class:`depth_addon.app.jobs.JobQueue` answers from the worker process, one request per timer tick,
  so Blender never blocks, shows progress and cancels with Esc (every operator that generates).

Both run the same flow, so both write back through the same code: the same image names, the same
provenance, and Regenerate and Remove work on whatever either route made. Between the steps of a long
write-back a flow may yield :data:`PAUSE`, so the queue keeps each timer tick short. Closing a flow (a cancel)
raises ``GeneratorExit`` at its ``yield``; flows change the scene only after their last request, or
undo what they changed in a ``finally``/``except``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..camera import CameraModel
from ..errors import BadInput, Cancelled
from ..estimation.estimator import Estimate, estimate_photo
from ..generation import DEFAULT_GENERATOR, generator_maps, get_generator
from ..generation.base import region_prompts
from ..generation.delight import generate_layers
from ..generation.maps import check_maps, flat_maps_warning, refused_maps
from ..texturing import provenance as prov

Progress = Callable[[float, str], None]


@dataclass
class GenerateRequest:
    """One image a flow needs.

    :param depth: H×W planar depth in metres (``inf`` background).
    :param mask: H×W bool, True on geometry.
    :param camera: The depth's camera model.
    :param prompt: Prompt.
    :param seed: Seed.
    :param init_image: H×W×3 paint already there (generators that inpaint take it), or None.
    :param init_mask: H×W bool, True where the generator may paint, or None.
    :param segments: H×W integer segment map (:mod:`depth_addon.generation.segments`), or None.
    :param segment_prompts: One prompt per segment id (generators that paint regions take both).
    :param segment_texts: The same as typed (free-text generators read these instead), or None.
    :param start: Overall progress when this request starts, 0..1.
    :param span: Share of the overall progress this request covers.
    :param message: What the request is, for progress lines ("view 2 of 4").
    :param maps: Also ask for the material maps (:mod:`depth_addon.generation.maps`); generators without maps of
        their own get maps estimated from their image (:mod:`depth_addon.generation.delight`), with a flat height
        (:func:`wanted_maps` refuses a request that names maps the generator cannot give).
    :param world_cell: Paint in world space with this pattern cell in metres (generators that take it), so the
        views of one run agree (:mod:`depth_addon.generation.anchor`).
    """

    depth: np.ndarray
    mask: np.ndarray
    camera: CameraModel | None
    prompt: str = ""
    seed: int = 0
    init_image: np.ndarray | None = None
    init_mask: np.ndarray | None = None
    segments: np.ndarray | None = None
    segment_prompts: list[str] | None = None
    segment_texts: list[str] | None = None
    start: float = 0.1
    span: float = 0.7
    message: str = "generating"
    maps: bool = False
    world_cell: float | None = None


@dataclass
class EstimateRequest:
    """A photo's depth a flow needs (answered with an :class:`~depth_addon.estimation.estimator.Estimate`).

    :param photo: Photo file.
    :param model: Estimator weights folder; the default folder when empty.
    :param device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
    :param start: Overall progress when this request starts, 0..1.
    :param span: Share of the overall progress this request covers.
    :param message: What the request is, for progress lines.
    """

    photo: str
    model: str = ""
    device: str = "cpu"
    start: float = 0.0
    span: float = 0.6
    message: str = "estimating depth"


@dataclass
class Generated:
    """An image a flow asked for, and what made it (for the provenance record).

    :param rgb: H×W×3 float32 sRGB in [0, 1].
    :param generator: Registry name of the generator that made it.
    :param fingerprint: Identity of its weights or code
        (:func:`~depth_addon.texturing.provenance.generator_fingerprint`).
    :param maps: Material maps (:mod:`depth_addon.generation.maps`) when the request asked for them.
    """

    rgb: np.ndarray
    generator: str
    fingerprint: str = "unknown"
    maps: dict | None = None


class Pause:
    """Yielded by a flow between main-thread steps of its write-back: the job queue runs the next step on the
    next timer tick, so Blender redraws in between (in this process the flow simply goes on)."""


#: The one :class:`Pause`.
PAUSE = Pause()

#: A use case: yields requests (or :data:`PAUSE`), receives images or estimates (or None), returns its result.
Flow = Generator[GenerateRequest | EstimateRequest | Pause, Generated | Estimate | None, Any]


@dataclass
class LocalGenerator:
    """The generator of :func:`run_local`, built on the first request and kept for the flow's others.

    :param name: Registry name; the default generator when empty.
    :param options: Keyword arguments of ``generate`` the generator accepts (``negative_prompt``, ``steps`` …).
    """

    name: str | None = None
    options: dict = field(default_factory=dict)
    _instance: object | None = field(default=None, init=False, repr=False)

    def __call__(self, request: GenerateRequest, progress: Progress | None,
                 cancel: Callable[[], bool] | None) -> Generated:
        """Generate the image ``request`` asks for, in this process."""
        if self._instance is None:
            self._instance = get_generator(self.name)
        gen = self._instance
        extra = {k: v for k, v in self.options.items() if v not in (None, "") and accepts(gen, k)}
        for key in ("init_image", "init_mask", "segments", "segment_prompts", "world_cell"):
            value = getattr(request, key)
            if key == "segment_prompts":
                value = region_prompts(gen, value, request.segment_texts)
            if value is not None and accepts(gen, key):
                extra[key] = value
        maps = None
        if request.maps:
            layers = generate_layers(gen, request.depth, request.mask, request.prompt, request.seed, request.camera,
                                     progress=progress, cancel=cancel, **extra)
            rgb, maps = layers.rgb, layers.maps
        else:
            rgb = gen.generate(request.depth, request.mask, prompt=request.prompt, seed=request.seed,
                               camera=request.camera, progress=progress, cancel=cancel, **extra)
        return Generated(np.asarray(rgb, np.float32)[..., :3], getattr(gen, "name", self.name or "default"),
                         prov.generator_fingerprint(gen), maps)


def wanted_maps(maps: object, generator: str | None) -> bool:
    """Whether a run asks for material maps, its ``maps`` argument checked.

    ``True`` asks for the relightable material: a generator that only paints a picture gives it with estimated maps
    and a flat height (the run warns). Maps asked for by name must be ones the generator gives.

    :param maps: ``True``, ``False``, None, a map name or a list of map names (:func:`~.maps.check_maps`).
    :param generator: Generator name; the default generator when None.
    :raises BadInput: For an unknown map name (naming the maps), or a map the generator cannot give (naming the
        ones it gives).
    """
    asked = check_maps(maps)
    if maps is not None and not isinstance(maps, bool):
        refused = refused_maps(generator or DEFAULT_GENERATOR, generator_maps(generator), asked)
        if refused:
            raise BadInput(refused)
    return bool(asked)


def relief_notes(generator: str, heights: list, bake: bool, displacement: bool = False) -> list[str]:
    """The warning for maps estimated from a picture (:func:`~.maps.flat_maps_warning`) when the generator gives no
    height map, by what it declares (:func:`~depth_addon.generation.generator_maps`), or, for one not known here,
    by its height maps all being flat; else none.

    :param generator: The generator's name.
    :param heights: The run's height maps (None where a view has none).
    :param bake: A bake rather than a projection.
    :param displacement: The height map was asked to displace the surface.
    """
    given = generator_maps(generator)
    flat = "height" not in given if given is not None else not any(h is not None and np.any(h) for h in heights)
    return [flat_maps_warning(generator, bake, displacement)] if flat else []


def accepts(gen, name: str) -> bool:
    """True when ``gen.generate`` takes the keyword ``name`` (or any keyword)."""
    try:
        params = inspect.signature(gen.generate).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def run_local(flow: Flow, generator: str | None = None, options: dict | None = None,
              progress: Progress | None = None, cancel: Callable[[], bool] | None = None):
    """Drive ``flow`` in this process and return its result.

    :param flow: The use case (its first step has not run yet).
    :param generator: Generator name; the default generator when None.
    :param options: Further ``generate`` keywords (``negative_prompt``, ``steps``, ``strength`` …).
    :param progress: Called with ``(fraction, message)`` while generating.
    :param cancel: Polled inside generation; True closes the flow and raises :class:`Cancelled`.
    """
    local = LocalGenerator(generator, dict(options or {}))
    try:
        request = next(flow)
        while True:
            if cancel is not None and cancel():
                raise Cancelled("cancelled by the user")
            if request is PAUSE:
                request = flow.send(None)
                continue
            inner = None
            if progress is not None:
                start, span, message = request.start, request.span, request.message

                def inner(f: float, m: str, start=start, span=span, message=message) -> None:
                    progress(start + span * f, f"{message}: {m}" if m else message)

            if isinstance(request, EstimateRequest):
                request = flow.send(estimate_photo(request.photo, request.model or None, request.device))
                continue
            request = flow.send(local(request, inner, cancel))
    except StopIteration as stop:
        return stop.value
    finally:
        flow.close()


def reporter(progress: Progress | None, cancel: Callable[[], bool] | None) -> Progress:
    """One callback for a flow's main-thread stages: reports progress, raises :class:`Cancelled` when asked to.

    :param progress: Called with ``(fraction, message)``, or None.
    :param cancel: Polled on every report, or None.
    """

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the user")

    return report
