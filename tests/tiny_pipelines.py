# SPDX-License-Identifier: GPL-3.0-or-later
"""Tiny random-weight diffusers pipelines for offline tests: SD 1.5 and SDXL with a depth ControlNet, FLUX depth.

The pipelines follow the component configs of diffusers' own fast tests (VAEs with four blocks so
the stride is the real 8 or 16). The only hub assets those tests need are tokenizers; here they are
built in memory: a byte-level CLIP vocabulary and a character-level T5-style tokenizer.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402

CLIP = {"bos_token_id": 0, "eos_token_id": 2, "hidden_size": 32, "intermediate_size": 37, "layer_norm_eps": 1e-5,
        "num_attention_heads": 4, "num_hidden_layers": 5, "pad_token_id": 1, "vocab_size": 1000,
        "hidden_act": "gelu", "projection_dim": 32}


def _bytes_to_unicode() -> list[str]:
    """The GPT-2/CLIP table mapping the 256 byte values to printable characters."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(c) for c in keep] + [chr(256 + i) for i in range(len(extra))]


def clip_tokenizer():
    """A byte-level CLIP tokenizer: 2 specials + 256 bytes + 256 word-final bytes, no merges."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({c: i + 2 for i, c in enumerate(chars)})
    vocab.update({c + "</w>": i + 258 for i, c in enumerate(chars)})
    tok = CLIPTokenizer(vocab=vocab, merges=[])
    tok.model_max_length = 77
    return tok


def t5_tokenizer():
    """A character-level fast tokenizer with T5's special tokens (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{chr(c): c - 29 for c in range(32, 127)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)


def _seeded(build, *args, **kwargs):  # torch.manual_seed(0) before each component, as diffusers' tests do
    torch.manual_seed(0)
    return build(*args, **kwargs)


def _vae(latent_channels: int, channels: list[int], **kw):
    from diffusers import AutoencoderKL

    return _seeded(AutoencoderKL, block_out_channels=channels, in_channels=3, out_channels=3,
                   down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                   latent_channels=latent_channels, norm_num_groups=channels[0] // 2 or 1, **kw)


def _live_controlnet(net):
    """Give the zero-initialised convolutions of a fresh ControlNet random weights, so the control image acts."""
    torch.manual_seed(1)
    with torch.no_grad():
        for block in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
            block.weight.normal_(0.0, 0.5)
    return net


def build_sd15():
    import diffusers as d
    from transformers import CLIPTextConfig, CLIPTextModel

    blocks = {"block_out_channels": (8, 16), "layers_per_block": 2, "in_channels": 4, "cross_attention_dim": 32,
              "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"), "norm_num_groups": 1}
    return d.StableDiffusionControlNetPipeline(
        unet=_seeded(d.UNet2DConditionModel, sample_size=32, out_channels=4,
                     up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), **blocks),
        controlnet=_live_controlnet(_seeded(d.ControlNetModel, conditioning_embedding_out_channels=(8, 8, 16, 16),
                                            **blocks)),
        scheduler=d.DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, set_alpha_to_one=False),
        vae=_vae(4, [4, 4, 8, 8]), text_encoder=_seeded(CLIPTextModel, CLIPTextConfig(**CLIP)),
        tokenizer=clip_tokenizer(), safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def build_sdxl():
    import diffusers as d
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    blocks = {"block_out_channels": (32, 64), "layers_per_block": 2, "in_channels": 4, "attention_head_dim": (2, 4),
              "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"), "use_linear_projection": True,
              "addition_embed_type": "text_time", "addition_time_embed_dim": 8, "transformer_layers_per_block": (1, 2),
              "projection_class_embeddings_input_dim": 80, "cross_attention_dim": 64}
    return d.StableDiffusionXLControlNetPipeline(
        unet=_seeded(d.UNet2DConditionModel, sample_size=32, out_channels=4,
                     up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), **blocks),
        controlnet=_live_controlnet(_seeded(d.ControlNetModel, conditioning_embedding_out_channels=(16, 16, 32, 32),
                                            **blocks)),
        scheduler=d.EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                           beta_schedule="scaled_linear", timestep_spacing="leading"),
        vae=_vae(4, [4, 4, 8, 8]), text_encoder=_seeded(CLIPTextModel, CLIPTextConfig(**CLIP)),
        text_encoder_2=_seeded(CLIPTextModelWithProjection, CLIPTextConfig(**CLIP)),
        tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer())


def build_flux():
    import diffusers as d
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    t5 = T5Config(vocab_size=1000, d_model=32, d_kv=8, d_ff=37, num_layers=5, num_heads=4,
                  relative_attention_num_buckets=8, decoder_start_token_id=0)
    return d.FluxControlPipeline(
        transformer=_seeded(d.FluxTransformer2DModel, patch_size=1, in_channels=8, out_channels=4, num_layers=1,
                            num_single_layers=1, attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                            pooled_projection_dim=32, axes_dims_rope=[4, 4, 8]),
        scheduler=d.FlowMatchEulerDiscreteScheduler(),
        vae=_vae(1, [2, 2, 2, 2], use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
                 scaling_factor=1.5035),
        text_encoder=_seeded(CLIPTextModel, CLIPTextConfig(**CLIP)), tokenizer=clip_tokenizer(),
        text_encoder_2=_seeded(T5EncoderModel, t5), tokenizer_2=t5_tokenizer())
