# SPDX-License-Identifier: GPL-3.0-or-later
"""Many small objects in one draw call: their meshes merged into one batch that picks its instance per vertex.

Scenes of thousands of small objects would cost one draw call (and its Python round trip) per
object. Meshes of at most :data:`.cache.SMALL_TRIS` triangles that are drawn once are instead
concatenated, in object-local coordinates, into a batch whose ``iid`` vertex attribute says
which row of the instance texture (modelview, holdout) transforms each vertex; the instances of
those meshes are placed last and contiguous in the texture (:func:`draw_order`). Closed outward,
closed inward and open meshes get a batch each, so closed ones keep back-face culling. The merged batch
is rebuilt only when one of its meshes was rebuilt or the set of small meshes changed (compared by
entry identity). Merged meshes are not frustum-culled, which changes speed only, never the depth.
"""

from __future__ import annotations

import gpu
import numpy as np

from . import cache as depth_cache


def merge_kinds(group_of: np.ndarray, entries: list) -> np.ndarray:
    """Per mesh (index into ``entries``): 0 drawn on its own, else the merged batch it joins: 1 closed and
    outward, 2 closed and inward, 3 open (one batch per kind, so closed ones keep back-face culling).

    :param group_of: Mesh index per instance.
    :param entries: :class:`~.cache.MeshEntry` per mesh index.
    """
    once = np.bincount(group_of, minlength=len(entries)) == 1
    kind = np.fromiter((0 if e.arrays is None else 1 if e.orientation > 0 else 2 if e.orientation < 0 else 3
                        for e in entries), np.int64, len(entries))
    return np.where(once, kind, 0)


def draw_order(group_of: np.ndarray, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instances sorted by mesh, each merged kind after those drawn on their own.

    :param group_of: Mesh index per instance.
    :param kind: Per mesh index, its merged kind (:func:`merge_kinds`).
    :return: ``(order, mesh index per group, first position of each group in order)``.
    """
    if not len(group_of):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    order = np.lexsort((group_of, kind[group_of]))
    g = group_of[order]
    starts = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
    return order, g[starts], starts


def merged_batch(kind: int, entries: list) -> gpu.types.GPUBatch | None:
    """The batch of ``entries`` (small meshes of one kind, in draw order), reused while they are the same entries.

    :param kind: The merged kind (:func:`merge_kinds`); each kind keeps its own batch.
    :param entries: :class:`~.cache.MeshEntry` objects with ``arrays``; vertex ``iid`` = position in this list
        (kept for the next call: not changed afterwards).
    """
    if not entries:
        return None
    old, batch = depth_cache.merged.get(kind, ((), None))
    if old is entries or (len(old) == len(entries) and all(a is b for a, b in zip(old, entries, strict=True))):
        return batch  # the same list (an unchanged draw plan) or the same entries
    sizes = np.array([len(e.arrays[0]) for e in entries], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    co = np.concatenate([e.arrays[0] for e in entries])
    tris = np.concatenate([e.arrays[1] + int(o) for e, o in zip(entries, offsets, strict=True)])
    iid = np.repeat(np.arange(len(entries), dtype=np.int32), sizes)
    batch = depth_cache.make_batch({"pos": co, "iid": iid}, tris.astype(np.int32))
    depth_cache.merged[kind] = (entries, batch)
    return batch
