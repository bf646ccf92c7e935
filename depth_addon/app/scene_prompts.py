# SPDX-License-Identifier: GPL-3.0-or-later
"""What the prompt says about each object: phrases routed to the parts a depth render shows (the use case).

A prompt that names several materials ("brick walls, wooden posts and grass") or explicit per-object
prompts give every part (object, or material slot) its own prompt; the depth render's id passes become a
segment map the generators paint region by region. A prompt with one material and no per-object prompts
changes nothing: no segments are sent, and the image is what it always was (its target words are still matched
against the parts, so one that matches nothing is reported).

What was decided is said everywhere in the same words: :func:`run_warnings` (unknown words, empty phrases,
phrases and target words no part took, object prompts that paint nothing), :func:`assignment_lines` and
:func:`assignment_summary` (which material each object got, and why).
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field, replace

import bpy
import numpy as np

from ..blender import props
from ..blender.parts import scene_parts, segment_map
from ..depthmap import DepthResult
from ..errors import BadInput, listed
from ..generation.scene_assign import assign, shadowed, unreached
from ..generation.scene_prompt import ScenePrompt, empty_message, parse_scene_prompt, typed_target

#: Scene custom property holding the last run's assignment, one line per part (drawn by the sidebar).
ASSIGNMENT = "depth_addon_assignment"


@dataclass
class SceneSegments:
    """The per-part prompts of one view.

    :param segments: H×W part index per pixel (-1 elsewhere), or None when the whole image has one prompt.
    :param prompts: One prompt per part index.
    :param decisions: Which material each part the view shows got and why (``part``, ``prompt``, ``reason``,
        ``detail``, ``segment``: its index in ``segments``, and ``object``: its object, ``objects[segment]``); parts
        hidden behind others are left out.
    :param unused: Phrases of the prompt that no part the view shows received.
    :param texts: One text per part index, as the user typed it: the part's phrase of the scene prompt, or its
        object prompt (what a free-text generator reads; :func:`~depth_addon.generation.base.region_prompts`).
    :param objects: The object of each part index.
    :param unmatched: ``(phrase, target word)`` of the targets no part the view shows matched, by name or role.
    :param shadowed: ``(phrase, target word)`` → the objects with their own prompt that match it (their prompt wins,
        so the phrase paints none of them), for the targets and phrases only such objects match.
    """

    segments: np.ndarray | None = None
    prompts: list[str] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    shadowed: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def owners(self, names: list[str]) -> dict[str, np.ndarray]:
        """Object name → the indices of its parts (for the objects ``names`` that have any).

        :param names: Object names.
        """
        wanted, found = set(names), {}
        for i, obj in enumerate(self.objects):  # one pass: a scene of thousands of objects stays fast
            if obj in wanted:
                found.setdefault(obj, []).append(i)
        return {n: np.array(found[n], np.intp) for n in names if n in found}

    def only(self, names) -> SceneSegments:
        """The same routing with the decisions of the objects ``names`` alone (those a run textures, of all it
        routed for the image); itself when ``names`` is empty.

        :param names: Object names, or None.
        """
        keep = set(names or ())
        if not keep:
            return self
        return replace(self, decisions=[d for d in self.decisions if "object" not in d or d["object"] in keep])


def _missing(name: object, names: list[str]) -> str:
    """``name`` and the closest of ``names``, for a message about an object that is not there."""
    close = difflib.get_close_matches(str(name), names, n=3)
    return f"{name!r}, which is no object of this scene" + (
        f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "")


def check_object_prompts(object_prompts: dict[str, str] | None, names: list[str]) -> dict[str, str]:
    """``object_prompts`` when every key names an object of ``names`` and every prompt says something.

    :raises BadInput: For a missing object, with the closest names suggested, or a prompt that is not text or is
        blank (it would paint the object with no prompt at all; the sidebar and ``--object-prompt`` leave such an
        object to the scene prompt, or refuse it).
    """
    object_prompts = dict(object_prompts or {})
    for name, text in object_prompts.items():
        if not isinstance(name, str) or name not in names:
            raise BadInput(f"an object prompt (--object-prompt, object_prompts) names {_missing(name, names)}")
        if not isinstance(text, str) or not text.strip():
            raise BadInput(f"the object prompt of {name!r} is {'empty' if isinstance(text, str) else repr(text)}: "
                           "give it a text, or leave the object out to let the scene prompt paint it")
    return object_prompts


def run_object_prompts(scene, explicit: dict[str, str] | None) -> dict[str, str]:
    """The object prompts of a run: the Object Prompts set on the scene's objects in the sidebar, with ``explicit``
    ones (``--object-prompt``, ``object_prompts=``) winning, every name checked.

    :param scene: The scene.
    :param explicit: Object name → prompt given for this run.
    :raises BadInput: For a name that is no object of the scene (see :func:`check_object_prompts`).
    """
    return check_object_prompts({**props.object_prompts(scene), **(explicit or {})}, [o.name for o in scene.objects])


def check_objects(objects: tuple[str, ...] | list[str], names: list[str], scene=None) -> None:
    """Refuse object names that are not in ``names``, and (with ``scene``) objects that are not meshes.

    :param objects: Names asked for.
    :param names: The scene's object names.
    :param scene: The scene, to refuse objects that cannot take a projection; None checks the names only.
    :raises BadInput: For the first missing object, with the closest names suggested, or the first non-mesh.
    """
    for name in objects:
        if name not in names:
            raise BadInput(f"the objects to texture include {_missing(name, names)}")
    not_meshes = [n for n in objects if scene is not None and scene.objects[n].type != "MESH"]
    if not_meshes:
        raise BadInput(f"{not_meshes[0]!r} is a {scene.objects[not_meshes[0]].type.lower()} object; only meshes take "
                       "a projection")


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
        out.append(empty_message(parsed))
    for name, text in (prompts or {}).items():
        own = parse_scene_prompt(text)
        if own.empty:
            out.append(empty_message(own, f"the prompt of {name!r}"))
        out += [] if free_text else [f"unknown word {word!r} in the prompt of {name!r}" for word in own.unknown]
    return out


def part_warnings(parts: SceneSegments, object_prompts: dict[str, str] | None = None, scene=None,
                  textured=None) -> list[str]:
    """What the routing left unpainted: phrases no part took, target words no part matched, and object prompts of
    objects that no view shows (out of view, hidden, not meshes) or that the run does not texture.

    :param parts: The run's routing (:func:`scene_segments`, :func:`views_segments`), its decisions those of the
        objects the run textures (:meth:`SceneSegments.only`).
    :param object_prompts: The run's object prompts.
    :param scene: The scene, to say why an object with a prompt shows nothing; None leaves the reason out.
    :param textured: The objects the run was asked to texture (None or empty: every one it sees).
    """
    out = [_unused_warning(text, parts.shadowed) for text in parts.unused]
    for text, target in [(text, target) for text, target in parts.unmatched if text not in parts.unused]:
        owners = parts.shadowed.get((text, target))
        word = typed_target(text, target)
        out.append(f"{word!r} in the phrase {text!r} names only {_own_prompts(owners)}; the phrase paints "
                   "the objects no other phrase takes" if owners else
                   f"no object matches {word!r} in the phrase {text!r}; it paints the objects no other phrase takes")
    return out + object_prompt_warnings(painted_objects(parts), object_prompts, scene, textured)


def _unused_warning(text: str, shadowed: dict[tuple[str, str], list[str]]) -> str:
    """What to say about a phrase no part took: that it matches no object, or only objects with their own prompt."""
    found = [(target, owners) for (phrase, target), owners in shadowed.items() if phrase == text]
    if not found:
        return f"no object matches the phrase {text!r}"
    said = "; ".join(f"{typed_target(text, target)!r} names only {_own_prompts(owners)}" for target, owners in found)
    return f"the phrase {text!r} paints nothing: {said}"


def _own_prompts(names: list[str] | None, limit: int = 5) -> str:
    """``'Wall', which has its own prompt (it wins)`` (the first ``limit`` names, then how many more)."""
    names = list(names or ())
    own = "has its own prompt (it wins)" if len(names) == 1 else "have their own prompts (they win)"
    return f"{listed(names, limit)}, which {own}"


def painted_objects(parts: SceneSegments) -> set[str]:
    """The objects that some part of ``parts.decisions`` paints.

    :param parts: A routing (:func:`scene_segments`, :func:`views_segments`).
    """
    return {d["object"] for d in parts.decisions if "object" in d}


def object_prompt_warnings(painted: set[str], object_prompts: dict[str, str] | None, scene=None,
                           textured=None) -> list[str]:
    """One warning per object prompt whose object is not in ``painted``: it paints nothing.

    :param painted: The objects the run painted (:func:`painted_objects`; a batch gathers them over its units).
    :param object_prompts: The run's object prompts.
    :param scene: The scene, to say why; None leaves the reason out.
    :param textured: The objects the run was asked to texture (None or empty: every one it sees).
    """
    return [f"the object prompt of {name!r} paints nothing: {_unseen(scene, name, textured)}"
            for name in object_prompts or {} if name not in painted]


def _unseen(scene, name: str, textured=None) -> str:
    """Why the object ``name`` shows in no view of the run, or is not painted by it."""
    if textured and name not in textured:
        return "it is not among the objects this run textures"
    obj = None if scene is None else scene.objects.get(name)
    if obj is not None and obj.type != "MESH":
        return f"it is a {obj.type.lower()} object, and only meshes are painted"
    if obj is not None and (obj.hide_render or not obj.visible_get()):
        return "it is hidden (from render, or in the view layer)"
    return "no view of the run shows it (out of view, behind the camera, or behind other objects)"


def run_warnings(prompt: str, object_prompts: dict[str, str] | None, generator: str | None, parts: SceneSegments,
                 scene=None, textured=None) -> list[str]:
    """Every warning of a run about its prompts: :func:`prompt_warnings`, then :func:`part_warnings`.

    :param prompt: The scene prompt.
    :param object_prompts: The run's object prompts.
    :param generator: The generator's name.
    :param parts: The run's routing.
    :param scene: The scene (for why an object prompt paints nothing).
    :param textured: The objects the run was asked to texture (None or empty: every one it sees).
    """
    return prompt_warnings(prompt, object_prompts, generator) + part_warnings(parts, object_prompts, scene,
                                                                              textured)


def needs_ids(prompt: str, object_prompts: dict[str, str] | None = None) -> bool:
    """Whether a run renders object ids: to paint per part (several phrases, object prompts), or to check a
    one-phrase prompt's target words against the parts.

    :param prompt: The scene prompt.
    :param object_prompts: The run's object prompts.
    """
    parsed = parse_scene_prompt(prompt)
    return _per_part(parsed, object_prompts) or any(p.targets for p in parsed.phrases)


def _per_part(scene: ScenePrompt, object_prompts: dict[str, str] | None) -> bool:
    """Whether the image is painted part by part: several non-empty phrases, or object prompts."""
    return len([p for p in scene.phrases if p.prompt.strip()]) >= 2 or bool(object_prompts)


def assignment_lines(decisions: list[dict]) -> list[str]:
    """One line per part: ``Wall: brick (name: Wall -> wall)``; one line for a run with one material everywhere.

    :param decisions: The run's decisions (:attr:`SceneSegments.decisions`).
    """
    if not decisions:
        return ["every object: the whole prompt (one material)"]
    parts = _parts_per_object(decisions)
    return [f"{_name(d, parts)}: {d['prompt']} ({d['reason']}" + (f": {d['detail']})" if d.get("detail") else ")")
            for d in decisions]


def _parts_per_object(decisions: list[dict]) -> Counter:
    """Object name → how many of ``decisions`` are its parts (counted once, so naming every part stays linear)."""
    return Counter(d.get("object") for d in decisions)


def _name(decision: dict, parts: Counter) -> str:
    """The part's object name when the object is one part, else ``object/material``.

    :param decision: One decision.
    :param parts: :func:`_parts_per_object` of the run's decisions.
    """
    obj = decision.get("object")
    return obj if obj is not None and parts[obj] == 1 else decision["part"]


def assignment_summary(decisions: list[dict], limit: int = 6) -> str:
    """The assignment in one line for an operator's report: ``materials: Wall brick (name), Ground grass (role)``.

    :param decisions: The run's decisions.
    :param limit: Parts named before ``… and N more``.
    """
    if not decisions:
        return "one material for every object"
    parts = _parts_per_object(decisions)
    shown = ", ".join(f"{_name(d, parts)} {d['prompt']} ({d['reason']})" for d in decisions[:limit])
    return f"materials: {shown}" + (f" … and {len(decisions) - limit} more" if len(decisions) > limit else "")


def record_assignment(scene, decisions: list[dict], warnings: list[str]) -> None:
    """Keep the run's assignment and warnings on the scene (:data:`ASSIGNMENT`), for the sidebar to list.

    :param scene: The scene the run textured.
    :param decisions: The run's decisions.
    :param warnings: The run's warnings about its prompts.
    """
    scene[ASSIGNMENT] = "\n".join(assignment_lines(decisions) + [f"! {w}" for w in warnings])


def scene_segments(depth: DepthResult, prompt: str, object_prompts: dict[str, str] | None = None) -> SceneSegments:
    """Route the prompt's phrases (and explicit per-object prompts) to the parts ``depth`` shows.

    :param depth: A depth render with ``ids=True``.
    :param prompt: The scene prompt.
    :param object_prompts: Object name → prompt; these win over routing.
    """
    scene = parse_scene_prompt(prompt)
    if not needs_ids(prompt, object_prompts):
        return SceneSegments()
    parts = scene_parts(depth)
    if not parts:
        return SceneSegments()
    assignment = assign(scene, parts, object_prompts)
    segments = segment_map(depth, parts)
    out = _reported(scene, assignment, [segments], parts, segments)
    return out if _per_part(scene, object_prompts) else SceneSegments(unmatched=out.unmatched)


def routed_depth(depth: DepthResult | np.ndarray, prompt: str, object_prompts: dict[str, str] | None
                 ) -> tuple[np.ndarray, np.ndarray, object, SceneSegments]:
    """What a generator is handed for a depth render: metric depth, mask, camera, and the parts with their prompts.

    :param depth: A depth render (``render_depth(ids=True)`` to paint per object), or a depth array.
    :param prompt: The scene prompt.
    :param object_prompts: Object name → prompt; these win over routing (they need the render's object ids).
    :raises BadInput: For object prompts with an array, or a render without ids, or a name that is no object.
    :return: ``(metres, mask, camera, parts)``.
    """
    if not isinstance(depth, DepthResult) or (depth.object_ids is None and object_prompts):
        raise BadInput("object_prompts needs the objects the depth shows: pass the result of render_depth(ids=True) "
                       "as depth (not its array)")
    names = list(dict.fromkeys([*depth.objects, *(o.name for o in bpy.context.scene.objects)]))
    object_prompts = check_object_prompts(object_prompts, names)
    parts = scene_segments(depth, prompt, object_prompts) if depth.object_ids is not None else SceneSegments()
    metres, camera = depth.metric()
    return metres, depth.mask, camera, parts


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
    if not needs_ids(prompt, object_prompts):
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
    out = _reported(scene, assignment, maps, parts)
    if not _per_part(scene, object_prompts):
        return [None] * len(results), SceneSegments(unmatched=out.unmatched)
    return maps, out


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
    records = [dict(r, segment=i, object=parts[i].object) for i, r in enumerate(assignment.as_records()) if i in shown]
    unused, unmatched = unreached(scene, records)
    texts = [scene.phrases[d.phrase].text if d.phrase >= 0 else d.prompt for d in assignment.decisions]
    hidden = {(scene.phrases[i].text, target): names for (i, target), names in shadowed(records, unmatched).items()}
    return SceneSegments(segments, [d.prompt for d in assignment.decisions], records,
                         [scene.phrases[i].text for i in unused], texts, [p.object for p in parts],
                         [(scene.phrases[i].text, target) for i, target in unmatched], hidden)
