# SPDX-License-Identifier: GPL-3.0-or-later
"""Depth-conditioned generation with diffusers: SD 1.5 or SDXL plus a depth ControlNet, or FLUX.1-Depth (no bpy).

An optional backend for users with a GPU and their own weights. torch, diffusers and transformers
are imported only when a model is loaded, so the add-on works without them. Weights come from a
local folder the user picked (a hub id only with ``allow_online``), as ``.safetensors`` only: the
folder is checked file by file before anything is loaded (see :mod:`.diffusers_load`).

The control image is our inverse-depth mapping (near = white, far and background = black) with a
robust per-image range, handed to the pipeline as a float tensor replicated to three channels: no
8-bit round trip. Sizes are padded (edge pixels repeated) to the model's stride and cropped back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..camera import CameraModel
from ..errors import BadInput, Cancelled, ModelUnavailable
from .base import CancelFn, ProgressFn, Steps, resize_depth, validate_depth, validate_seed, validate_size
from .diffusers_files import check_controlnet, read_json, scan_folder, sha256_of, verify_hashes
from .diffusers_import import fail_load, import_diffusers, load_errors, no_progress_bars, pipeline_class
from .diffusers_inputs import check_init, control_image, init_args, init_tensors, keep_painted, variant
from .diffusers_load import (
    FAMILY_DEFAULTS,
    INSTALL_COMMAND,
    BackendConfig,
    check_ram,
    components,
    config_from_env,
    detect_family,
    estimate_memory,
    free_released,
    is_hub_id,
    pick_device,
    plan_offload,
)
from .regional import masked_passes, prompt_masks

__all__ = ["BackendConfig", "DiffusersGenerator", "config_from_env", "control_image", "estimate_memory",
           "import_diffusers", "sha256_of", "verify_hashes"]

PIPELINES = {
    "sd15-controlnet": "StableDiffusionControlNetPipeline",
    "sdxl-controlnet": "StableDiffusionXLControlNetPipeline",
    "flux-depth": "FluxControlPipeline",
}
#: Sizes the families were trained at; memory is planned for at least this many pixels.
NATIVE_SIDE = {"sd15-controlnet": 512, "sdxl-controlnet": 1024, "flux-depth": 1024}
#: Why nothing can load when no model is set, and where to set one.
NO_MODEL = ("no diffusers model configured: choose the folder of a diffusers model (with model_index.json) as Model "
            "Folder in the add-on preferences, or headless in DEPTH_ADDON_DIFFUSERS='{\"model\": \"/path/to/folder\"}'")
#: Config fields whose change needs the model loaded again.
LOAD_FIELDS = ("family", "model", "controlnet", "device", "dtype", "cpu_offload", "allow_online", "revision",
               "variant", "sha256")


class DiffusersGenerator:
    """Generator backed by a diffusers pipeline; the model is loaded at the first ``generate`` and kept.

    :param config: Model and run options (:func:`config_from_env` when None); per-call keywords of
        :meth:`generate` override them.
    """

    name = "diffusers"
    #: Regions get the scene prompt's phrases as typed (:func:`~depth_addon.generation.base.region_prompts`).
    reads_free_text = True

    def __init__(self, config: BackendConfig | None = None) -> None:
        self.config = config if config is not None else config_from_env()
        self.pipe = None
        self.family = ""
        self.device = ""
        self.dtype = ""
        self.offload = ""
        self.last_estimate: dict | None = None
        self._loaded: BackendConfig | None = None
        self._planned_pixels = 0
        self._slicing = False
        self._variants: dict = {}  # image-to-image and inpainting pipelines sharing :attr:`pipe`'s weights

    @property
    def weights_hash(self) -> str:
        """What a provenance record names as this generator's weights: the model folder's name and a hash of every
        setting (model and ControlNet paths, family, steps, guidance, dtype …), so a record tells which ran."""
        settings = json.dumps(dataclasses.asdict(self.config), sort_keys=True, default=str)
        return f"diffusers:{Path(str(self.config.model)).name}:{hashlib.sha256(settings.encode()).hexdigest()[:16]}"

    # --- loading ---------------------------------------------------------------------------------------

    def release(self) -> None:
        """Drop the loaded pipeline and free it now (:func:`.free_released`): a reload's RAM check must not count it."""
        held = self.pipe is not None or bool(self._variants)
        self.pipe, self._loaded, self._planned_pixels, self._slicing = None, None, 0, False
        self._variants = {}
        if held:
            free_released()

    def check_configured(self) -> None:
        """The first checks of :meth:`load`, without importing torch or reading weights (``depth_cli info``): a
        model is set and, unless it is a hub id allowed online, its folder holds safetensors weights only.

        :raises ModelUnavailable: As :meth:`load` would, naming what is missing or refused.
        """
        cfg = self.config
        if not cfg.model:
            raise ModelUnavailable(NO_MODEL)
        base = Path(cfg.model).expanduser()
        if base.is_dir() or not (cfg.allow_online and is_hub_id(cfg.model)):
            scan_folder(base, "model_index.json")

    def load(self, config: BackendConfig | None = None, size: tuple[int, int] = (512, 512)) -> None:
        """Check the files, plan memory for ``size`` and load the pipeline onto its device.

        :param config: Options to load with; :attr:`config` when None.
        :param size: Largest ``(width, height)`` expected; memory is planned for at least the
            family's native size.
        :raises ModelUnavailable: For missing, refused or unloadable weights, missing packages or
            too little accelerator memory.
        :raises BadInput: For a model of the wrong family or an incompatible ControlNet.
        """
        cfg = config if config is not None else self.config
        if not cfg.model:
            raise ModelUnavailable(NO_MODEL)
        torch, diffusers = import_diffusers(offline=not cfg.allow_online)
        self.release()
        base = Path(cfg.model).expanduser()
        local = base.is_dir() or not (cfg.allow_online and is_hub_id(cfg.model))
        kwargs: dict = {}
        if local:
            scan_folder(base, "model_index.json")
            index = read_json(base / "model_index.json")
            family = detect_family(index, cfg.family)
        elif cfg.family == "auto":
            raise BadInput(f"give the family for the hub model {cfg.model!r} (sd15-controlnet, sdxl-controlnet "
                           "or flux-depth)")
        else:
            family, index = cfg.family, None
        verify_hashes(cfg.sha256, base if local else None)
        device, dtype = pick_device(cfg.device, cfg.dtype)
        tdtype = getattr(torch, dtype)
        if family == "flux-depth":
            if cfg.controlnet:
                raise BadInput("flux-depth takes a FLUX.1-Depth-dev folder; a separate ControlNet is not supported")
            if local:
                tcfg = read_json(base / "transformer" / "config.json")
                if tcfg.get("in_channels") != 2 * (tcfg.get("out_channels") or tcfg.get("in_channels")):
                    raise BadInput(f"{base} is not a FLUX depth-control model (FLUX.1-Depth-dev): its transformer "
                                   f"takes {tcfg.get('in_channels')} channels")
        elif not cfg.controlnet and index is not None and "controlnet" not in components(index):
            raise ModelUnavailable(f"the {family} family needs a depth ControlNet: set controlnet to its folder "
                                   "or .safetensors file")
        if family != "flux-depth" and cfg.controlnet and (Path(cfg.controlnet).expanduser().exists()
                                                          or not (cfg.allow_online and is_hub_id(cfg.controlnet))):
            check_controlnet(Path(cfg.controlnet).expanduser())
        offload, size = self._plan(cfg, family, device, size, local)  # before any weight is read
        with no_progress_bars():
            if family != "flux-depth" and cfg.controlnet:
                kwargs["controlnet"] = self._load_controlnet(cfg, diffusers, tdtype, base if local else None)
        if offload != "none" and importlib.util.find_spec("accelerate") is None:
            raise ModelUnavailable(f"cpu_offload={offload!r} needs the accelerate package; install it with: "
                                   f"{INSTALL_COMMAND}")
        cls = pipeline_class(diffusers, PIPELINES[family])
        online = {"revision": cfg.revision} if not local and cfg.revision else {}
        try:
            with no_progress_bars():
                pipe = cls.from_pretrained(str(base) if local else cfg.model, dtype=tdtype, use_safetensors=True,
                                           local_files_only=not cfg.allow_online, variant=cfg.variant, **online,
                                           **kwargs)
        except load_errors() as exc:
            raise fail_load(cfg.model, exc) from exc
        pipe.set_progress_bar_config(disable=True)
        self._place(pipe, device, offload)
        self.pipe, self.family, self.device, self.dtype, self.offload = pipe, family, device, dtype, offload
        self._loaded, self._planned_pixels = cfg, size[0] * size[1]

    def _plan(self, cfg: BackendConfig, family: str, device: str, size: tuple[int, int],
              local: bool) -> tuple[str, tuple[int, int]]:
        """Plan memory for ``size`` (at least the family's native size): refuse weights that would not fit in RAM
        (:func:`~.diffusers_load.check_ram`) or on the accelerator, and pick the offload mode.

        :return: ``(offload mode, planned size)``.
        :raises ModelUnavailable: With the estimate and what is free, when the model does not fit.
        """
        side = NATIVE_SIDE[family]
        size = (max(size[0], side), max(size[1], side)) if size[0] * size[1] < side * side else size
        if not local:  # a hub model: nothing on disk to estimate from
            return ("none" if device == "cpu" or cfg.cpu_offload == "auto" else cfg.cpu_offload), size
        self.last_estimate = estimate_memory(dataclasses.replace(cfg, family=family), size)
        check_ram(self.last_estimate, cfg.model)
        if device == "cpu":
            return "none", size
        return plan_offload(self.last_estimate["peak_bytes"], self.last_estimate["free_bytes"], cfg.cpu_offload), size

    @staticmethod
    def _load_controlnet(cfg: BackendConfig, diffusers, tdtype, base: Path | None):
        """The ControlNet model from a folder, a single safetensors file or (online) a hub id."""
        path = Path(cfg.controlnet).expanduser()
        folder = path.parent if path.is_file() else path
        if base is not None and (folder / "config.json").is_file():
            have = read_json(folder / "config.json").get("cross_attention_dim")
            want = read_json(base / "unet" / "config.json").get("cross_attention_dim")
            if have != want:
                raise BadInput(f"the ControlNet {path} was made for another base model (cross_attention_dim "
                               f"{have}, the base model has {want})")
        common = {"dtype": tdtype, "local_files_only": not cfg.allow_online}
        try:
            if path.is_file():  # checked by check_controlnet, as a folder is
                has_config = (folder / "config.json").is_file()
                if not has_config and not cfg.allow_online:
                    raise ModelUnavailable(f"{path} needs its config.json in the same folder (or allow online access "
                                           "so diffusers can fetch a default one)")
                return diffusers.ControlNetModel.from_single_file(
                    str(path), config=str(folder) if has_config else None, **common)
            if path.is_dir() or not (cfg.allow_online and is_hub_id(cfg.controlnet)):
                variant = cfg.variant if cfg.variant and any(path.glob(f"*.{cfg.variant}*.safetensors")) else None
                return diffusers.ControlNetModel.from_pretrained(str(path), use_safetensors=True, variant=variant,
                                                                 **common)
            return diffusers.ControlNetModel.from_pretrained(cfg.controlnet, use_safetensors=True,
                                                             revision=cfg.revision, **common)
        except load_errors() as exc:
            raise fail_load(path, exc) from exc

    @staticmethod
    def _place(pipe, device: str, offload: str) -> None:
        """Move ``pipe`` to ``device``, or let accelerate offload it."""
        if device == "cpu" or offload == "none":
            pipe.to(device)
        elif offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.enable_sequential_cpu_offload(device=device)

    # --- generation ------------------------------------------------------------------------------------

    def resolve(self, options: Mapping | None = None, **overrides: object) -> BackendConfig:
        """:attr:`config` with ``options`` (any :class:`BackendConfig` fields) and non-empty overrides applied.

        :param options: Field values, for instance from the UI or a worker request.
        :param overrides: ``model``, ``controlnet``, ``device``, ``steps``, ``control_scale``, ``negative_prompt``;
            None and empty values are skipped.
        :raises BadInput: For unknown or invalid options.
        """
        merged = {**self.config.to_dict(), **dict(options or {})}
        merged.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return BackendConfig.from_dict(merged)

    @staticmethod
    def _call_args(cfg: BackendConfig, family: str, control, prompt: str, seed: int, report: Steps,
                   cancel: CancelFn | None, torch) -> dict:
        """Keyword arguments of the pipeline call, with a step callback that reports and cancels.

        :param cfg: The resolved configuration.
        :param family: The loaded pipeline family.
        :param control: 1×3×H×W control tensor (sides padded to the VAE stride).
        :param prompt: Prompt.
        :param seed: Seed of the CPU generator.
        :param report: Progress.
        :param cancel: Polled after every step.
        :param torch: The torch module.
        """
        n_steps, guidance, scale = (v if v is not None else d for v, d in zip(
            (cfg.steps, cfg.guidance, cfg.control_scale), FAMILY_DEFAULTS[family], strict=True))

        def on_step_end(pipeline, i: int, _t, tensors: dict) -> dict:
            if cancel is not None and cancel():
                pipeline._interrupt = True
                raise Cancelled("image generation cancelled")
            total = getattr(pipeline, "_num_timesteps", None) or n_steps
            report(0.05 + 0.9 * (i + 1) / total, f"step {i + 1}/{total}")
            return tensors

        args = {"prompt": prompt or "", "height": control.shape[2], "width": control.shape[3],
                "num_inference_steps": int(n_steps), "guidance_scale": float(guidance),
                "generator": torch.Generator("cpu").manual_seed(seed), "output_type": "np",
                "callback_on_step_end": on_step_end}
        if family == "flux-depth":
            args["control_image"] = control
        else:
            args.update(image=control, negative_prompt=cfg.negative_prompt or None,
                        controlnet_conditioning_scale=float(scale))
        return args

    def generate(
        self,
        depth: np.ndarray,
        mask: np.ndarray | None = None,
        prompt: str = "",
        seed: int = 0,
        size: tuple[int, int] | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        camera: CameraModel | None = None,
        negative_prompt: str | None = None,
        steps: int | None = None,
        strength: float | None = None,
        device: str | None = None,
        model_dir: str | None = None,
        controlnet_dir: str | None = None,
        options: Mapping | None = None,
        segments: np.ndarray | None = None,
        segment_prompts: list[str] | None = None,
        init_image: np.ndarray | None = None,
        init_mask: np.ndarray | None = None,
        denoise: float | None = None,
    ) -> np.ndarray:
        """Generate an image for ``depth`` (see :class:`~.base.Generator`); the camera is not used.

        :param negative_prompt: What to avoid (SD 1.5 and SDXL); overrides the config.
        :param steps: Sampling steps; overrides the config.
        :param strength: ControlNet conditioning scale; overrides the config.
        :param device: ``cuda``, ``mps`` or ``cpu`` overrides the config; ``auto`` keeps the config's choice.
        :param model_dir: Base model folder; overrides the config.
        :param controlnet_dir: Depth ControlNet folder or ``.safetensors`` file; overrides the config.
        :param options: Further :class:`BackendConfig` fields.
        :param segments: H×W integer segment map; with ``segment_prompts``, regional prompting: one pipeline
            pass per distinct prompt, each kept on its own segments (see :mod:`.regional`).
        :param segment_prompts: One prompt per segment id.
        :param init_image: H×W×3 paint already there (sRGB in [0, 1], the depth's size): restyled alone, kept outside
            ``init_mask`` with it (see :mod:`.diffusers_inputs`).
        :param init_mask: H×W bool, True where the generator may paint (inpainting), or None.
        :param denoise: How much of ``init_image`` is repainted, (0, 1]: 0.75 for image-to-image, 1 for inpainting.
        :return: H×W×3 float32 sRGB in [0, 1].
        :raises BadInput: For unusable depth, size, seed or options.
        :raises ModelUnavailable: When the model cannot be loaded (see :meth:`load`).
        :raises Cancelled: When ``cancel()`` returned True.
        """
        seed = validate_seed(seed)
        depth, mask = validate_depth(depth, mask)
        w, h = validate_size(size, depth.shape)
        groups = prompt_masks(segments, segment_prompts, prompt or "", depth.shape, (w, h))
        paint, keep = check_init(init_image, init_mask, depth.shape)
        depth, mask = resize_depth(depth, mask, (w, h))
        cfg = self.resolve(options, model=model_dir, controlnet=controlnet_dir,
                           device=None if device == "auto" else device, steps=steps, control_scale=strength,
                           negative_prompt=negative_prompt)
        report = Steps(progress, cancel)
        if self.pipe is None or self._loaded is None or any(
                getattr(cfg, f) != getattr(self._loaded, f) for f in LOAD_FIELDS) or w * h > self._planned_pixels:
            report(0.0, "loading model")
            self.load(cfg, (w, h))
        report(0.02, "preparing")
        torch, _ = import_diffusers(offline=not cfg.allow_online)
        pipe, family = self.pipe, self.family
        stride = pipe.vae_scale_factor * (2 if family == "flux-depth" else 1)
        control = torch.from_numpy(control_image(depth, mask, stride))
        self._memory_options(cfg, control.shape[3] * control.shape[2])
        if paint is not None:  # restyle or inpaint with the pipeline sharing the loaded weights
            tensors, pipe = init_tensors(paint, keep, (w, h), stride, torch), variant(pipe, keep, self._variants)

        def one_pass(text: str, steps: Steps) -> np.ndarray:
            args = self._call_args(cfg, family, control, text, seed, steps, cancel, torch)
            try:
                result = pipe(**(args if paint is None else init_args(args, family, *tensors, denoise)))
            except Cancelled:
                pipe.maybe_free_model_hooks()
                raise
            if any(getattr(result, "nsfw_content_detected", None) or []):
                steps(0.97, "the model's safety checker blanked the image")
            return np.asarray(result.images[0], dtype=np.float32)[:h, :w]

        image = one_pass(groups[0][0], report) if len(groups) == 1 else masked_passes(one_pass, groups, report, 0.02)
        report.done()
        return np.ascontiguousarray(np.clip(image if paint is None else keep_painted(image, paint, keep), 0.0, 1.0))

    def _memory_options(self, cfg: BackendConfig, pixels: int) -> None:
        """Attention slicing (on for MPS unless set) and VAE tiling (on above 1024² unless set) for one call."""
        pipe = self.pipe
        slicing = cfg.attention_slicing if cfg.attention_slicing is not None else self.device == "mps"
        if self.family != "flux-depth" and slicing != self._slicing:
            pipe.enable_attention_slicing() if slicing else pipe.disable_attention_slicing()
            self._slicing = slicing
        tiling = cfg.vae_tiling if cfg.vae_tiling is not None else pixels > 1024 * 1024
        pipe.vae.enable_tiling() if tiling else pipe.vae.disable_tiling()

