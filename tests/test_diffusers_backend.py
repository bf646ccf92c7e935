# SPDX-License-Identifier: GPL-3.0-or-later
"""The diffusers backend, with tiny random-weight pipelines built offline (``tiny_pipelines.py``) and loaded
like a user's folder."""

from __future__ import annotations

import dataclasses
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_pipelines import build_flux, build_sd15, build_sdxl

from depth_addon.errors import BadInput, Cancelled, ModelUnavailable
from depth_addon.generation import diffusers_backend as backend
from depth_addon.generation import diffusers_load as loader
from depth_addon.generation.diffusers_backend import (
    BackendConfig,
    DiffusersGenerator,
    config_from_env,
    control_image,
    estimate_memory,
    import_diffusers,
    sha256_of,
    verify_hashes,
)
from depth_addon.generation.diffusers_load import pick_device, plan_offload

FAMILIES = ("sd15-controlnet", "sdxl-controlnet", "flux-depth")
W, H = 60, 40  # padded to 64×40 (stride 8) and 64×48 (FLUX, stride 16)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these tiny models gain nothing from more, and the test machines are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def folders(tmp_path_factory) -> dict[str, Path]:
    """The three tiny pipelines, saved as safetensors diffusers folders (built once per session)."""
    root = tmp_path_factory.mktemp("diffusers_models")
    out = {}
    for family, build in zip(FAMILIES, (build_sd15, build_sdxl, build_flux), strict=True):
        build().save_pretrained(root / family, safe_serialization=True)
        out[family] = root / family
    return out


@pytest.fixture(scope="session")
def generators(folders) -> dict[str, DiffusersGenerator]:
    """One loaded generator per family, shared by the tests that only run it."""
    return {f: DiffusersGenerator(BackendConfig(model=str(p), steps=2)) for f, p in folders.items()}


def scene(h: int = H, w: int = W) -> np.ndarray:
    """A tilted floor with a box in front and sky (``inf``) at the top."""
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    depth = np.broadcast_to(2.0 + 8.0 * (1.0 - y), (h, w)).copy()
    depth[: h // 4] = np.inf
    depth[h // 2:, w // 3: 2 * w // 3] = 1.5
    return depth


# --- running the pipelines -----------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_shape_range_and_seeds(generators, family: str) -> None:
    """Off-stride sizes are padded and cropped back; equal seeds repeat bit for bit, other seeds differ."""
    gen = generators[family]
    a = gen.generate(scene(), prompt="red brick wall", seed=1)
    assert gen.family == family and gen.device == "cpu" and gen.dtype == "float32"
    assert a.shape == (H, W, 3) and a.dtype == np.float32 and a.flags.c_contiguous
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0
    assert np.array_equal(a, gen.generate(scene(), prompt="red brick wall", seed=1))
    assert not np.array_equal(a, gen.generate(scene(), prompt="red brick wall", seed=2))


def test_prompt_reaches_the_model(generators) -> None:
    """Any text is tokenised and changes the image (no word filtering); an explicit odd size works too."""
    gen = generators["sd15-controlnet"]
    plain = gen.generate(scene(), prompt="", seed=3, size=(37, 29))
    odd = gen.generate(scene(), prompt="zqxv Straße 東京", seed=3, size=(37, 29))
    assert plain.shape == odd.shape == (29, 37, 3) and not np.array_equal(plain, odd)


def test_progress_and_cancel(generators) -> None:
    """Progress rises through every step to 1.0; cancel after step 1 raises and the model stays usable."""
    gen = generators["sdxl-controlnet"]
    seen: list[tuple[float, str]] = []
    gen.generate(scene(), seed=0, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [m for _, m in seen if m.startswith("step")] == ["step 1/2", "step 2/2"]
    steps: list[str] = []
    with pytest.raises(Cancelled):
        gen.generate(scene(), seed=0, progress=lambda f, m: steps.append(m), cancel=lambda: "step 1/2" in steps)
    assert [m for m in steps if m.startswith("step")] == ["step 1/2"]
    assert gen.generate(scene(), seed=0).shape == (H, W, 3)


@pytest.mark.parametrize("family", ["sd15-controlnet", "flux-depth"])
def test_regional_prompts_paint_each_segment_with_its_own_pass(generators, family: str) -> None:
    """One masked pass per distinct prompt: each segment equals its prompt's own full-frame image there, the
    rest follows the main prompt; progress names the passes and still rises to 1.0."""
    gen, depth = generators[family], scene()
    seg = np.full(depth.shape, -1, np.int32)
    seg[:, : W // 2], seg[H // 2:, W // 3: 2 * W // 3] = 0, 2
    prompts = ["red brick wall", "", "wooden box"]
    seen: list[tuple[float, str]] = []
    out = gen.generate(depth, prompt="grass", seed=5, segments=seg, segment_prompts=prompts,
                       progress=lambda f, m: seen.append((f, m)))
    alone = {p: gen.generate(depth, prompt=p, seed=5) for p in ("grass", "red brick wall", "wooden box")}
    for where, text in ((seg == 0, "red brick wall"), (seg == 2, "wooden box"), (seg < 0, "grass")):
        assert np.array_equal(out[where], alone[text][where])
    assert not np.array_equal(out, alone["grass"])
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {m.split(":")[0] for _, m in seen if m.startswith("prompt")} == {"prompt 1/3", "prompt 2/3", "prompt 3/3"}
    one = gen.generate(depth, prompt="grass", seed=5, segments=np.zeros_like(seg), segment_prompts=["grass"])
    assert np.array_equal(one, alone["grass"])
    with pytest.raises(BadInput, match="segments"):
        gen.generate(depth, seed=5, segments=seg[:-1], segment_prompts=prompts)


@pytest.mark.parametrize("family", FAMILIES)
def test_paint_already_there_is_restyled_or_kept(generators, family: str) -> None:
    """``init_image`` alone restyles it (image-to-image under the depth control); with ``init_mask`` the kept pixels
    are exactly the paint and the rest is painted anew; bad paint is refused before any step."""
    gen, depth = generators[family], scene()
    photo = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    styled = gen.generate(depth, prompt="marble", seed=1, init_image=photo, denoise=0.5)
    assert np.array_equal(styled, gen.generate(depth, prompt="marble", seed=1, init_image=photo, denoise=0.5))
    assert not np.array_equal(styled, gen.generate(depth, prompt="marble", seed=1, init_image=photo[::-1].copy(),
                                                   denoise=0.5))  # the photo reaches the model
    assert not np.array_equal(styled, gen.generate(depth, prompt="marble", seed=1))
    paint = np.zeros((H, W), bool)
    paint[:, W // 2:] = True
    inpainted = gen.generate(depth, prompt="marble", seed=1, init_image=photo, init_mask=paint)
    assert np.array_equal(inpainted[~paint], photo[~paint]) and np.abs(inpainted[paint] - photo[paint]).mean() > 0.05
    for bad, match in (({"init_mask": paint}, "needs an init_image"), ({"init_image": photo[:-1]}, "H×W×3"),
                       ({"init_image": photo, "denoise": 0.0}, "denoise")):
        with pytest.raises(BadInput, match=match):
            gen.generate(depth, seed=1, **bad)


def test_depth_reaches_the_controlnet(generators) -> None:
    """With strength 0 the depth map has no effect; at full strength another depth gives another image."""
    gen = generators["sd15-controlnet"]
    near = scene()
    far = np.where(np.isfinite(near), near * 3.0 + 1.0, np.inf)
    off = [gen.generate(d, seed=4, strength=0.0) for d in (near, far)]
    on = [gen.generate(d, seed=4, strength=1.0) for d in (near, far)]
    assert np.array_equal(off[0], off[1]) and not np.array_equal(on[0], on[1])


def test_memory_options_per_call(generators) -> None:
    """Attention slicing and VAE tiling follow the per-call options and leave the image (nearly) unchanged."""
    gen = generators["sd15-controlnet"]
    plain = gen.generate(scene(), seed=6)
    sliced = gen.generate(scene(), seed=6, options={"attention_slicing": True})
    assert {type(p).__name__ for p in gen.pipe.unet.attn_processors.values()} == {"SlicedAttnProcessor"}
    np.testing.assert_allclose(sliced, plain, atol=1e-4)
    tiled = gen.generate(scene(), seed=6, options={"vae_tiling": True})  # the tiny VAE's tiles are 32 px
    assert gen.pipe.vae.use_tiling and not np.array_equal(tiled, plain)
    gen.generate(scene(), seed=6, options={"attention_slicing": False, "vae_tiling": False})
    assert "SlicedAttnProcessor" not in {type(p).__name__ for p in gen.pipe.unet.attn_processors.values()}
    assert not gen.pipe.vae.use_tiling


def test_control_image_is_float_inverse_depth() -> None:
    """Near is white, sky black, three equal channels, padded by edge repetition, finer than 8 bits."""
    h, w = 44, 60
    depth = scene(h, w)
    depth[h // 4:, : w // 3] = np.linspace(2.0, 9.0, h - h // 4, dtype=np.float32)[:, None]
    ctrl = control_image(depth, np.isfinite(depth), 8)
    assert ctrl.shape == (1, 3, 48, 64) and ctrl.dtype == np.float32
    assert np.array_equal(ctrl[0, 0], ctrl[0, 2])
    assert ctrl[0, 0, 0, 0] == 0.0 and ctrl[0, 0, -5, w // 2] == pytest.approx(1.0)
    assert np.array_equal(ctrl[0, 0, h:, :w], np.repeat(ctrl[0, 0, h - 1: h, :w], 48 - h, axis=0))
    assert np.array_equal(ctrl[0, 0, :h, w:], np.repeat(ctrl[0, 0, :h, w - 1: w], 64 - w, axis=1))
    assert len(np.unique(ctrl)) > 30 and not np.allclose(ctrl * 255, np.round(ctrl * 255), atol=1e-3)


def test_separate_and_single_file_controlnet(folders, generators, tmp_path) -> None:
    """A base folder without ControlNet needs one; a ControlNet folder or single file gives the same image."""
    src = folders["sd15-controlnet"]
    base = shutil.copytree(src, tmp_path / "base")
    shutil.rmtree(base / "controlnet")
    index = (base / "model_index.json").read_text(encoding="utf-8")
    (base / "model_index.json").write_text(index.replace('"controlnet"', '"_unused"'), encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="needs a depth ControlNet"):
        DiffusersGenerator(BackendConfig(model=str(base))).load()
    ref = generators["sd15-controlnet"].generate(scene(), seed=5)
    for net in (src / "controlnet", src / "controlnet" / "diffusion_pytorch_model.safetensors"):
        gen = DiffusersGenerator(BackendConfig(model=str(base), controlnet=str(net), steps=2))
        assert np.array_equal(gen.generate(scene(), seed=5), ref)
    gen = DiffusersGenerator(BackendConfig(steps=2))  # as a worker request gives them: the preferences' folders
    assert np.array_equal(gen.generate(scene(), seed=5, model_dir=str(base), controlnet_dir=str(src / "controlnet")),
                          ref)
    xl_net = folders["sdxl-controlnet"] / "controlnet"
    with pytest.raises(BadInput, match="another base model"):
        DiffusersGenerator(BackendConfig(model=str(base), controlnet=str(xl_net))).load()


def test_loading_makes_no_network_calls(folders, monkeypatch) -> None:
    """Loading a local folder never opens a connection."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access while loading a local model")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    gen = DiffusersGenerator(BackendConfig(model=str(folders["flux-depth"]), steps=1))
    gen.load()
    assert gen.pipe is not None and os.environ["HF_HUB_OFFLINE"] == "1"


# --- refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["unet/diffusion_pytorch_model.bin", "v1-5-pruned.ckpt", "vae/weights.pth"])
def test_pickle_files_are_refused(folders, tmp_path, name: str) -> None:
    """A folder holding any pickle-based weight file is refused, and the message names it."""
    model = shutil.copytree(folders["sd15-controlnet"], tmp_path / "m")
    (model / name).write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelUnavailable, match="pickle") as info:
        DiffusersGenerator(BackendConfig(model=str(model))).load()
    assert str(model / name) in str(info.value)


def test_truncated_safetensors_is_refused(folders, tmp_path) -> None:
    """A safetensors file cut short is refused before loading, naming the file."""
    model = shutil.copytree(folders["sd15-controlnet"], tmp_path / "m")
    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelUnavailable, match=r"the file is truncated \(\d+ bytes, expected \d+\)") as info:
        DiffusersGenerator(BackendConfig(model=str(model))).load()
    assert str(weights) in str(info.value)


def test_sha256_is_checked(folders) -> None:
    """A wrong hash is refused with both hashes; the right one passes."""
    model = folders["sd15-controlnet"]
    rel = "unet/diffusion_pytorch_model.safetensors"
    good = sha256_of(model / rel)
    verify_hashes({rel: good.upper()}, model)
    with pytest.raises(ModelUnavailable, match="does not match") as info:
        DiffusersGenerator(BackendConfig(model=str(model), sha256={rel: "0" * 64})).load()
    assert good in str(info.value) and "0" * 64 in str(info.value)


def test_bad_inputs_and_folders(folders, tmp_path) -> None:
    """Missing folders, folders of the wrong kind or family, all-inf depth and bad options are refused."""
    with pytest.raises(ModelUnavailable, match="not found"):
        DiffusersGenerator(BackendConfig(model=str(tmp_path / "nothing"))).generate(scene())
    with pytest.raises(ModelUnavailable, match="no diffusers model configured"):
        DiffusersGenerator().generate(scene())
    with pytest.raises(ModelUnavailable, match="model_index.json"):
        DiffusersGenerator(BackendConfig(model=str(tmp_path))).load()
    with pytest.raises(BadInput, match="not a sdxl-controlnet"):
        DiffusersGenerator(BackendConfig(family="sdxl-controlnet", model=str(folders["sd15-controlnet"]))).load()
    with pytest.raises(BadInput, match="no finite depth"):
        DiffusersGenerator(BackendConfig(model=str(folders["sd15-controlnet"]))).generate(np.full((8, 8), np.inf))
    with pytest.raises(BadInput, match="unknown diffusers option"):
        BackendConfig.from_dict({"modle": "x"})
    with pytest.raises(BadInput, match="cpu_offload"):
        BackendConfig(cpu_offload="always")


def test_config_from_environment() -> None:
    """A worker's default config comes from DEPTH_ADDON_DIFFUSERS (JSON) and DEPTH_ADDON_DEVICE."""
    cfg = config_from_env({"DEPTH_ADDON_DIFFUSERS": '{"model": "/m", "steps": 4}', "DEPTH_ADDON_DEVICE": "cpu"})
    assert (cfg.model, cfg.steps, cfg.device, cfg.family) == ("/m", 4, "cpu", "auto")
    assert config_from_env({}) == BackendConfig()
    for bad in ("{model: 1}", "[1]", '{"steps": 0}'):
        with pytest.raises(BadInput):
            config_from_env({"DEPTH_ADDON_DIFFUSERS": bad})


def test_missing_packages_name_the_install_command(monkeypatch) -> None:
    """Without diffusers (or torch) the error says what to install and how."""
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(ModelUnavailable, match=r"pip install diffusers==\S+ transformers==\S+"):
        import_diffusers()


# --- device and memory ---------------------------------------------------------------------------------


def test_device_and_dtype_choice(monkeypatch) -> None:
    """CUDA takes bf16 where supported else fp16, MPS fp16, CPU fp32; unavailable devices are refused."""
    assert pick_device() == ("cpu", "float32")
    with pytest.raises(BadInput, match="float16"):
        pick_device("cpu", "float16")
    with pytest.raises(ModelUnavailable, match="cuda"):
        pick_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == ("mps", "float16")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for bf16, dtype in ((True, "bfloat16"), (False, "float16")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda bf16=bf16: bf16)
        assert pick_device() == ("cuda", dtype)


def test_memory_estimate(folders, generators) -> None:
    """Weights match the loaded parameters; activations grow with the pixel count; CPU needs no offload."""
    cfg = BackendConfig(model=str(folders["sd15-controlnet"]))
    small, large = estimate_memory(cfg, (60, 44)), estimate_memory(cfg, (120, 88))
    assert small["size"] == (64, 48) and large["size"] == (120, 88)
    assert small["device"] == "cpu" and small["offload"] == "none"
    gen = generators["sd15-controlnet"]
    if gen.pipe is None:
        gen.load()
    pipe = gen.pipe
    for name in ("unet", "controlnet", "vae", "text_encoder"):
        assert small["components"][name] == 4 * sum(p.numel() for p in getattr(pipe, name).parameters())
    assert small["weights_bytes"] == large["weights_bytes"] > 0
    for part in ("denoiser", "vae"):
        assert large["activation_bytes"][part] > 3 * small["activation_bytes"][part] > 0
    assert all(large["peak_bytes"][m] > small["peak_bytes"][m] > 0 for m in ("none", "model", "sequential"))


def test_memory_plan_drives_loading(folders, monkeypatch) -> None:
    """On a (faked) GPU the estimate picks model offload when only that fits, and refuses when nothing fits."""
    for module in (backend, loader):
        monkeypatch.setattr(module, "pick_device", lambda device="auto", dtype="auto": ("cuda", "float32"))
    placed = []
    monkeypatch.setattr(DiffusersGenerator, "_place", staticmethod(lambda pipe, dev, mode: placed.append((dev, mode))))
    cfg = BackendConfig(model=str(folders["sd15-controlnet"]))
    peaks = estimate_memory(cfg, (512, 512))["peak_bytes"]
    assert peaks["none"] > peaks["model"]
    monkeypatch.setattr(loader, "free_memory", lambda device: int(peaks["model"] * loader.MARGIN) + 1)
    gen = DiffusersGenerator(cfg)
    gen.load()
    assert placed == [("cuda", "model")] and gen.offload == "model" and gen.last_estimate["fits"]
    monkeypatch.setattr(loader, "free_memory", lambda device: 2**20)
    with pytest.raises(ModelUnavailable, match="not enough accelerator memory"):
        DiffusersGenerator(cfg).load()
    assert len(placed) == 1


def test_weights_that_do_not_fit_in_ram_are_refused_before_loading(folders, monkeypatch) -> None:
    """Loading needs the weight files' size times the dtype factor in RAM; with less available (forced here) the
    load is refused with the estimate and what is free, before any weight is read."""
    import diffusers

    cfg = BackendConfig(model=str(folders["sd15-controlnet"]))
    full, half = estimate_memory(cfg), estimate_memory(dataclasses.replace(cfg, dtype="bfloat16"))
    assert full["load_bytes"] == full["disk_bytes"] > full["weights_bytes"] > 0  # float32 files, loaded as float32
    assert half["disk_bytes"] == full["disk_bytes"]
    assert half["load_bytes"] == pytest.approx(full["disk_bytes"] / 2, rel=0.01)

    def refuse(*_args, **_kwargs):
        raise AssertionError("weights read before the memory check")

    monkeypatch.setattr(diffusers.StableDiffusionControlNetPipeline, "from_pretrained", refuse)
    monkeypatch.setattr(loader, "available_bytes", lambda: full["load_bytes"] // 2)
    gen = DiffusersGenerator(cfg)
    with pytest.raises(ModelUnavailable, match=r"not enough memory to load .*sd15.*: its weights need about "
                       r"[\d.]+ MiB in float32 \([\d.]+ MiB of files\), only [\d.]+ MiB of RAM is available"):
        gen.load()
    assert gen.pipe is None


def test_offload_plan() -> None:
    """The lightest mode that fits is chosen; an explicit mode that does not fit is refused with a hint."""
    peaks = {"none": 10 * 2**30, "model": 6 * 2**30, "sequential": 2 * 2**30}
    assert plan_offload(peaks, None) == "none"
    assert plan_offload(peaks, 12 * 2**30) == "none"
    assert plan_offload(peaks, 8 * 2**30) == "model"
    assert plan_offload(peaks, 3 * 2**30) == "sequential"
    assert plan_offload(peaks, 12 * 2**30, "sequential") == "sequential"
    with pytest.raises(ModelUnavailable, match="cpu_offload='model' would fit"):
        plan_offload(peaks, 8 * 2**30, "none")
    with pytest.raises(ModelUnavailable, match="not enough accelerator memory"):
        plan_offload(peaks, 2**30)


def test_a_record_names_the_model_and_settings_and_one_gpu_of_several_can_be_chosen(tmp_path) -> None:
    from depth_addon.generation.diffusers_backend import DiffusersGenerator
    from depth_addon.generation.diffusers_load import BackendConfig
    from depth_addon.texturing.provenance import generator_fingerprint

    two = DiffusersGenerator(BackendConfig(model=str(tmp_path / "sd15"), steps=2))
    three = DiffusersGenerator(BackendConfig(model=str(tmp_path / "sd15"), steps=3))
    assert generator_fingerprint(two).startswith("diffusers:sd15:")
    assert generator_fingerprint(two) != generator_fingerprint(three)
    assert BackendConfig(model=str(tmp_path / "sd15"), device="cuda:1").device == "cuda:1"
