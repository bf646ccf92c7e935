# SPDX-License-Identifier: GPL-3.0-or-later
"""What a draw needs besides the matrices, worked out once per instance walk and kept while the scene is unchanged.

A depth render of an unchanged scene reuses the instance walk (:func:`.render._instances`) and the
mesh entries (:func:`.cache.entries`). Everything that follows from those two alone is gathered here
once: the mesh of each instance, which meshes join a merged batch (:mod:`.merged`), the draw order
and groups, and each instance's local bounding box and orientation for culling and the camera test.
Per call only the camera-dependent work is left (culling, the instance texture, the draws), so that
thousands of objects do not cost thousands of Python steps per call. A plan is recognised by the
identity of its walk and entries; a walk whose objects only moved (:func:`.scene.moved`, the same keys) keeps it,
with the orientations of mirrored instances worked out again. :func:`.cache.clear` drops it with the batches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import cache as depth_cache
from . import merged
from .scene import SceneInstances, affine_inverse


@dataclass(frozen=True)
class DrawPlan:
    """The camera-independent part of drawing one instance walk.

    :param order: Instance indices in draw order (grouped by mesh, merged kinds last).
    :param groups: ``(mesh key, first position in order, instance count, merged kind)`` per group.
    :param starts: First position in ``order`` of each group.
    :param lo: N×3 local minimum corner of each instance's mesh, in instance order.
    :param hi: N×3 local maximum corner, in instance order.
    :param facing: N orientation of each instance's mesh (+1 closed outward, -1 closed inward, 0 open), in
        instance order.
    :param orient: N orientation per instance as placed in the world: ``facing``, negated where the instance's
        matrix mirrors.
    :param pinned: N bools in draw order: the instance is drawn by a merged batch (always kept, see
        :func:`.culling.visible`).
    :param solo: Indices into ``groups`` of the groups drawn on their own (merged kind 0).
    :param members: Per merged kind (1, 2, 3) that has members: the indices into ``groups`` that join its batch,
        and their mesh entries in that order.
    """

    order: np.ndarray
    groups: list[tuple[tuple[int, int], int, int, int]]
    starts: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    facing: np.ndarray
    orient: np.ndarray
    pinned: np.ndarray
    solo: list[int]
    members: dict[int, tuple[np.ndarray, list[depth_cache.MeshEntry]]]


def draw_plan(instances: SceneInstances, entries: dict, merge: bool = True, keep: bool = True) -> DrawPlan:
    """The plan for ``instances`` drawn with ``entries``, reused while both are the same objects.

    :param instances: What to draw (:func:`.scene.scene_instances`).
    :param entries: Mesh key → :class:`~.cache.MeshEntry` (:func:`.cache.entries`).
    :param merge: Let small meshes drawn once share merged batches (not for passes or inside a render).
    :param keep: Keep the plan for the next call (False for throw-away entries, such as a render's).
    """
    kept = depth_cache.plans.get(merge)
    if kept is not None and kept[0] is instances and kept[1] is entries:
        return kept[2]
    if kept is not None and kept[0].keys is instances.keys and kept[1] is entries:  # moved (:func:`.scene.moved`)
        plan = replace(kept[2], orient=kept[2].facing * _mirror(instances))
    else:
        plan = _make_plan(instances, entries, merge)
    if keep:
        depth_cache.plans[merge] = (instances, entries, plan)
        other = depth_cache.plans.get(not merge)
        if other is not None and other[0] is not instances:  # another walk's: its batches need not outlive it
            del depth_cache.plans[not merge]
    return plan


def _make_plan(instances: SceneInstances, entries: dict, merge: bool) -> DrawPlan:
    """Work out the plan (see :func:`draw_plan` for the parameters)."""
    n = len(instances)
    key_list = list(entries)
    key_ids = {k: i for i, k in enumerate(key_list)}
    group_of = np.fromiter((key_ids[k] for k in instances.keys), np.int64, n)
    listed = [entries[k] for k in key_list]
    kind = merged.merge_kinds(group_of, listed) if merge else np.zeros(len(key_list), np.int64)
    order, present, starts = merged.draw_order(group_of, kind)
    counts = np.diff(np.append(starts, n))
    groups = [(key_list[g], int(s), int(c), int(kind[g])) for g, s, c in zip(present, starts, counts, strict=True)]
    lo = np.array([e.bbox[0] for e in listed], np.float64).reshape(-1, 3)[group_of]
    hi = np.array([e.bbox[1] for e in listed], np.float64).reshape(-1, 3)[group_of]
    facing = np.array([e.orientation for e in listed], np.float64)[group_of]
    group_kind = kind[present]
    solo = np.flatnonzero(group_kind == 0).tolist()
    members = {}
    for k in (1, 2, 3):
        joined = np.flatnonzero(group_kind == k)
        if len(joined):
            members[k] = (joined, [entries[groups[g][0]] for g in joined])
    return DrawPlan(order, groups, starts, lo, hi, facing, facing * _mirror(instances), kind[group_of][order] > 0,
                    solo, members)


def _mirror(instances: SceneInstances) -> np.ndarray:
    """-1 where an instance's matrix mirrors, else +1 (per walk, not per call: the camera cannot change it)."""
    return np.sign(affine_inverse(instances.matrices)[1])
