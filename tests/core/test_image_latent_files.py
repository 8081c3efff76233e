"""Pictures and latents a user brings: unusable ones are refused naming the file, never passed on
(a NaN TIFF, a 1x1 image, an integer latent)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from soundclip_core.errors import SoundClipError
from soundclip_core.latents import FORMAT, read_latent, save_latent
from soundclip_core.picture import ImageInputError, load_image


def test_a_tiny_image_is_refused_naming_the_file(tmp_path):
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tmp_path / "dot.png")
    with pytest.raises(ImageInputError, match=r"dot.png: the image is only 1x1 pixels Fix: use a picture of at least "
                                              r"8 px a side"):
        load_image(tmp_path / "dot.png")


def test_float_tiffs_are_read_as_zero_to_one_and_nan_ones_refused(tmp_path):
    ramp = np.linspace(0, 1, 16 * 12, dtype=np.float32).reshape(12, 16)
    Image.fromarray(ramp).save(tmp_path / "ramp.tif")
    torch.testing.assert_close(load_image(tmp_path / "ramp.tif")[0, 1], torch.from_numpy(ramp * 2 - 1),
                               atol=1e-6, rtol=0)
    ramp[3, 4] = np.nan
    Image.fromarray(ramp).save(tmp_path / "nan.tif")
    with pytest.raises(ImageInputError, match=r"nan.tif: the image has NaN or infinite pixels"):
        load_image(tmp_path / "nan.tif")
    ramp[3, 4] = np.inf
    Image.fromarray(ramp).save(tmp_path / "inf.tif")
    with pytest.raises(ImageInputError, match=r"inf.tif: the image has NaN or infinite pixels"):
        load_image(tmp_path / "inf.tif")


def write_raw_latent(path, **tensors):
    save_file(tensors, str(path), metadata={"format": FORMAT, "meta": json.dumps({})})


def test_integer_latents_are_refused_and_half_precision_ones_widened(tmp_path):
    write_raw_latent(tmp_path / "int.safetensors", ws=torch.ones(1, 6, 32, dtype=torch.int64))
    with pytest.raises(SoundClipError, match=r"int.safetensors: not a valid W\+ latent: `ws` holds int64 numbers; "
                                             r"a latent is floating point"):
        read_latent(tmp_path / "int.safetensors")
    ws = torch.randn(1, 6, 32)
    write_raw_latent(tmp_path / "half.safetensors", ws=ws.half())
    loaded = read_latent(tmp_path / "half.safetensors").ws
    assert loaded.dtype == torch.float32 and torch.equal(loaded, ws.half().float())
    save_latent(tmp_path / "nan_noise.safetensors", ws, noise=[torch.full((1, 1, 4, 4), float("nan"))])
    with pytest.raises(SoundClipError, match=r"nan_noise.safetensors: .*`noise_0` has NaN or infinite values"):
        read_latent(tmp_path / "nan_noise.safetensors")
    write_raw_latent(tmp_path / "flat.safetensors", ws=torch.randn(6, 32))
    with pytest.raises(SoundClipError, match=r"`ws` is of shape \(6, 32\), expected 3 dimensions"):
        read_latent(tmp_path / "flat.safetensors")
