# SPDX-License-Identifier: GPL-3.0-or-later
"""The parameters of a ``generate`` request, checked on both sides of the pipe (no bpy).

Part of :mod:`.protocol` (re-exported there); the client checks them before sending, the worker again on
receipt, so a bad request fails with a clear :class:`~depth_addon.errors.BadInput` in the caller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import BadInput


@dataclass(frozen=True)
class GenerateParams:
    """Parameters of a ``generate`` request.

    :param depth: Path of the H×W float32 depth ``.npy`` (metres, ``inf`` background).
    :param out_dir: Job folder for ``result.npy`` and previews.
    :param mask: Path of the H×W bool mask ``.npy``; ``isfinite(depth)`` when empty.
    :param prompt: What to paint.
    :param negative_prompt: What to avoid (backends that support it).
    :param seed: Random seed.
    :param generator: Registry name; the default generator when empty.
    :param size: Output ``(width, height)``; the depth's size when None.
    :param steps: Sampling steps (backends that have them).
    :param strength: Conditioning strength 0..1 (backends that have it).
    :param camera: :meth:`~depth_addon.camera.CameraModel.to_dict` of the depth's camera.
    :param device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
    :param model_dir: Folder with model weights (learned backends).
    :param controlnet_dir: Depth ControlNet folder or file (backends that take one).
    :param init_image: Path of an H×W×3 float32 ``.npy`` of paint already there (generators that inpaint).
    :param init_mask: Path of an H×W bool ``.npy``, True where the generator may paint.
    :param segments: Path of an H×W int32 ``.npy`` segment map (generators that paint regions).
    :param segment_prompts: One prompt per segment id.
    :param segment_texts: The same as typed, for generators that read free text (or None).
    :param maps: Also return the material maps (generators with ``generate_maps``).
    :param world_cell: World-anchored pattern cell in metres (generators that take it), or None.
    """

    depth: str
    out_dir: str
    mask: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    generator: str = ""
    size: tuple[int, int] | None = None
    steps: int | None = None
    strength: float | None = None
    camera: dict | None = None
    device: str = "auto"
    model_dir: str = ""
    controlnet_dir: str = ""
    init_image: str = ""
    init_mask: str = ""
    segments: str = ""
    segment_prompts: list[str] | None = None
    segment_texts: list[str] | None = None
    maps: bool = False
    world_cell: float | None = None

    def to_dict(self) -> dict:
        """Plain JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GenerateParams:
        """Checked inverse of :meth:`to_dict`; unknown keys are ignored.

        :param data: Request params.
        :raises BadInput: For a missing path or a value of the wrong type.
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("depth", "out_dir"):
            if not isinstance(values.get(key), str) or not values[key]:
                raise BadInput(f"generate request without {key!r}")
        for key in ("mask", "prompt", "negative_prompt", "generator", "device", "model_dir", "controlnet_dir",
                    "init_image", "init_mask", "segments"):
            if not isinstance(values.get(key, ""), str):
                raise BadInput(f"{key} must be a string, got {values[key]!r}")
        seed = values.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise BadInput(f"seed must be an integer, got {seed!r}")
        size = values.get("size")
        if size is not None:
            if not (isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) for v in size)):
                raise BadInput(f"size must be [width, height], got {size!r}")
            values["size"] = (int(size[0]), int(size[1]))
        cell = values.get("world_cell")
        if cell is not None and (isinstance(cell, bool) or not isinstance(cell, int | float) or not 0 < cell < 1e6):
            raise BadInput(f"world_cell must be a positive number of metres, got {cell!r}")
        if not isinstance(values.get("maps", False), bool):
            raise BadInput(f"maps must be true or false, got {values['maps']!r}")
        for key in ("segment_prompts", "segment_texts"):
            prompts = values.get(key)
            if prompts is not None and not (isinstance(prompts, list) and all(isinstance(p, str) for p in prompts)):
                raise BadInput(f"{key} must be a list of strings, got {prompts!r}")
        return cls(**values)
