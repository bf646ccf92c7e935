# SPDX-License-Identifier: GPL-3.0-or-later
"""What the ``diffusers`` pipelines take: the depth control image, and paint that is already there (no bpy).

:func:`control_image` is the ControlNet input: inverse depth in [0, 1]. The generator contract's ``init_image`` /
``init_mask`` pair (see :class:`~depth_addon.app.flow.GenerateRequest`) maps onto the pipelines diffusers derives
from the loaded one with ``from_pipe`` (the same weights, nothing loaded twice), with the depth ControlNet still
conditioning every step:

* ``init_image`` alone: **image-to-image**. The image is noised to ``denoise`` (0 keeps it, 1 repaints it) and
  denoised under the prompt: a photo restyled on its own estimated depth ("same room in marble").
* ``init_image`` and ``init_mask`` (True where the generator may paint): **inpainting**. Outside the mask the
  latents are reset to the noised paint at every step, so the new pixels continue it; the decoded image is
  then composited so the kept pixels are exactly the paint. Multi-view runs send the earlier views' paint this
  way, so each view is conditioned on what is already there.

SD 1.5, SDXL (ControlNet) and FLUX depth (control) pipelines all have both variants.
"""

from __future__ import annotations

import numpy as np

from ..errors import BadInput
from ..mapping import fit_mapping
from .diffusers_load import padded_size
from .segments import resize_segments

#: Denoising strength of image-to-image when none is given.
DEFAULT_DENOISE = 0.75


def control_image(depth: np.ndarray, mask: np.ndarray, stride: int) -> np.ndarray:
    """The ControlNet input: inverse depth in [0, 1] (near = 1), edge-padded to ``stride``, 1×3×H×W float32.

    :param depth: H×W validated depth in metres (``inf`` background).
    :param mask: H×W bool mask of valid pixels.
    :param stride: Pixel multiple the model needs.
    """
    mapped = fit_mapping(depth, mask, "inverse").apply(depth)
    h, w = mapped.shape
    wp, hp = padded_size((w, h), stride)
    padded = np.pad(mapped, ((0, hp - h), (0, wp - w)), mode="edge")
    return np.ascontiguousarray(np.broadcast_to(padded, (1, 3, hp, wp)), dtype=np.float32)


def check_init(init_image, init_mask, shape: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validate the paint and the mask against the depth map's ``(height, width)``.

    :param init_image: H×W×3 sRGB in [0, 1], or None.
    :param init_mask: H×W bool (True = may paint), or None.
    :param shape: The depth map's shape.
    :raises BadInput: For arrays of another shape, a mask without an image, or values that are not finite.
    """
    if init_image is None:
        if init_mask is not None:
            raise BadInput("init_mask needs an init_image (the paint to keep outside the mask)")
        return None, None
    image = np.asarray(init_image, np.float32)
    if image.ndim != 3 or image.shape[:2] != tuple(shape) or image.shape[2] < 3:
        raise BadInput(f"init_image must be H×W×3 like the depth {tuple(shape)}, got {image.shape}")
    if not np.isfinite(image[..., :3]).all():
        raise BadInput("init_image has values that are not finite")
    mask = None
    if init_mask is not None:
        mask = np.asarray(init_mask, bool)
        if mask.shape != tuple(shape):
            raise BadInput(f"init_mask must be H×W like the depth {tuple(shape)}, got {mask.shape}")
    return np.clip(image[..., :3], 0.0, 1.0), mask


def init_tensors(image: np.ndarray, mask: np.ndarray | None, size: tuple[int, int], stride: int, torch):
    """The pipeline inputs: 1×3×H×W paint in [0, 1] and 1×1×H×W mask (1 = paint), edge-padded to ``stride``.

    :param image: H×W×3 paint (validated).
    :param mask: H×W bool mask (validated), or None.
    :param size: Output ``(width, height)``.
    :param stride: Pixel multiple the model needs.
    :param torch: The torch module.
    """
    w, h = size
    wp, hp = padded_size(size, stride)
    pad = ((0, hp - h), (0, wp - w))
    rgb = np.pad(resize_segments(image, size), (*pad, (0, 0)), mode="edge")
    paint = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0)[None], dtype=np.float32))
    if mask is None:
        return paint, None
    m = np.pad(resize_segments(mask, size).astype(np.float32), pad, mode="edge")
    return paint, torch.from_numpy(np.ascontiguousarray(m[None, None]))


def variant(pipe, mask, cache: dict):
    """The image-to-image (no ``mask``) or inpainting pipeline sharing ``pipe``'s components, built once per pipeline.

    :param pipe: The loaded text-to-image pipeline.
    :param mask: The inpainting mask, or None for image-to-image.
    :param cache: Where the variants are kept; emptied when ``pipe`` is another pipeline than the one they share.
    """
    if cache.get("of") is not pipe:
        cache.clear()
        cache["of"] = pipe
    mode = "img2img" if mask is None else "inpaint"
    if mode not in cache:
        import diffusers

        auto = diffusers.AutoPipelineForInpainting if mode == "inpaint" else diffusers.AutoPipelineForImage2Image
        cache[mode] = auto.from_pipe(pipe)
        cache[mode].set_progress_bar_config(disable=True)  # progress goes through our own events, not tqdm bars
    return cache[mode]


def init_args(args: dict, family: str, paint, mask, denoise: float | None) -> dict:
    """Turn text-to-image call arguments into image-to-image or inpainting ones.

    :param args: The text-to-image arguments (the control image is ``image`` or ``control_image``).
    :param family: The pipeline family.
    :param paint: 1×3×H×W paint tensor.
    :param mask: 1×1×H×W mask tensor, or None for image-to-image.
    :param denoise: Strength in (0, 1]; :data:`DEFAULT_DENOISE` for image-to-image and 1 for inpainting when None.
    :raises BadInput: For a strength outside (0, 1].
    """
    strength = denoise if denoise is not None else (1.0 if mask is not None else DEFAULT_DENOISE)
    if not 0.0 < float(strength) <= 1.0:
        raise BadInput(f"denoise must be in (0, 1], got {denoise!r}")
    out = dict(args)
    if family != "flux-depth":
        out["control_image"] = out.pop("image")
    out.update(image=paint, strength=float(strength))
    if mask is not None:
        out["mask_image"] = mask
    return out


def keep_painted(image: np.ndarray, paint: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The decoded image with the kept pixels (``mask`` False) set back to the paint exactly.

    :param image: H×W×3 decoded image at the output size.
    :param paint: H×W×3 paint at the depth's size.
    :param mask: H×W bool at the depth's size, or None (image-to-image keeps nothing).
    """
    if mask is None:
        return image
    h, w = image.shape[:2]
    keep = ~resize_segments(mask, (w, h))
    out = image.copy()
    out[keep] = resize_segments(paint, (w, h))[keep]
    return out
