# SPDX-License-Identifier: GPL-3.0-or-later
"""Files of a ``texture`` run's bakes: each object's texture and material maps under ``<out-dir>/textures``.

Textures are 8-bit PNG with the provenance record in the metadata; material maps are PNG (roughness and metallic
grey) and height a float EXR in metres. Images a bake packed as PNG are written as they are, with the metadata
added. The images in the saved ``.blend`` are pointed at these files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import bpy

from ..blender import images
from ..io.atomic import write_bytes_atomic
from ..io.exr import write_exr
from ..io.png import PNG_SIGNATURE, to_uint, with_text, write_png
from ..texturing.provenance import metadata_text

if TYPE_CHECKING:
    from ..blender.writeback.multiview import MultiviewResult

#: One staged artifact: kind, path inside the staging folder, extra event fields.
Artifact = tuple[str, Path, dict]


def relative(path: str | Path, folder: Path) -> str:
    """``path`` relative to ``folder``, with forward slashes (as ``run.json`` records artifacts).

    :param path: A file inside ``folder``.
    :param folder: The folder the record lies in.
    """
    return Path(path).relative_to(folder).as_posix()


def file_name(name: str, taken: set[str] | None = None, suffixes: tuple[str, ...] = ()) -> str:
    """A safe file name for an object name: letters and digits of any script, ``._-``; ``object`` when nothing is
    left. With ``taken``, a stem that another object's files already use (compared without case, as some file
    systems do), alone or with one of ``suffixes``, gets ``_2``, ``_3`` …; what it uses is added to ``taken``.

    :param name: Object name.
    :param taken: Stems used so far (lower case), updated.
    :param suffixes: The object's other files, ``<stem>_<suffix>`` (its maps).
    """
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    stem = re.sub(r"_+", "_", stem).strip("._") or "object"
    if taken is None:
        return stem
    unique, n = stem, 1
    while {unique.lower(), *(f"{unique}_{s}".lower() for s in suffixes)} & taken:
        n += 1
        unique = f"{stem}_{n}"
    taken.update({unique.lower(), *(f"{unique}_{s}".lower() for s in suffixes)})
    return unique


def save_texture(image: bpy.types.Image, path: Path, record: dict) -> Path:
    """Write ``image`` as an 8-bit PNG with provenance metadata and point the image at the file.

    :param image: Our baked image.
    :param path: Target ``.png``.
    :param record: Provenance record for the metadata.
    """
    if not _write_packed(image, path, record):
        write_png(path, to_uint(images.array_from_image(image)[..., :3], 8), metadata_text(record))
    images.point_at_file(image, path)
    return path


def _write_packed(image: bpy.types.Image, path: Path, record: dict) -> bool:
    """Write the 8-bit PNG ``image`` holds as packed data (a bake's) with the metadata added: nothing decoded or
    encoded again. False when it holds none.

    The bit depth is read from the file's header: asking Blender (``Image.is_float``) would decode the image.
    """
    packed = image.packed_file
    data = bytes(packed.data) if packed is not None else b""
    if not data.startswith(PNG_SIGNATURE) or data[24:25] != b"\x08":  # IHDR: width, height, then the bit depth
        return False
    write_bytes_atomic(path, with_text(data, metadata_text(record)))
    return True


def save_textures(result: MultiviewResult, folder: Path, artifacts: list[Artifact]) -> dict[str, str]:
    """Write every baked image to ``<folder>/textures/<object>.png``.

    :param result: The multi-view run.
    :param folder: The staging folder.
    :param artifacts: Receives one ``texture`` artifact per object.
    :return: Object name → written path, relative to ``folder``.
    """
    textures = folder / "textures"
    textures.mkdir(exist_ok=True)
    files: dict[str, str] = {}
    taken: set[str] = set()
    for name, image in result.images.items():
        stem = file_name(name, taken, tuple(result.maps.get(name, {})))  # one file each, whatever the names share
        path = save_texture(image, textures / f"{stem}.png", result.provenance)
        files[name] = relative(path, folder)
        artifacts.append(("texture", path, {"object": name}))
        for map_name, map_image in result.maps.get(name, {}).items():
            path = save_map(map_image, textures / f"{stem}_{map_name}", map_name, result.provenance)
            files[f"{name}:{map_name}"] = relative(path, folder)
            artifacts.append(("map", path, {"object": name, "map": map_name}))
    return files


def save_map(image: bpy.types.Image, stem: Path, name: str, record: dict) -> Path:
    """Write one baked material map next to the textures and point the image at the file.

    Colour maps and the normal map are PNG, roughness and metallic grey PNG, height a float EXR in metres. A map
    packed as PNG (a bake's 8-bit maps) is written as it is; one held as pixels is encoded, 8-bit, or 16-bit for a
    float normal map.

    :param image: Our map image.
    :param stem: Target path without suffix.
    :param name: Map name (``albedo``, ``roughness``, ``metallic``, ``normal``, ``height``).
    :param record: Provenance record for the metadata.
    """
    if name == "height":
        path = stem.with_name(f"{stem.name}.exr")  # not with_suffix: "Cube.001_albedo" has a dot
        write_exr(path, {"Y": images.grey_from_image(image)}, {"units": "metres", "map": "height"})
    else:
        path = stem.with_name(f"{stem.name}.png")
        if not _write_packed(image, path, record):
            pixels = images.array_from_image(image)
            data = pixels[..., :3] if name in ("albedo", "normal") else pixels[..., 0]
            bits = 16 if name == "normal" and image.is_float else 8
            write_png(path, to_uint(data, bits), metadata_text(record))
    images.point_at_file(image, path)
    return path
