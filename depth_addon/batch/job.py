# SPDX-License-Identifier: GPL-3.0-or-later
"""The job file: validation with clear messages, defaults, and expansion into units.

Example ``job.json``::

    {
      "version": 1,
      "defaults": {"prompt": "weathered stone", "resolution": [512, 512], "outputs": ["depth", "generated"]},
      "tasks": [
        {"name": "shot010", "blend": "shots/010.blend", "cameras": ["CamA", "CamB"], "frames": [1, 24],
         "seed": 7, "seed_mode": "increment", "range": [0.5, 40.0]},
        {"name": "still", "blend": "still.blend", "cameras": "all", "prompt": "brick walls and grass",
         "object_prompts": {"Gate": "rusty metal"}}
      ]
    }

Paths are relative to the job file. ``cameras`` is a list, ``"scene"`` (the scene camera, the
default) or ``"all"`` (every camera, resolved when the .blend is opened), of the task's ``scene`` (a scene's name;
by default the scene the file was saved showing). ``frames`` is ``[start, end]`` inclusive or absent (the
current frame). ``range`` locks the depth mapping's near/far in metres; without it the range is computed once
over all of the task's views. A prompt that names several materials paints each object as routed, and
``object_prompts`` (object name → prompt) win over the routing, as in the ``texture`` command.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import BadInput
from ..mapping import ENGINES, KINDS

OUTPUTS = ("depth", "depth_png", "generated", "texture", "render")
SEED_MODES = ("fixed", "increment")
_TASK_KEYS = {"name", "blend", "cameras", "frames", "prompt", "negative_prompt", "seed", "seed_mode", "generator",
              "resolution", "engine", "mapping", "range", "outputs", "out_dir", "object_prompts", "scene"}
_JOB_KEYS = {"version", "defaults", "tasks"}
#: Blender's frame numbers run from -FRAME_LIMIT to FRAME_LIMIT; it clamps any other frame to the nearest of them.
FRAME_LIMIT = 1_048_574


@dataclass(frozen=True)
class Task:
    """One entry of a job, with defaults applied and paths made absolute."""

    name: str
    blend: str
    cameras: tuple[str, ...] | str = "scene"
    frames: tuple[int, int] | None = None
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    seed_mode: str = "fixed"
    generator: str | None = None
    resolution: tuple[int, int] | None = None
    engine: str = "auto"
    mapping: str = "inverse"
    range: tuple[float, float] | None = None
    outputs: tuple[str, ...] = ("depth", "generated")
    out_dir: str = ""
    object_prompts: tuple[tuple[str, str], ...] = ()
    scene: str | None = None

    def frame_list(self, current: int = 1) -> list[int]:
        """Frames of the task (``current`` when no range is given)."""
        return [current] if self.frames is None else list(range(self.frames[0], self.frames[1] + 1))

    def seed_for(self, frame: int) -> int:
        """The seed of ``frame``: fixed, or the task seed plus the frame's offset in the range."""
        if self.seed_mode == "increment" and self.frames is not None:
            return self.seed + frame - self.frames[0]
        return self.seed


@dataclass(frozen=True)
class Unit:
    """One camera at one frame of one task: the smallest independent piece of work."""

    task: str
    camera: str
    frame: int
    seed: int
    spec: dict = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        """Stable identifier inside its task (used for file names and the manifest)."""
        return f"{_safe(self.camera)}_{self.frame:04d}"

    @property
    def spec_hash(self) -> str:
        """sha256 of everything that affects this unit's result."""
        return hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()[:16]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "camera"


@dataclass
class Job:
    """A parsed job: its tasks and the folder relative paths were resolved against."""

    tasks: list[Task]
    base_dir: str

    def units(self, task: Task, cameras: list[str], current_frame: int = 1) -> list[Unit]:
        """Expand ``task`` into units for the resolved camera names."""
        spec = {k: v for k, v in asdict(task).items() if k not in ("name", "out_dir", "cameras", "frames")}
        for key in ("object_prompts", "scene"):  # absent before these existed: earlier runs keep their hashes
            if not spec[key]:
                del spec[key]
        folders: dict[str, str] = {}
        for cam in cameras:  # a unit's folder is named after its camera: two must not share one
            other = folders.setdefault(_safe(cam).lower(), cam)
            if other != cam:
                raise _fail(f"task {task.name!r}", f"cameras {other!r} and {cam!r} would write to the same unit "
                                                   f"folders ({_safe(cam)}_…); rename one of them")
        return [Unit(task.name, cam, f, task.seed_for(f), spec | {"camera": cam, "frame": f, "seed": task.seed_for(f)})
                for cam in cameras for f in task.frame_list(current_frame)]


def _fail(where: str, message: str) -> BadInput:
    return BadInput(f"job {where}: {message}")


def _unknown(keys: set[str], allowed: set[str]) -> str:
    """The message for ``keys`` that a job part does not have, with the close matches of typos.

    :param keys: The unknown keys.
    :param allowed: The keys that part has.
    """
    guesses = {k: difflib.get_close_matches(k, allowed, n=1) for k in sorted(keys)}
    hints = [f"{k!r} → {g[0]!r}" for k, g in guesses.items() if g]
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    return f"unknown keys {sorted(keys)}{hint}; allowed: {sorted(allowed)}"


def _pair(value, where: str, kind: type, positive: bool = False) -> tuple:
    if not (isinstance(value, list | tuple) and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise _fail(where, f"must be a list of two numbers, got {value!r}")
    if kind is int and not all(isinstance(v, int) or float(v).is_integer() for v in value):
        raise _fail(where, f"must be two whole numbers, got {value!r}")
    pair = tuple(kind(v) for v in value)
    if positive and min(pair) <= 0:
        raise _fail(where, f"must be positive, got {value!r}")
    return pair


def check_frames(frames: tuple[int, int], what: str) -> None:
    """Refuse frames Blender has not got: it would clamp them, and every frame past its last would be the last one.

    :param frames: First and last frame, inclusive.
    :param what: What names them in the message (``--frames``, a job task's ``'frames'``).
    :raises BadInput: For a frame outside ``-FRAME_LIMIT`` to ``FRAME_LIMIT``.
    """
    if min(frames) < -FRAME_LIMIT or max(frames) > FRAME_LIMIT:
        raise BadInput(f"{what} {frames[0]} {frames[1]}: Blender's frames run from {-FRAME_LIMIT} to {FRAME_LIMIT}")


def _frames(value, where: str) -> tuple[int, int] | None:
    """A task's ``frames``: None, or first and last frame within Blender's frames.

    :raises BadInput: For anything else.
    """
    if value is None:
        return None
    frames = _pair(value, f"{where} 'frames'", int)
    if frames[1] < frames[0]:
        raise _fail(where, f"'frames' end {frames[1]} is before start {frames[0]}")
    check_frames(frames, f"job {where} 'frames'")
    return frames


def _text(data: dict, key: str, where: str, default: str | None = "") -> str | None:
    """The string ``data[key]`` (``default`` when absent).

    :raises BadInput: For any other type (a number or a list would become its printed form).
    """
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise _fail(where, f"{key!r} must be a string, got {value!r}")
    return value


def _task(raw: dict, defaults: dict, index: int, base: Path) -> Task:
    where = f"task {index + 1}"
    if not isinstance(raw, dict):
        raise _fail(where, "must be an object")
    data = defaults | raw
    unknown = set(raw) - _TASK_KEYS  # the defaults' own keys were checked where they are
    if unknown:
        raise _fail(where, _unknown(unknown, _TASK_KEYS))
    if not isinstance(data.get("blend"), str) or not data["blend"].strip():
        raise _fail(where, "needs a 'blend' file (its path, relative to the job file)")
    name = str(data.get("name") or f"task{index + 1:03d}")
    where = f"task {name!r}"
    if name in (".", "..") or any(c in name for c in "/\\\0:") or name != name.strip():
        raise _fail(where, "'name' names the task's folder (out/<name>): one folder name, without /, \\, : or "
                           "surrounding spaces, and not . or ..")
    blend = base / str(data["blend"])
    cameras = data.get("cameras", "scene")
    if isinstance(cameras, list):
        if not cameras or not all(isinstance(c, str) and c for c in cameras):
            raise _fail(where, "'cameras' must be a non-empty list of names, 'scene' or 'all'")
        cameras = tuple(cameras)
    elif cameras not in ("scene", "all"):
        raise _fail(where, f"'cameras' must be a list of names, 'scene' or 'all', got {cameras!r}")
    frames = _frames(data.get("frames"), where)
    texts = {key: _text(data, key, where) for key in ("prompt", "negative_prompt")}
    generator = _text(data, "generator", where, None)
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _fail(where, f"'seed' must be an integer, got {seed!r}")
    if data.get("seed_mode", "fixed") not in SEED_MODES:
        raise _fail(where, f"'seed_mode' must be one of {SEED_MODES}")
    if data.get("mapping", "inverse") not in KINDS:
        raise _fail(where, f"'mapping' must be one of {KINDS}")
    if data.get("engine", "auto") not in ENGINES:
        raise _fail(where, f"'engine' must be one of {ENGINES}")
    rng = data.get("range")
    if rng is not None:
        rng = _pair(rng, f"{where} 'range'", float, positive=True)
        if rng[0] >= rng[1]:
            raise _fail(where, f"'range' near {rng[0]} must be smaller than far {rng[1]}")
    res = data.get("resolution")
    if res is not None:
        res = _pair(res, f"{where} 'resolution'", int, positive=True)
    outputs = tuple(data.get("outputs", ("depth", "generated")))
    if not outputs or set(outputs) - set(OUTPUTS):
        raise _fail(where, f"'outputs' must be a non-empty subset of {OUTPUTS}")
    prompts = data.get("object_prompts") or {}
    if not isinstance(prompts, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                                for k, v in prompts.items()):
        raise _fail(where, "'object_prompts' must map object names to prompts (strings)")
    out_dir = base / str(data.get("out_dir") or Path("out") / name)
    return Task(name=name, blend=os.fspath(blend), cameras=cameras, frames=frames, prompt=texts["prompt"],
                negative_prompt=texts["negative_prompt"], seed=seed,
                seed_mode=data.get("seed_mode", "fixed"), generator=generator, resolution=res,
                engine=str(data.get("engine", "auto")), mapping=data.get("mapping", "inverse"), range=rng,
                outputs=outputs, out_dir=os.fspath(out_dir), object_prompts=tuple(sorted(prompts.items())),
                scene=_text(data, "scene", where, None))


def _may_share_units(a: Task, b: Task) -> bool:
    """Whether tasks ``a`` and ``b`` may make units of one folder and name: one ``out_dir``, and cameras and frames
    that are not known to differ (``"scene"``, ``"all"`` and a task without frames may be any).

    :param a: A task.
    :param b: Another task.
    """
    if os.path.normcase(a.out_dir) != os.path.normcase(b.out_dir):
        return False
    if isinstance(a.cameras, tuple) and isinstance(b.cameras, tuple):
        if not {_safe(c).lower() for c in a.cameras} & {_safe(c).lower() for c in b.cameras}:
            return False
    return a.frames is None or b.frames is None or not (a.frames[1] < b.frames[0] or b.frames[1] < a.frames[0])


def parse_job(data: dict, base_dir: str | os.PathLike = ".") -> Job:
    """Validate a job dict and apply defaults.

    :param data: The decoded job file.
    :param base_dir: Folder that relative paths refer to (the job file's folder).
    :raises BadInput: With the first problem found, naming the task and key.
    """
    if not isinstance(data, dict):
        raise BadInput("job: the file must contain a JSON object")
    if data.get("version", 1) != 1:
        raise BadInput(f"job: unsupported version {data.get('version')!r} (this release reads version 1)")
    defaults = data.get("defaults", {})
    tasks = data.get("tasks")
    unknown = set(data) - _JOB_KEYS  # a misspelt 'defaults' would otherwise be dropped without a word
    if unknown:
        raise BadInput(f"job: {_unknown(unknown, _JOB_KEYS)}")
    if not isinstance(defaults, dict):
        raise BadInput("job: 'defaults' must be an object")
    if set(defaults) - _TASK_KEYS:
        raise BadInput(f"job defaults: {_unknown(set(defaults) - _TASK_KEYS, _TASK_KEYS)}")
    if not isinstance(tasks, list) or not tasks:
        raise BadInput("job: 'tasks' must be a non-empty list")
    base = Path(base_dir).resolve()
    parsed = [_task(raw, defaults, i, base) for i, raw in enumerate(tasks)]
    names = [t.name for t in parsed]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"job: task names must be unique, repeated: {dupes}")
    for i, task in enumerate(parsed):  # units are named by camera and frame: tasks in one folder replace each other's
        other = next((t for t in parsed[:i] if _may_share_units(t, task)), None)
        if other is not None:
            raise BadInput(f"job: tasks {other.name!r} and {task.name!r} both write to {task.out_dir}, where each "
                           "would replace the other's units; give each task its own 'out_dir' (by default out/<name>)")
    return Job(tasks=parsed, base_dir=os.fspath(base))


def load_job(path: str | os.PathLike) -> Job:
    """Read and validate a job file (see :func:`parse_job`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"job file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"job file {path} is not valid JSON: {exc}") from None
    return parse_job(data, path.parent)
