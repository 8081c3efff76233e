"""Inversion: a picture -> W+ (+ noise maps), VGG16-LPIPS readers, e4e, latents in PNGs, nodes and CLI."""

from __future__ import annotations

import argparse
import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from devices import TEST_DEVICE
from PIL import Image
from stylegan_formats import tiny_generator
from tiny_models import (
    TINY_VGG_WIDTHS,
    tiny_vgg,
    write_e4e_checkpoint,
    write_lpips_weights,
    write_nvidia_vgg_archive,
    write_torchvision_vgg,
)

from soundclip_core.checkpoints import read_state_dict
from soundclip_core.errors import Cancelled, CheckpointError, SoundClipError
from soundclip_core.image import save_png
from soundclip_core.invert import (
    load_e4e,
    load_perceptual,
    noise_regularization,
    project,
    psnr,
)
from soundclip_core.latents import png_text, read_latent, save_latent
from soundclip_core.noise_maps import noise_buffers, synthesize
from soundclip_core.picture import ImageInputError, fit_square, load_image


@pytest.fixture(scope="module")
def generator():
    return tiny_generator(resolution=16)


@pytest.fixture(scope="module")
def vgg():
    return tiny_vgg()


@pytest.fixture(scope="module")
def own_image(generator):
    """An image the generator can draw exactly, and its latent."""
    w = generator.ws_from_seed(5, truncation_psi=0.8)
    with torch.no_grad():
        return generator.synthesis(w), w


# -- the optimisation ----------------------------------------------------------------------------------
def test_inverting_the_generators_own_image_recovers_it(generator, vgg, own_image):
    image, w_true = own_image
    result = project(generator, image, vgg, preset="fast")  # 100 steps
    assert result.w.shape == (1, generator.num_ws, generator.w_dim) and result.noise is None
    # measured: PSNR 9.2 -> 20.3 dB, LPIPS 0.24 -> 0.013 (mean-latent start -> result)
    assert float(result.start_psnr) < 12 and float(result.psnr) > float(result.start_psnr) + 8
    assert float(result.lpips) < 0.15 * float(result.start_lpips)
    assert result.loss_history[-5:].mean() < 0.3 * result.loss_history[:5].mean()
    # the latent alone (const noise) gives back exactly the reconstruction it reports
    with torch.no_grad():
        assert torch.equal(generator.synthesis(result.w), result.reconstruction)
    assert "PSNR" in result.report()


def test_w_only_keeps_layers_tied_and_w_plus_refines_near_them(generator, vgg, own_image):
    image, _ = own_image
    w_only = project(generator, image, vgg, steps=30, w_fraction=1.0)
    assert torch.equal(w_only.w, w_only.w[:, :1].expand_as(w_only.w))  # one w on every layer
    plus = project(generator, image, vgg, steps=40, w_fraction=0.75, closeness=0.0)
    spread = (plus.w - plus.w.mean(1, keepdim=True)).norm()
    assert float(spread) > 0  # the layers moved apart in W+
    tight = project(generator, image, vgg, steps=40, w_fraction=0.75, closeness=100.0)
    assert (tight.w - tight.w.mean(1, keepdim=True)).norm() < 0.5 * spread  # the closeness penalty holds them


def test_noise_maps_are_optimised_regularised_and_travel_with_the_latent(generator, vgg, own_image):
    image, _ = own_image
    result = project(generator, image, vgg, preset="best", steps=20)
    assert result.noise is not None and len(result.noise) == len(noise_buffers(generator))
    for noise, buffer in zip(result.noise, noise_buffers(generator), strict=True):
        assert noise.shape[1:] == buffer.shape[1:]
        assert abs(float(noise.mean())) < 1e-4 and abs(float(noise.square().mean()) - 1) < 1e-3
        assert not torch.equal(noise, buffer)  # really optimised
    assert float(noise_regularization(result.noise)) < 0.05
    with torch.no_grad():
        assert torch.equal(synthesize(generator, result.w, result.noise), result.reconstruction)
        assert not torch.equal(generator.synthesis(result.w), result.reconstruction)


def test_noise_gradients_of_the_fused_conv_match_the_reference(generator):
    w = generator.ws_from_seed(1).repeat(2, 1, 1)
    noise = [torch.randn(2, *b.shape[1:], requires_grad=True) for b in noise_buffers(generator)]
    fused = synthesize(generator, w, noise)
    weights = torch.randn_like(fused)
    grads = torch.autograd.grad((fused * weights).sum(), noise)
    generator.requires_grad_(True)  # parameters needing gradients: the literal reference formulas
    try:
        reference = synthesize(generator, w, noise)
        expected = torch.autograd.grad((reference * weights).sum(), noise)
    finally:
        generator.requires_grad_(False)
    torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-4)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)


def test_noise_regularizer_is_nvidias_formula():
    noise = torch.randn(1, 1, 16, 16)
    expected, n = 0.0, noise[0, 0]
    while True:
        expected += float((n * torch.roll(n, 1, 1)).mean()) ** 2 + float((n * torch.roll(n, 1, 0)).mean()) ** 2
        if n.shape[0] <= 8:
            break
        n = F.avg_pool2d(n[None, None], 2)[0, 0]
    assert float(noise_regularization([noise])) == pytest.approx(expected, rel=1e-5)
    smooth = torch.ones(1, 1, 16, 16)
    assert float(noise_regularization([smooth])) > 100 * float(noise_regularization([noise]))


def test_a_batch_inverts_each_image_and_chunks_agree(generator, vgg):
    ws = torch.cat([generator.ws_from_seed(s) for s in (2, 3)])
    with torch.no_grad():
        images = generator.synthesis(ws)
    together = project(generator, images, vgg, steps=6)
    apart = project(generator, images, vgg, steps=6, batch_size=1)
    assert together.w.shape == (2, generator.num_ws, generator.w_dim)
    torch.testing.assert_close(together.w, apart.w, rtol=1e-3, atol=1e-3)


def test_cancel_stops_within_one_step(generator, vgg, own_image):
    calls = []
    with pytest.raises(Cancelled):
        project(generator, own_image[0], vgg, steps=50, should_cancel=lambda: len(calls) >= 3,
                callback=lambda *args: calls.append(args))
    assert len(calls) == 3


def test_e4e_start_with_zero_steps_is_the_encoder_estimate(generator, vgg, own_image, tmp_path):
    net, latent_avg = write_e4e_checkpoint(tmp_path / "e4e.pt", generator.num_ws, generator.w_dim)
    encoder = load_e4e(tmp_path / "e4e.pt")
    w_start = encoder.encode(own_image[0])
    result = project(generator, own_image[0], vgg, steps=0, w_start=w_start)
    assert torch.equal(result.w, w_start) and result.loss_history.numel() == 0
    refined = project(generator, own_image[0], vgg, steps=10, w_start=w_start)
    assert float(refined.lpips) < float(result.lpips)


# -- e4e -------------------------------------------------------------------------------------------------
def e4e_formula(net, latent_avg, images):
    """W+ = w0(c3) on every layer + per-layer deltas from c3 / p2 / p1, + latent_avg (the e4e paper's sum)."""
    x = F.interpolate(images, size=(256, 256), mode="bicubic", antialias=True, align_corners=False)
    x = net.input_layer(x)
    taps = {}
    for i, unit in enumerate(net.body):
        x = unit(x)
        taps[i] = x
    c1, c2, c3 = taps[6], taps[20], taps[23]
    up = lambda a, b: F.interpolate(a, size=b.shape[-2:], mode="bilinear", align_corners=True) + b  # noqa: E731
    p2 = up(c3, net.latlayer1(c2))
    p1 = up(p2, net.latlayer2(c1))
    rows = []
    w0 = net.styles[0](c3)
    for i in range(len(net.styles)):
        source = c3 if i < 3 else p2 if i < 7 else p1
        rows.append(w0 + (net.styles[i](source) if i else 0))
    return torch.stack(rows, 1) + latent_avg


@pytest.mark.parametrize("namespace", [False, True], ids=["opts-dict", "opts-namespace"])
def test_e4e_checkpoint_loads_weights_only_and_gives_the_formula(tmp_path, namespace):
    net, latent_avg = write_e4e_checkpoint(tmp_path / "e4e.pt", 8, 32, opts_namespace=namespace)
    encoder = load_e4e(tmp_path / "e4e.pt")
    assert (encoder.num_ws, encoder.w_dim) == (8, 32)
    images = torch.rand(2, 3, 40, 40) * 2 - 1
    with torch.no_grad():
        expected = e4e_formula(net, latent_avg, images)
    torch.testing.assert_close(encoder.encode(images), expected, rtol=1e-3, atol=3e-4)


def test_e4e_refuses_other_files_and_foreign_classes(tmp_path):
    torch.save({"state_dict": {"g.weight": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an e4e checkpoint"):
        load_e4e(tmp_path / "other.pt")
    torch.save({"state_dict": {}, "opts": argparse.ArgumentParser}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="unsafe"):
        load_e4e(tmp_path / "evil.pt")


# -- VGG16-LPIPS -----------------------------------------------------------------------------------------
def independent_lpips(path_state: dict, lins: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """LPIPS v0.1 as the lpips package composes it, on torchvision's VGG16 module built from `path_state`."""
    from torchvision.models.vgg import VGG, make_layers

    w = TINY_VGG_WIDTHS
    cfg = [w[0], w[0], "M", w[1], w[1], "M", w[2], w[2], w[2], "M", w[3], w[3], w[3], "M", w[4], w[4], w[4], "M"]
    vgg = VGG(make_layers(cfg), num_classes=8, init_weights=False)
    vgg.load_state_dict({k: v for k, v in path_state.items() if k.startswith("features.")}, strict=False)
    slices = [vgg.features[a:b] for a, b in ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))]
    shift = torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None]
    scale = torch.tensor([0.458, 0.448, 0.450])[None, :, None, None]
    fx, fy, total = (x - shift) / scale, (y - shift) / scale, 0
    for k, block in enumerate(slices):
        fx, fy = block(fx), block(fy)
        nx = fx / (fx.norm(dim=1, keepdim=True) + 1e-10)
        ny = fy / (fy.norm(dim=1, keepdim=True) + 1e-10)
        total = total + F.conv2d((nx - ny) ** 2, lins[k].reshape(1, -1, 1, 1)).mean((2, 3))
    return total[:, 0]


def test_lpips_matches_an_independent_composition(vgg, tmp_path):
    write_torchvision_vgg(vgg, tmp_path / "vgg16.pth")
    write_lpips_weights(vgg, tmp_path / "lin.pth")
    written = read_state_dict(tmp_path / "vgg16.pth", "VGG16", "write it")
    net = load_perceptual(tmp_path / "vgg16.pth", tmp_path / "lin.pth")
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1, torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    lins = [getattr(vgg, f"lin{k}") for k in range(5)]
    expected = independent_lpips(written, lins, x, y)
    torch.testing.assert_close(net.distance(x, y), expected, rtol=1e-4, atol=1e-6)
    assert float(net.distance(x, x).abs().max()) == 0
    notices = []
    plain = load_perceptual(tmp_path / "vgg16.pth", notify=notices.append)
    assert len(notices) == 1 and "unweighted" in notices[0] and not plain.weighted
    ones = [torch.ones(c) for c in TINY_VGG_WIDTHS]
    torch.testing.assert_close(plain.distance(x, y), independent_lpips(written, ones, x, y),
                               rtol=1e-4, atol=1e-6)


def test_nvidia_style_torchscript_archive_loads_without_running_it(vgg, tmp_path):
    archive = write_nvidia_vgg_archive(vgg, tmp_path / "vgg16.pt")
    with pytest.raises(Exception, match="program was run"):  # the archive's own forward refuses to run
        torch.jit.load(str(archive))(torch.zeros(1, 3, 16, 16))
    net = load_perceptual(archive)
    assert net.weighted and net.widths == TINY_VGG_WIDTHS
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(net.distance(x, y), vgg.distance(x, y), rtol=1e-5, atol=1e-7)


def test_wrong_networks_are_refused(tmp_path):
    from soundclip_core.arcface import build_arcface

    torch.save(build_arcface(device="cpu").model.state_dict(), tmp_path / "arcface.pth")
    with pytest.raises(CheckpointError, match="not a torchvision VGG16"):
        load_perceptual(tmp_path / "arcface.pth")

    class NotVGG(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = torch.nn.ModuleList([torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    torch.jit.script(NotVGG()).save(str(tmp_path / "small.pt"))
    with pytest.raises(CheckpointError, match="not a VGG16 network"):
        load_perceptual(tmp_path / "small.pt")
    (tmp_path / "page.pth").write_text("<html>not found</html>")
    with pytest.raises(CheckpointError):
        load_perceptual(tmp_path / "page.pth")
    torch.save({"lin0.model.1.weight": torch.zeros(1, 3, 1, 1)}, tmp_path / "badlin.pth")
    write_torchvision_vgg(tiny_vgg(), tmp_path / "vgg.pth")
    with pytest.raises(CheckpointError, match="LPIPS"):
        load_perceptual(tmp_path / "vgg.pth", tmp_path / "badlin.pth")


# -- pictures ------------------------------------------------------------------------------------------
def _png_header_only(path, width: int, height: int) -> None:
    """A PNG that declares width x height (a decompression bomb's header) with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def test_any_picture_becomes_rgb_in_range(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    cmyk = load_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (1, 3, 30, 50) and float(cmyk.min()) >= -1 and float(cmyk.max()) <= 1
    assert abs(float(cmyk.mean()) - float(torch.from_numpy(rgb).float().mean() / 127.5 - 1)) < 0.05
    deep = (np.linspace(0, 65535, 40 * 20).reshape(20, 40)).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")  # 16-bit greyscale
    grey = load_image(tmp_path / "deep.png")
    assert grey.shape == (1, 3, 20, 40)
    torch.testing.assert_close(grey[0, 0], torch.from_numpy(deep / 65535.0 * 2 - 1).float(), atol=1e-4, rtol=0)
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert load_image(tmp_path / "palette.png").shape == (1, 3, 30, 50)
    assert float(load_image(tmp_path / "clear.png").min()) == 1.0  # transparency -> white


def test_fit_square_crops_or_pads_and_resizes():
    wide = torch.zeros(1, 3, 20, 40)
    wide[..., 10:30] = 1.0  # the centre square is white
    assert fit_square(wide, 16).shape == (1, 3, 16, 16) and float(fit_square(wide, 16).min()) > 0.99
    padded = fit_square(wide, 16, fit="pad")
    assert padded.shape == (1, 3, 16, 16) and float(padded[..., 8, 0].max()) < 0.01  # edges replicated


def test_bad_pictures_give_one_clear_error(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nrubbish" * 10)
    _png_header_only(tmp_path / "huge.png", 20000, 20000)
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    for name, message in [("empty.png", "empty"), ("corrupt.png", "not a readable image|corrupt"),
                          ("huge.png", "20000x20000|too large"), ("missing.png", "not found")]:
        with pytest.raises(ImageInputError, match=message) as error:
            load_image(tmp_path / name)
        assert name in str(error.value)
    with pytest.raises(ImageInputError, match="only 1x1 pixels"):
        fit_square(load_image(tmp_path / "dot.png"), 16)


# -- latents with noise maps, in files and PNGs -------------------------------------------------------------
def test_png_latent_round_trip_with_noise(generator, tmp_path):
    ws = generator.ws_from_seed(4)
    noise = [torch.randn(1, 1, 512, 512)] + [torch.randn_like(b) for b in noise_buffers(generator)][1:]
    save_png(torch.zeros(1, 3, 16, 16), tmp_path / "x.png", text=png_text(ws, {"generator": "g"}, noise))
    latent = read_latent(tmp_path / "x.png")  # > 1 MiB of noise: split over several text chunks
    assert torch.equal(latent.ws, ws) and latent.meta == {"generator": "g"}
    assert all(torch.equal(a, b) for a, b in zip(latent.noise, noise, strict=True))
    save_latent(tmp_path / "x.safetensors", ws, {"a": 1}, noise[1:])
    again = read_latent(tmp_path / "x.safetensors")
    assert len(again.noise) == len(noise) - 1 and torch.equal(again.ws, ws)
    save_latent(tmp_path / "old.safetensors", ws)  # a latent without noise (and files from before) loads too
    assert read_latent(tmp_path / "old.safetensors").noise is None
    save_png(torch.zeros(1, 3, 16, 16), tmp_path / "plain.png")
    with pytest.raises(SoundClipError, match="carries no soundclip latent") as error:
        read_latent(tmp_path / "plain.png")
    assert "plain.png" in str(error.value)


# -- CLI -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from tiny_models import write_cli_files

    return write_cli_files(tmp_path_factory.mktemp("invert-cli"))


def test_cli_invert_then_manipulate_the_png(files, capsys):
    from soundclip_core.cli import main
    from soundclip_core.generators import load_generator

    m = files / "models"
    g = load_generator(m / "stylegan2" / "landscape.pt", "cpu")
    with torch.no_grad():
        save_png(g.synthesis(g.ws_from_seed(9)), files / "photo.png")
    Image.open(files / "photo.png").resize((48, 40)).save(files / "photo.png")  # another size and aspect
    out = files / "out" / "photo.safetensors"
    assert main(["invert", str(files / "photo.png"), "--generator", str(m / "stylegan2" / "landscape.pt"),
                 "--vgg", str(m / "perceptual" / "vgg16.pt"), "--steps", "8", "--preset", "best",
                 "--device", str(TEST_DEVICE), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "LPIPS" in printed and printed.count("PSNR") == 1  # the distances, once
    latent = read_latent(out)
    embedded = read_latent(out.with_suffix(".png"))
    assert torch.equal(latent.ws, embedded.ws) and latent.noise is not None
    with torch.no_grad():
        decoded = synthesize(g, latent.ws, latent.noise)
    saved = torch.from_numpy(np.asarray(Image.open(out.with_suffix(".png")), dtype=np.float32)) / 127.5 - 1
    assert float((decoded[0].clamp(-1, 1).permute(1, 2, 0) - saved).abs().max()) < 1 / 127.5 + 1e-6  # 8-bit rounding
    edited = files / "out" / "edited.png"
    assert main(["manipulate", "--text", "rain", "--latent", str(out.with_suffix(".png")), "--generator",
                 str(m / "stylegan2" / "landscape.pt"), "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"),
                 "--steps", "2", "--device", str(TEST_DEVICE), "--out", str(edited)]) == 0
    assert read_latent(edited).noise is not None  # the photo's noise maps stay with the edit
    mixed = files / "out" / "mixed.png"
    assert main(["mix", str(edited), str(out), "--layers", "0-3", "--generator", str(m / "stylegan2" / "landscape.pt"),
                 "--device", str(TEST_DEVICE), "--out", str(mixed)]) == 0
    both = read_latent(mixed)  # the mix follows latent A's noise maps, in its .safetensors and in its PNG
    assert all(torch.equal(x, y) for x, y in zip(both.noise, read_latent(edited).noise, strict=True))
    assert torch.equal(read_latent(mixed.with_suffix(".safetensors")).ws, both.ws)
    assert main(["manipulate", "--text", "rain", "--image", str(files / "photo.png"), "--generator",
                 str(m / "stylegan2" / "landscape.pt"), "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"),
                 "--vgg", str(m / "perceptual" / "vgg16-397923af.pth"), "--lpips-weights",
                 str(m / "perceptual" / "vgg.pth"), "--invert-steps", "3", "--steps", "2", "--device", str(TEST_DEVICE),
                 "--out", str(files / "out" / "direct.png")]) == 0


def test_cli_refuses_bad_sources(files, capsys):
    from soundclip_core.cli import main

    m = files / "models"
    (files / "broken.png").write_bytes(b"")
    assert main(["invert", str(files / "broken.png"), "--generator", str(m / "stylegan2" / "landscape.pt"),
                 "--out", str(files / "out" / "never.safetensors")]) == 2
    assert "broken.png" in capsys.readouterr().err and not (files / "out" / "never.safetensors").exists()
    other = tiny_generator(resolution=16)
    save_latent(files / "small.safetensors", other.ws_from_seed(0))
    assert main(["manipulate", "--text", "x", "--latent", str(files / "small.safetensors"), "--generator",
                 str(m / "stylegan2" / "landscape.pt"), "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"),
                 "--steps", "1", "--device", str(TEST_DEVICE), "--out", str(files / "out" / "no.png")]) == 2
    assert "small.safetensors" in capsys.readouterr().err and not (files / "out" / "no.png").exists()


def test_psnr_is_the_8bit_definition():
    a, b = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 2 / 255)
    assert float(psnr(a, b)) == pytest.approx(10 * np.log10(255**2 / 1.0), rel=1e-4)


# -- nodes, as ComfyUI runs them (under inference mode) ------------------------------------------------------
@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    from pack_loading import pack_nodes
    from tiny_models import write_workflow_models

    home = tmp_path_factory.mktemp("invert-home")
    write_workflow_models(home, with_arcface=False)
    with pack_nodes(home) as (nodes, _):
        yield nodes


def test_invert_nodes_under_inference_mode_feed_the_edit(nodes):
    with torch.inference_mode():
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (perceptual,) = nodes["PerceptualLoader"].load("vgg16-397923af.pth", "vgg.pth")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        with torch.no_grad():
            photos = generator.synthesis(torch.cat([generator.ws_from_seed(s) for s in (1, 2)]))
        image = ((photos.permute(0, 2, 3, 1) + 1) / 2).clamp(0, 1)
        image = torch.nn.functional.interpolate(image.permute(0, 3, 1, 2), size=(40, 56)).permute(0, 2, 3, 1)
        latent, reconstruction, report = nodes["InvertImage"].run(image, generator, perceptual, "best", 6, "crop", 0,
                                                                   1, 2)
        assert latent["ws"].shape == (2, 8, 32) and len(latent["noise"]) == 7 and reconstruction.shape == (2, 32, 32, 3)
        assert "LPIPS" in report
        (decoded,) = nodes["Decode"].decode(generator, latent, "const")
        torch.testing.assert_close(decoded, reconstruction)  # the latent gives back what was shown
        text, _ = nodes["TextEncode"].encode(clip, "rain")
        edited, _ = nodes["LatentOptimize"].run(generator, clip, text, latent, "landscape", 2, 0.05, -1.0, -1.0,
                                                "learned", "", 0, "fp32", "area", 1)
        assert edited["noise"] is latent["noise"] or all(
            torch.equal(a, b) for a, b in zip(edited["noise"], latent["noise"], strict=True))
        saved = nodes["SaveImageWithLatent"].save(decoded, latent, "soundclip/inverted")
        assert len(saved["ui"]["images"]) == 2
        first = saved["ui"]["images"][1]
        relative = f"output/{first['subfolder']}/{first['filename']}"
        loaded, picture = nodes["LoadLatentFromPNG"].load(relative)
        assert torch.equal(loaded["ws"], latent["ws"][1:2]) and picture.shape == (1, 32, 32, 3)
        assert all(torch.equal(a, b[1:2]) for a, b in zip(loaded["noise"], latent["noise"], strict=True))
        (again,) = nodes["Decode"].decode(generator, loaded, "const")
        torch.testing.assert_close(again, reconstruction[1:2])


def test_invert_node_cancels_and_refuses_bad_inputs(nodes, monkeypatch):
    import sys

    comfy_env = sys.modules["soundclip_pack.nodes.comfy_env"]
    with torch.inference_mode():
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (perceptual,) = nodes["PerceptualLoader"].load("vgg16.pt", "none (unweighted VGG distance)")
        image = torch.rand(1, 24, 24, 3)
        calls = []
        monkeypatch.setattr(comfy_env, "interrupted", lambda: len(calls) > 0 or calls.append(1) is not None)
        with pytest.raises(Cancelled, match="cancelled at step 1"):
            nodes["InvertImage"].run(image, generator, perceptual, "fast", 50, "crop", 0, 0, 1)
        monkeypatch.setattr(comfy_env, "interrupted", lambda: False)
        with pytest.raises(ImageInputError, match="only 4x4 pixels"):
            nodes["InvertImage"].run(torch.rand(1, 4, 4, 3), generator, perceptual, "fast", 1, "crop", 0, 0, 1)
        small = tiny_generator(resolution=16)
        latent = {"ws": small.ws_from_seed(0), "num_ws": small.num_ws, "w_dim": small.w_dim, "generator": "small.pt"}
        with pytest.raises(SoundClipError, match="small.pt"):
            nodes["Decode"].decode(generator, latent, "const")
        save_png(torch.zeros(1, 3, 16, 16), comfy_env.input_directory() / "plain.png")
        with pytest.raises(SoundClipError, match="carries no soundclip latent"):
            nodes["LoadLatentFromPNG"].load("plain.png")


class NoiselessGenerator(torch.nn.Module):
    """A generator with the public API and no noise inputs (as StyleGAN3): W+ -> image by a fixed linear map."""

    def __init__(self, base):
        super().__init__()
        self.base = base  # borrows the mapping network and latent statistics
        self.resolution, self.num_ws, self.w_dim, self.z_dim = base.resolution, base.num_ws, base.w_dim, base.z_dim
        self.source = "noiseless test generator"
        self.register_buffer("readout", torch.randn(base.num_ws * base.w_dim, 3 * 8 * 8) / 40)

    @property
    def w_avg(self):
        return self.base.w_avg

    def mapping(self, z, c=None):
        return self.base.mapping(z)

    def synthesis(self, ws, noise_mode="const"):
        small = torch.tanh(ws.flatten(1) @ self.readout).reshape(-1, 3, 8, 8)
        return F.interpolate(small, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)


def test_generators_without_noise_inputs_invert_and_edit(generator, vgg):
    noiseless = NoiselessGenerator(generator)
    w_true = generator.ws_from_seed(6)
    with torch.no_grad():
        image = noiseless.synthesis(w_true)
    result = project(noiseless, image, vgg, preset="best", steps=30)  # "best" optimises noise where there is any
    assert result.noise is None and not result.settings["optimize_noise"]
    assert float(result.psnr) > float(result.start_psnr) + 3
    torch.testing.assert_close(noiseless.synthesis(result.w), result.reconstruction)


def test_cli_e4e_alone_is_the_inversion(files, capsys):
    from soundclip_core.cli import main

    m = files / "models"
    write_e4e_checkpoint(files / "e4e.pt", 8, 32)
    Image.new("RGB", (30, 20), (200, 120, 40)).save(files / "face.png")
    out = files / "out" / "face.safetensors"
    assert main(["invert", str(files / "face.png"), "--generator", str(m / "stylegan2" / "landscape.pt"),
                 "--vgg", str(m / "perceptual" / "vgg16.pt"), "--e4e", str(files / "e4e.pt"), "--steps", "0",
                 "--device", str(TEST_DEVICE), "--out", str(out)]) == 0
    assert "0 steps" in capsys.readouterr().out
    encoder = load_e4e(files / "e4e.pt", device=TEST_DEVICE)
    expected = encoder.encode(fit_square(load_image(files / "face.png"), 32)).cpu()
    torch.testing.assert_close(read_latent(out).ws, expected)
    write_e4e_checkpoint(files / "e4e_small.pt", 6, 32)
    assert main(["invert", str(files / "face.png"), "--generator", str(m / "stylegan2" / "landscape.pt"),
                 "--vgg", str(m / "perceptual" / "vgg16.pt"), "--e4e", str(files / "e4e_small.pt"),
                 "--device", str(TEST_DEVICE), "--out", str(files / "out" / "never.safetensors")]) == 2
    assert "e4e_small.pt" in capsys.readouterr().err
