# SPDX-License-Identifier: GPL-3.0-or-later
"""What the prompt says about each object: phrases routed to the parts a depth render shows (the use case).

A prompt that names several materials ("brick walls, wooden posts and grass") or explicit per-object
prompts give every part (object, or material slot) its own prompt; the depth render's id passes become a
segment map the generators paint region by region. A prompt with one material and no per-object prompts
changes nothing: no segments are sent, and the image is what it always was.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np

from ..blender import props
from ..blender.parts import scene_parts, segment_map
from ..depthmap import DepthResult
from ..errors import BadInput
from ..generation.scene_assign import assign
from ..generation.scene_prompt import parse_scene_prompt


@dataclass
class SceneSegments:
    """The per-part prompts of one view.

    :param segments: H×W part index per pixel (-1 elsewhere), or None when the whole image has one prompt.
    :param prompts: One prompt per part index.
    :param decisions: Which material each part the view shows got and why (``part``, ``prompt``, ``reason``,
        ``detail``, and ``segment``: its index in ``segments``); parts hidden behind others are left out.
    :param unused: Phrases of the prompt that no part the view shows received.
    :param texts: One text per part index, as the user typed it: the part's phrase of the scene prompt, or its
        object prompt (what a free-text generator reads; :func:`~depth_addon.generation.base.region_prompts`).
    :param objects: The object of each part index.
    """

    segments: np.ndarray | None = None
    prompts: list[str] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)

    def owners(self, names: list[str]) -> dict[str, np.ndarray]:
        """Object name → the indices of its parts (for the objects ``names`` that have any).

        :param names: Object names.
        """
        of = np.array(self.objects, dtype=object)
        return {n: idx for n in names if len(idx := np.flatnonzero(of == n))} if self.objects else {}


def _missing(name: object, names: list[str]) -> str:
    """``name`` and the closest of ``names``, for a message about an object that is not there."""
    close = difflib.get_close_matches(str(name), names, n=3)
    return f"{name!r}, which is no object of this scene" + (
        f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "")


def check_object_prompts(object_prompts: dict[str, str] | None, names: list[str]) -> dict[str, str]:
    """``object_prompts`` when every key names an object of ``names``.

    :raises BadInput: For a missing object, with the closest names suggested.
    """
    object_prompts = dict(object_prompts or {})
    for name in object_prompts:
        if not isinstance(name, str) or name not in names:
            raise BadInput(f"an object prompt (--object-prompt, object_prompts) names {_missing(name, names)}")
    return object_prompts


def run_object_prompts(scene, explicit: dict[str, str] | None) -> dict[str, str]:
    """The object prompts of a run: the Object Prompts set on the scene's objects in the sidebar, with ``explicit``
    ones (``--object-prompt``, ``object_prompts=``) winning, every name checked.

    :param scene: The scene.
    :param explicit: Object name → prompt given for this run.
    :raises BadInput: For a name that is no object of the scene (see :func:`check_object_prompts`).
    """
    return check_object_prompts({**props.object_prompts(scene), **(explicit or {})}, [o.name for o in scene.objects])


def check_objects(objects: tuple[str, ...] | list[str], names: list[str]) -> None:
    """Refuse object names that are not in ``names``.

    :param objects: Names asked for.
    :param names: The scene's object names.
    :raises BadInput: For the first missing object, with the closest names suggested.
    """
    for name in objects:
        if name not in names:
            raise BadInput(f"the objects to texture include {_missing(name, names)}")


def prompt_warnings(prompt: str, prompts: dict[str, str] | None = None, generator: str | None = None) -> list[str]:
    """What a prompt and the per-object prompts hold that paints nothing: unknown words and empty phrases.

    :param prompt: The scene prompt.
    :param prompts: Object name → its own prompt.
    :param generator: The generator's name: ``diffusers`` reads free text, so no word of it is unknown there.
    """
    parsed = parse_scene_prompt(prompt)
    free_text = (generator or "").strip().lower() == "diffusers"
    out = [] if free_text else [f"unknown word {word!r} in the prompt" for word in parsed.unknown]
    if parsed.empty:
        out.append(f"{len(parsed.empty)} empty phrase(s) in the prompt (a lone comma, or nothing between commas)")
    for name, text in (prompts or {}).items() if not free_text else ():
        out += [f"unknown word {word!r} in the prompt of {name!r}" for word in parse_scene_prompt(text).unknown]
    return out


def scene_segments(depth: DepthResult, prompt: str, object_prompts: dict[str, str] | None = None) -> SceneSegments:
    """Route the prompt's phrases (and explicit per-object prompts) to the parts ``depth`` shows.

    :param depth: A depth render with ``ids=True``.
    :param prompt: The scene prompt.
    :param object_prompts: Object name → prompt; these win over routing.
    """
    scene = parse_scene_prompt(prompt)
    if len([p for p in scene.phrases if p.prompt.strip()]) < 2 and not object_prompts:
        return SceneSegments()
    parts = scene_parts(depth)
    if not parts:
        return SceneSegments()
    assignment = assign(scene, parts, object_prompts)
    segments = segment_map(depth, parts)
    return _reported(scene, assignment, [segments], parts, segments)


def views_segments(results: list[DepthResult], prompt: str, object_prompts: dict[str, str] | None
                   ) -> tuple[list[np.ndarray | None], SceneSegments]:
    """Route the prompt to the parts every view shows, once for the whole run: one part list, one prompt each.

    An object keeps its material (and its palette variant, which follows the part's index) in every view,
    so multi-view bakes, and frames of a batch, agree on what each object is.

    :param results: The views' depth renders with ``ids=True``.
    :param prompt: The scene prompt.
    :param object_prompts: Object name → prompt; these win over routing.
    :return: ``(per-view segment maps in the run's part indices, the run's prompts and decisions)``; the
        maps are all None when the prompt has one phrase and no object has its own prompt.
    """
    scene = parse_scene_prompt(prompt)
    if len([p for p in scene.phrases if p.prompt.strip()]) < 2 and not object_prompts:
        return [None] * len(results), SceneSegments()
    seen = [scene_parts(r) for r in results]
    parts = sorted({(p.object, p.material): p for ps in seen for p in ps}.values(), key=lambda p: (p.object,
                                                                                                p.material))
    if not parts:
        return [None] * len(results), SceneSegments()
    index = {(p.object, p.material): i for i, p in enumerate(parts)}
    maps = []
    for result, local in zip(results, seen, strict=True):
        lookup = np.array([index[(p.object, p.material)] for p in local] + [-1], np.int32)
        seg = segment_map(result, local) if local else np.full(result.depth.shape, -1, np.int32)
        maps.append(lookup[np.where(seg >= 0, seg, len(local))])
    assignment = assign(scene, parts, object_prompts)
    return maps, _reported(scene, assignment, maps, parts)


def _reported(scene, assignment, maps: list[np.ndarray], parts: list, segments: np.ndarray | None = None
              ) -> SceneSegments:
    """The run's prompts (every part, so indices and palette variants do not depend on the view), with the decisions
    and unused phrases of the parts that ``maps`` paint (parts hidden behind others are left out).

    :param scene: The parsed scene prompt.
    :param assignment: Its :func:`~depth_addon.generation.scene_assign.assign` result.
    :param maps: Segment maps in the parts' indices.
    :param parts: The parts (:class:`~depth_addon.generation.scene_assign.Part`), in index order.
    :param segments: The segment map to keep in the result (single view), or None.
    """
    shown = set(np.unique(np.concatenate([m[m >= 0].ravel() for m in maps])).tolist())
    records = [dict(r, segment=i) for i, r in enumerate(assignment.as_records()) if i in shown]
    painted = {r["phrase"] for r in records}
    texts = [scene.phrases[d.phrase].text if d.phrase >= 0 else d.prompt for d in assignment.decisions]
    return SceneSegments(segments, [d.prompt for d in assignment.decisions], records,
                         [p.text for i, p in enumerate(scene.phrases) if i not in painted], texts,
                         [p.object for p in parts])
