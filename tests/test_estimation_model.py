# SPDX-License-Identifier: GPL-3.0-or-later
"""The estimator backend, offline: tiny random-weight Depth Anything models built here, the folder checks and the
memory guard. Weights are saved with ``save_pretrained(safe_serialization=True)``; nothing touches a hub."""

from __future__ import annotations

import json
import shutil
import struct
import zlib

import cv2
import numpy as np
import pytest

from depth_addon.errors import BadInput, ModelUnavailable
from depth_addon.estimation.estimator import Estimator, estimate_photo, input_shape, inspect_folder, weights_problem


def tiny_depth_anything(folder, metric: bool = False):
    """Save a random-weight DepthAnythingForDepthEstimation of a few thousand parameters into ``folder``."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            patch_size=14, image_size=56, out_features=["stage1", "stage2"],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, neck_hidden_sizes=[8, 16],
                                 reassemble_factors=[2, 1], fusion_hidden_size=8, head_hidden_size=8,
                                 depth_estimation_type="metric" if metric else "relative", max_depth=20)
    torch.manual_seed(0)
    DepthAnythingForDepthEstimation(config).save_pretrained(folder, safe_serialization=True)
    (folder / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 56, "width": 56}}))
    return folder


def tiny_dpt(folder):
    """Save a random-weight DPTForDepthEstimation (its own ViT, which takes square inputs only) into ``folder``."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation

    config = DPTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
                       image_size=32, patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
                       reassemble_factors=[4, 2, 1, 0.5], fusion_hidden_size=8, head_in_index=-1)
    torch.manual_seed(0)
    DPTForDepthEstimation(config).save_pretrained(folder, safe_serialization=True)
    return folder


def tiny_depth_pro(folder, fov_deg: float = 60.0):
    """Save a random-weight DepthProForDepthEstimation with its field-of-view head into ``folder``; the head's last
    layer is set to answer ``fov_deg`` whatever the photo."""
    import torch
    from transformers import DepthProConfig, DepthProForDepthEstimation

    config = DepthProConfig(
        patch_size=16, fusion_hidden_size=16, intermediate_hook_ids=[1, 0], intermediate_feature_dims=[10, 8],
        scaled_images_ratios=[0.5, 1.0], scaled_images_overlap_ratios=[0.0, 0.2], scaled_images_feature_dims=[12, 12],
        use_fov_model=True,
        image_model_config={"model_type": "dinov2", "num_hidden_layers": 2, "hidden_size": 16,
                            "num_attention_heads": 1, "patch_size": 4},
        patch_model_config={"model_type": "vit", "num_hidden_layers": 2, "hidden_size": 24, "num_attention_heads": 2,
                            "patch_size": 6},
        fov_model_config={"model_type": "vit", "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2,
                          "patch_size": 6})
    torch.manual_seed(0)
    model = DepthProForDepthEstimation(config)
    last = model.fov_model.head.layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(fov_deg)
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 32, "width": 32},
                                                                 "image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    return folder


@pytest.fixture(scope="module")
def relative_model(tmp_path_factory):
    return tiny_depth_anything(tmp_path_factory.mktemp("da_relative"))


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), (rng.random((40, 60, 3)) * 255).astype(np.uint8))
    return path


def png_header(path, width: int, height: int) -> None:
    """A PNG with only its signature and IHDR (no pixels): enough for the header readers."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)


def test_relative_model_gives_disparity_at_the_photo_size(relative_model, photo):
    estimate = estimate_photo(photo, relative_model)
    assert estimate.kind == "disparity" and estimate.intrinsics is None
    assert estimate.values.shape == (40, 60) and estimate.values.dtype == np.float32
    assert np.isfinite(estimate.values).all()


def test_dpt_gives_disparity_at_the_photo_size_through_a_square_input(tmp_path, photo, relative_model):
    """DPT reshapes its tokens to a square grid: a 60×40 photo goes in stretched to the trained 32², comes back
    at 60×40; Depth Anything keeps the aspect."""
    folder = tiny_dpt(tmp_path / "dpt")
    info = inspect_folder(folder)
    assert (info.architecture, info.kind, info.input_size, info.patch, info.square) == (
        "DPTForDepthEstimation", "disparity", 32, 8, True)
    assert input_shape(60, 40, info) == (32, 32)
    estimate = estimate_photo(photo, folder)
    assert estimate.values.shape == (40, 60) and estimate.kind == "disparity" and np.isfinite(estimate.values).all()
    da = inspect_folder(relative_model)
    assert not da.square and input_shape(60, 40, da) == (84, 56)
    (folder / "config.json").write_text((folder / "config.json").read_text().replace('"dpt"', '"depth_anything"'))
    with pytest.raises(ModelUnavailable, match="refusing"):  # DPT weights under a Depth Anything config
        estimate_photo(photo, folder)


def test_depth_pro_gives_metres_and_intrinsics(tmp_path, photo):
    """Depth Pro's field of view makes its canonical inverse depth metres and gives the photo's focal length."""
    from depth_addon.estimation.estimator import depth_pro_metres

    folder = tiny_depth_pro(tmp_path / "dp", fov_deg=60.0)
    info = inspect_folder(folder)
    assert (info.architecture, info.kind, info.input_size, info.square) == ("DepthProForDepthEstimation", "depth",
                                                                             32, True)
    estimate = estimate_photo(photo, folder)
    assert estimate.kind == "depth" and estimate.values.shape == (40, 60) and (estimate.values > 0).all()
    assert estimate.intrinsics is not None and estimate.intrinsics.width == 60
    assert estimate.intrinsics.fx == pytest.approx(60 / (2 * np.tan(np.radians(30.0))), rel=1e-4)
    inverse = np.array([[0.5, 2.0]], np.float32)
    metres, kind, lens = depth_pro_metres(inverse, np.array([90.0]))
    assert kind == "depth" and np.allclose(metres, [[1.0, 0.25]]) and lens.fx == pytest.approx(1.0)
    relative, kind, lens = depth_pro_metres(inverse, np.array([-3.0]))  # a field of view no lens has
    assert kind == "disparity" and lens is None and np.array_equal(relative, inverse)


def test_metric_model_gives_depth(tmp_path, photo):
    info = inspect_folder(tiny_depth_anything(tmp_path / "metric", metric=True))
    assert info.kind == "depth" and info.input_size == 56 and info.patch == 14
    assert Estimator(info.folder).predict(np.full((30, 30, 3), 0.5, np.float32)).kind == "depth"


def test_pickled_weights_are_refused(relative_model, tmp_path):
    folder = shutil.copytree(relative_model, tmp_path / "with_pickle")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelUnavailable, match="pickle-based weights"):
        inspect_folder(folder)


def test_a_config_of_another_class_is_refused(tmp_path):
    from transformers import Dinov2Config, Dinov2Model

    Dinov2Model(Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             image_size=28)).save_pretrained(tmp_path / "dinov2", safe_serialization=True)
    with pytest.raises(ModelUnavailable, match="not a depth estimator"):
        inspect_folder(tmp_path / "dinov2")


def test_weights_of_another_class_are_refused(relative_model, tmp_path):
    from transformers import Dinov2Config, Dinov2Model

    Dinov2Model(Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             image_size=28)).save_pretrained(tmp_path / "dinov2", safe_serialization=True)
    folder = shutil.copytree(relative_model, tmp_path / "swapped")
    shutil.copy(tmp_path / "dinov2" / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(ModelUnavailable, match="do not belong"):
        Estimator(folder).load()


def test_missing_weights_say_what_to_download(tmp_path, photo):
    assert "Depth-Anything-V2-Small-hf" in weights_problem(tmp_path)
    with pytest.raises(ModelUnavailable, match="Depth-Anything-V2-Small-hf"):
        estimate_photo(photo, tmp_path / "nothing here")


@pytest.mark.parametrize("size, message", [((1, 1), "at least 16×16"), ((20000, 20000), "Mpx limit")])
def test_memory_guard_refuses_before_decoding(tmp_path, size, message):
    path = tmp_path / "photo.png"
    png_header(path, *size)  # no pixel data: decoding would fail differently
    with pytest.raises(BadInput, match=message):
        estimate_photo(path, tmp_path / "no model needed")


def test_weights_problem_is_none_for_a_complete_folder(relative_model):
    assert weights_problem(relative_model) is None
