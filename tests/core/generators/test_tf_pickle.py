"""TF-era StyleGAN2 pickles and class-conditional generators: tiny files in the real layouts load to the
numbers an independent, literal transcription of the TF graph computes; nothing in a file ever runs."""

from __future__ import annotations

import math
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from devices import RTOL, TEST_DEVICE
from stylegan_formats import (
    TF_BUILD_SRC,
    _fake_tf_network_class,
    save_nvidia_pickle,
    save_tf_pickle,
    tf_generator_variables,
    tf_static_kwargs,
    tiny_generator,
)

from soundclip_core.errors import CheckpointError, SoundClipError
from soundclip_core.generators import load_generator, save_generator
from soundclip_core.generators.labels import describe, label_for, parse_label

SQRT2 = math.sqrt(2)


# -- the TF graph, transcribed literally (float64) from networks_stylegan2.py / upfirdn_2d.py -----------------------

def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def _norm(x):
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)


def tf_mapping(v: dict, z, c=None, psi=1.0):
    mapping, x = v["mapping"], _t(z)
    if "LabelConcat/weight" in mapping:  # concat([z, c @ W]) then normalise all 2 * latent_size values
        x = _norm(torch.cat([x, _t(c) @ _t(mapping["LabelConcat/weight"])], 1))
    elif "LabelEmbed/weight" in mapping:  # stylegan2-ada: normalise z and the embedding separately
        w = _t(mapping["LabelEmbed/weight"])
        y = _t(c) @ (w / math.sqrt(w.shape[0])) + _t(mapping["LabelEmbed/bias"])
        x = torch.cat([_norm(x), _norm(y)], 1)
    else:
        x = _norm(x)
    i = 0
    while f"Dense{i}/weight" in mapping:
        w = _t(mapping[f"Dense{i}/weight"])
        x = F.leaky_relu(x @ (w * 0.01 / math.sqrt(w.shape[0])) + _t(mapping[f"Dense{i}/bias"]) * 0.01, 0.2) * SQRT2
        i += 1
    avg = _t(v["Gs"]["dlatent_avg"])
    return avg + psi * (x - avg)  # G_main: lerp(dlatent_avg, dlatents, psi)


def _fir(x, pad0, pad1):
    k = _t(np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64 * 4)
    x = F.pad(x, (pad0, pad1, pad0, pad1))
    return F.conv2d(x, k.flip(0, 1)[None, None].repeat(x.shape[1], 1, 1, 1), groups=x.shape[1])


def tf_modulated_conv(s: dict, scope: str, x, dlatent, up=False, demodulate=True):
    w = _t(s[f"{scope}/weight"])  # [k, k, I, O]
    k, cin = w.shape[0], w.shape[2]
    style = dlatent @ (_t(s[f"{scope}/mod_weight"]) / math.sqrt(dlatent.shape[1])) + _t(s[f"{scope}/mod_bias"]) + 1
    ww = w[None] / math.sqrt(k * k * cin) * style[:, None, None, :, None]  # [B, k, k, I, O]
    if demodulate:
        ww = ww * torch.rsqrt(ww.square().sum((1, 2, 3)) + 1e-8)[:, None, None, None, :]
    out = []
    for b in range(x.shape[0]):
        if up:  # upsample_conv_2d: flip, conv2d_transpose (stride 2, VALID), FIR with pad (1, 1)
            f = ww[b].flip(0, 1)  # [k, k, I, O]; conv2d_transpose filter [k, k, out=O, in=I] scatters f[i, j, o, c]
            y = F.conv_transpose2d(x[b:b + 1], f.permute(2, 3, 0, 1), stride=2)
            out.append(_fir(y, 1, 1))
        else:  # conv2d 'SAME', a correlation
            out.append(F.conv2d(x[b:b + 1], ww[b].permute(3, 2, 0, 1), padding=k // 2))
    return torch.cat(out)


def tf_synthesis(v: dict, ws, clamp: float | None = None):
    s = v["synthesis"]

    def bias_act(x, scope, act):  # fused_bias_act: act(x + b) * gain, then clamp (stylegan2-ada)
        x = x + _t(s[f"{scope}/bias"])[None, :, None, None]
        x = F.leaky_relu(x, 0.2) * SQRT2 if act else x
        return x if clamp is None else x.clamp(-clamp, clamp)

    def layer(scope, x, idx, up=False):
        x = tf_modulated_conv(s, scope, x, ws[:, idx], up=up)
        if f"noise{idx}" in s:  # stylegan2-ada with use_noise=False has neither noise nor strength
            x = x + _t(s[f"noise{idx}"]) * float(s[f"{scope}/noise_strength"])  # randomize_noise=False
        return bias_act(x, scope, act=True)

    def torgb(scope, x, idx):
        return bias_act(tf_modulated_conv(s, scope, x, ws[:, idx], demodulate=False), scope, act=False)

    x = _t(s["4x4/Const/const"]).repeat(ws.shape[0], 1, 1, 1)
    x = layer("4x4/Conv", x, 0)
    y = torgb("4x4/ToRGB", x, 1)
    res = 3
    while f"{2 ** res}x{2 ** res}/Conv1/weight" in s:
        scope = f"{2 ** res}x{2 ** res}"
        x = layer(f"{scope}/Conv0_up", x, res * 2 - 5, up=True)
        x = layer(f"{scope}/Conv1", x, res * 2 - 4)
        up = torch.zeros(y.shape[0], 3, y.shape[2] * 2, y.shape[3] * 2, dtype=y.dtype)
        up[:, :, ::2, ::2] = y  # upsample_2d: zero-insert, FIR with pad (2, 1)
        y = _fir(up, 2, 1) + torgb(f"{scope}/ToRGB", x, res * 2 - 3)
        res += 1
    return y


# -- parity -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3, 4])
@pytest.mark.parametrize("numpy1", [False, True], ids=["numpy2-names", "numpy1-names"])
def test_tf_pickle_matches_the_tf_graph(tmp_path, protocol, numpy1):
    v = tf_generator_variables(resolution=16, seed=protocol)
    path = save_tf_pickle(v, tmp_path / "snapshot.pkl", tf_static_kwargs(v), protocol=protocol, numpy1=numpy1)
    g = load_generator(path, TEST_DEVICE)
    assert (g.resolution, g.num_ws, g.c_dim, g.z_dim) == (16, 6, 0, 32)
    z = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    for psi in (1.0, 0.6):
        assert torch.allclose(g.mapping(z.to(TEST_DEVICE), truncation_psi=psi).double().cpu(),
                              tf_mapping(v, z, psi=psi), atol=1e-4, rtol=RTOL)
    ws = torch.randn(2, g.num_ws, 32, generator=torch.Generator().manual_seed(1))  # a different w per layer
    expected = tf_synthesis(v, ws.double())
    assert expected.abs().max() > 0.1
    assert torch.allclose(g.synthesis(ws.to(TEST_DEVICE), noise_mode="const").double().cpu(), expected, atol=2e-4,
                          rtol=RTOL)


@pytest.mark.parametrize("scheme", ["concat", "embed"])
def test_conditional_tf_pickles_match_the_tf_mapping(tmp_path, scheme):
    v = tf_generator_variables(resolution=8, c_dim=5, label=scheme, label_fmaps=16 if scheme == "embed" else None)
    g = load_generator(save_tf_pickle(v, tmp_path / "cond.pkl", tf_static_kwargs(v), protocol=3), TEST_DEVICE)
    assert (g.c_dim, g.config.label_embedding) == (5, scheme)
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(2))
    c = torch.eye(5)[[0, 3, 4, 1]]
    c[1, 2] = 0.5  # soft / multi-hot labels too
    for psi in (1.0, 0.7):
        assert torch.allclose(g.mapping(z.to(TEST_DEVICE), c, truncation_psi=psi).double().cpu(),
                              tf_mapping(v, z, c, psi), atol=1e-4, rtol=RTOL)
    different = g.mapping(z.to(TEST_DEVICE), torch.eye(5)[[1, 1, 1, 1]])
    assert not torch.allclose(different, g.mapping(z.to(TEST_DEVICE), c))  # the label matters
    ws = g.ws_from_seed(3, batch_size=2, truncation_psi=0.5, c=c[:1])
    assert ws.shape == (2, g.num_ws, 32)
    assert torch.allclose(g.synthesis(ws).double().cpu(), tf_synthesis(v, ws.double().cpu()), atol=2e-4, rtol=RTOL)


def test_stylegan2_ada_tf_pickle_with_clamp_and_version_5(tmp_path):
    v = tf_generator_variables(resolution=16, c_dim=3, label="embed", seed=5)
    del v["Gs"]["lod"]  # ada's G_main has no lod
    kwargs = tf_static_kwargs(v, fmap_base=16384, fmap_max=512, mapping_layers=2, num_fp16_res=4, conv_clamp=0.5,
                              style_mixing_prob=None, architecture="skip")
    g = load_generator(save_tf_pickle(v, tmp_path / "ada.pkl", kwargs, version=5), TEST_DEVICE)
    assert g.config.conv_clamp == 0.5
    ws = torch.randn(2, g.num_ws, 32, generator=torch.Generator().manual_seed(4))
    expected = tf_synthesis(v, ws.double(), clamp=0.5)
    assert not torch.allclose(expected, tf_synthesis(v, ws.double()))  # the clamp is exercised
    assert torch.allclose(g.synthesis(ws.to(TEST_DEVICE)).double().cpu(), expected, atol=2e-4, rtol=RTOL)


def test_stylegan2_ada_tf_pickle_without_noise(tmp_path):
    v = tf_generator_variables(resolution=8, seed=6)
    v["synthesis"] = {k: a for k, a in v["synthesis"].items() if "noise" not in k}
    g = load_generator(save_tf_pickle(v, tmp_path / "quiet.pkl", tf_static_kwargs(v, use_noise=False), version=5),
                       TEST_DEVICE)
    ws = torch.randn(2, g.num_ws, 32, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(g.synthesis(ws.to(TEST_DEVICE), noise_mode="random").double().cpu(),
                          tf_synthesis(v, ws.double()), atol=2e-4, rtol=RTOL)


def test_ada_pytorch_conditional_pickle_matches_the_ada_mapping(tmp_path):
    g = tiny_generator(c_dim=4)
    g.latent_avg.normal_()
    g = load_generator(save_nvidia_pickle(g, tmp_path / "cifar.pkl"), TEST_DEVICE)
    assert (g.c_dim, g.config.label_embedding) == (4, "embed")
    sd = {k: v.double().cpu() for k, v in g.state_dict().items()}
    z, c = torch.randn(3, 32, dtype=torch.float64), torch.eye(4, dtype=torch.float64)[[2, 0, 3]]
    # ada MappingNetwork: cat(norm(z), norm(embed(c))), embed = FC(c_dim, w, weight_gain 1/sqrt(c_dim))
    x = torch.cat([_norm(z), _norm(c @ (sd["embed.weight"] / 2).t() + sd["embed.bias"])], 1)
    for i in (1, 2):
        w = sd[f"style.{i}.weight"]
        x = F.leaky_relu(x @ (w * 0.01 / math.sqrt(w.shape[1])).t() + sd[f"style.{i}.bias"] * 0.01, 0.2) * SQRT2
    assert torch.allclose(g.mapping(z.float().to(TEST_DEVICE), c.float()).double().cpu(), x, atol=1e-4, rtol=RTOL)
    truncated = sd["latent_avg"] + 0.5 * (x - sd["latent_avg"])
    assert torch.allclose(g.mapping(z.float().to(TEST_DEVICE), c.float(), truncation_psi=0.5).double().cpu(),
                          truncated, atol=1e-4, rtol=RTOL)


def test_baylies_fork_settings_load_and_others_are_refused_by_name(tmp_path):
    v = tf_generator_variables(resolution=16, c_dim=167, label="concat")
    fork = dict(min_h=4, min_w=4, res_log2=2, use_attention=False, fmap_base=8192)
    g = load_generator(save_tf_pickle(v, tmp_path / "wikiart.pkl", tf_static_kwargs(v, **fork)), TEST_DEVICE)
    assert (g.resolution, g.config.label_set) == (16, "wikiart")
    for extra, named in [({"min_h": 3, "min_w": 5}, "min_h=3"), ({"res_log2": 3}, "res_log2=3"),
                         ({"architecture": "resnet"}, "architecture 'resnet'"),
                         ({"use_attention": True}, "use_attention=True"),
                         ({"resolution_w": 512}, "unknown TensorFlow generator setting 'resolution_w'"),
                         ({"impl": "ref"}, "DiffAugment-stylegan2's LabelConcat")]:
        path = save_tf_pickle(v, tmp_path / "fork.pkl", tf_static_kwargs(v, **{**fork, **extra}))
        with pytest.raises(CheckpointError, match=named) as error:
            load_generator(path, TEST_DEVICE)
        assert str(path) in str(error.value)


def test_convert_keeps_labels_and_embedding(tmp_path):
    from soundclip_core.cli import main

    v = tf_generator_variables(resolution=8, c_dim=167, label="concat", seed=4)
    source = save_tf_pickle(v, tmp_path / "network-snapshot-012052.pkl", tf_static_kwargs(v))
    assert main(["convert", str(source), str(tmp_path / "wikiart.safetensors")]) == 0
    g, back = load_generator(source, TEST_DEVICE), load_generator(tmp_path / "wikiart.safetensors", TEST_DEVICE)
    assert back.config == g.config and back.config.label_set == "wikiart"
    c = parse_label("artist=claude-monet, genre=landscape, style=impressionism", 167, "wikiart")
    assert torch.equal(back.ws_from_seed(1, truncation_psi=0.7, c=c), g.ws_from_seed(1, truncation_psi=0.7, c=c))
    assert torch.equal(back.latent_avg.cpu(), torch.from_numpy(v["Gs"]["dlatent_avg"]))


def test_conditional_without_w_avg_truncates_toward_each_labels_mean(tmp_path):
    g = tiny_generator(c_dim=3)  # estimate_w_avg on a conditional generator: per-label means, on demand
    assert g.per_label_avg
    c = torch.eye(3)[1:2]
    z = torch.randn(1024, 32, generator=torch.Generator().manual_seed(0))
    mean = g.mapping(z, c.expand(1024, -1)).mean(0)
    assert torch.allclose(g.mean_latent(c)[0], mean, atol=1e-5)
    assert torch.allclose(g.mapping(z[:2], c, truncation_psi=0.0), mean.expand(2, -1), atol=1e-5)
    back = load_generator(save_generator(g, tmp_path / "g.safetensors"), "cpu")
    assert back.per_label_avg and torch.allclose(back.mean_latent(c), g.mean_latent(c))


# -- labels -----------------------------------------------------------------------------------------------------------

def test_wikiart_labels_parse_to_the_notebook_indices():
    c = parse_label("artist=claude-monet, genre=landscape, style=impressionism", 167, "wikiart")
    assert c.shape == (1, 167) and c.nonzero()[:, 1].tolist() == [4, 133, 152] and c.sum() == 3
    c = parse_label("artist=Joaquín Sorolla, style=ukiyo-e:2", 167, "wikiart")
    assert c[0, 49] == 1 and c[0, 166] == 2
    assert parse_label("3,7", 10).nonzero()[:, 1].tolist() == [3, 7]


@pytest.mark.parametrize("text, message", [
    ("", "needs a label"), ("12", "class index 12 is out of range"), ("genre=cubism", "unknown genre 'cubism'"),
    ("colour=red", "unknown label group"), ("dog", "not a class index"), ("3:x", "not a number")])
def test_bad_labels_say_what_is_accepted(text, message):
    with pytest.raises(SoundClipError, match=message) as error:
        parse_label(text, 167 if "=" in text else 10, "wikiart" if "=" in text else "", source="--label")
    assert "--label" in str(error.value) and "accepts" in str(error.value)
    assert "impressionism" in describe(167, "wikiart") and "0-9" in describe(10)


def test_label_for_refuses_a_label_for_unconditional_and_none_for_conditional():
    plain, conditional = tiny_generator(), tiny_generator(c_dim=3)
    assert label_for(plain, "") is None
    with pytest.raises(SoundClipError, match="not class-conditional"):
        label_for(plain, "2")
    with pytest.raises(SoundClipError, match="needs a label.*0-2"):
        conditional.ws_from_seed(0)
    assert torch.equal(label_for(conditional, "2"), torch.eye(3)[2:])


# -- bad and hostile files ---------------------------------------------------------------------------------------------

def test_build_module_src_is_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "executed"
    monkeypatch.setenv("SOUNDCLIP_TEST_MARKER", str(marker))
    exec(compile(TF_BUILD_SRC, "payload", "exec"), {})  # the payload is live: running it makes the marker
    assert marker.exists()
    marker.unlink()
    v = tf_generator_variables(resolution=8)
    load_generator(save_tf_pickle(v, tmp_path / "net.pkl", tf_static_kwargs(v)), TEST_DEVICE)
    assert not marker.exists()


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Unknown:
    pass


@pytest.mark.parametrize("protocol", [2, 4])
def test_reduce_payloads_and_unknown_globals_are_refused(tmp_path, protocol):
    marker = tmp_path / "pwned"
    v = tf_generator_variables(resolution=8)
    for payload, message in [(_Payload(marker), "refusing global '(posix|nt).system'"),
                             (_Unknown(), "refusing global 'test_tf_pickle._Unknown'"),
                             (np.array(["text"]), "refusing numpy dtype")]:
        path = save_tf_pickle(v, tmp_path / "evil.pkl", tf_static_kwargs(v), protocol=protocol, payload=payload)
        with pytest.raises(CheckpointError, match=message) as error:
            load_generator(path, TEST_DEVICE)
        assert str(path) in str(error.value) and "nothing in the file was executed" in str(error.value)
    from soundclip_core.cli import main

    assert main(["convert", str(path), str(tmp_path / "out.safetensors")]) == 2
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_nvidia_pickles_may_hold_numpy_arrays(tmp_path):
    """StyleGAN3 stores sizes as numpy arrays inside the persistent objects: they come back as data."""
    from stylegan_formats import _Persistent

    from soundclip_core.generators.nvidia_pickle import read_nvidia_pickle

    synthesis = _Persistent("SynthesisNetwork", {}, {}, {})
    synthesis.meta["state"].update(size=np.array([16, 16], dtype=np.int64), gain=np.float64(0.5))
    path = tmp_path / "sg3.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _Persistent("Generator", {}, {}, {"synthesis": synthesis})}, protocol=4))
    state = read_nvidia_pickle(path).state["_modules"]["synthesis"].state
    assert isinstance(state["size"], np.ndarray) and state["size"].tolist() == [16, 16]
    assert state["gain"] == 0.5 and state["gain"].dtype == np.float64


def _drop(name):
    def edit(v):
        del v["synthesis"][name]
    return edit


def _reshape(name):
    def edit(v):
        v["synthesis"][name] = v["synthesis"][name][..., :-1]
    return edit


@pytest.mark.parametrize("edit, message", [
    (_drop("8x8/Conv1/mod_bias"), "lacks variable 'synthesis/8x8/Conv1/mod_bias'"),
    (_reshape("8x8/Conv0_up/weight"), r"'synthesis/8x8/Conv0_up/weight' has shape \(3, 3, 32, 23\), expected"),
    (lambda v: v["synthesis"].update({"8x8/Skip/weight": np.ones((1, 1, 32, 24), np.float32)}), "resnet"),
])
def test_missing_or_misshapen_variables_are_named(tmp_path, edit, message):
    v = tf_generator_variables(resolution=8)
    edit(v)
    path = save_tf_pickle(v, tmp_path / "bad.pkl", tf_static_kwargs(v))
    with pytest.raises(CheckpointError, match=message) as error:
        load_generator(path, TEST_DEVICE)
    assert str(path) in str(error.value)


def test_truncated_and_wrong_version_tf_pickles(tmp_path):
    v = tf_generator_variables(resolution=8)
    full = save_tf_pickle(v, tmp_path / "full.pkl", tf_static_kwargs(v))
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="unreadable TensorFlow pickle") as error:
        load_generator(truncated, TEST_DEVICE)
    assert str(truncated) in str(error.value)
    old = save_tf_pickle(v, tmp_path / "stylegan1.pkl", tf_static_kwargs(v), version=3)
    with pytest.raises(CheckpointError, match="version 3"):
        load_generator(old, TEST_DEVICE)
    network = _fake_tf_network_class()
    (tmp_path / "one.pkl").write_bytes(pickle.dumps((network({"version": 4}),), protocol=4))
    with pytest.raises(CheckpointError, match="no \\(G, D, Gs\\)"):
        load_generator(tmp_path / "one.pkl", TEST_DEVICE)
    (tmp_path / "parts.pkl").write_bytes(pickle.dumps((network({"version": 4, "components": {}}),) * 3))
    with pytest.raises(CheckpointError, match="no 'mapping' and 'synthesis' components"):
        load_generator(tmp_path / "parts.pkl", TEST_DEVICE)
    kwargs = tf_static_kwargs(v)
    v["mapping"] = {(1, 2): np.zeros(3)}  # a variable list whose names are not strings
    bad = save_tf_pickle(v, tmp_path / "malformed.pkl", kwargs)
    with pytest.raises(CheckpointError, match="malformed TF network state") as error:
        load_generator(bad, TEST_DEVICE)
    assert str(bad) in str(error.value)


# -- CLI and node ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wikiart_files(tmp_path_factory):
    from tiny_models import WIKIART_FILE, stand_in_clip, write_wikiart_pickle

    from soundclip_core.clip import save_clip

    root = tmp_path_factory.mktemp("wikiart")
    write_wikiart_pickle(root / WIKIART_FILE)
    save_clip(stand_in_clip(), root / "clip.pt")
    save_generator(tiny_generator(), root / "plain.safetensors")
    return root


def test_cli_labels_for_a_conditional_model(wikiart_files, capsys):
    from soundclip_core.cli import main
    from soundclip_core.latents import load_latent

    root = wikiart_files
    base = ["manipulate", "--text", "an oil painting", "--generator", str(root / "network-snapshot-012052.pkl"),
            "--clip", str(root / "clip.pt"), "--steps", "1", "--device", str(TEST_DEVICE)]
    for label, message in [([], "needs a label"), (["--label", "style=dadaism"], "unknown style 'dadaism'")]:
        assert main([*base, *label, "--out", str(root / "bad.png")]) == 2
        err = capsys.readouterr().err
        assert message in err and "--label" in err and "impressionism" in err
    assert not (root / "bad.png").exists()
    out = root / "painting.png"
    assert main([*base, "--label", "genre=landscape, style=impressionism", "--out", str(out)]) == 0
    ws, meta = load_latent(out.with_suffix(".safetensors"))
    assert meta["label"] == "genre=landscape, style=impressionism" and ws.shape == (1, 8, 32)
    latent = str(out.with_suffix(".safetensors"))
    assert main(["mix", latent, latent, "--generator", str(root / "network-snapshot-012052.pkl"),
                 "--out", str(root / "mixed.png")]) == 0  # the label saved with latent A
    assert load_latent(root / "mixed.safetensors")[1]["label"] == meta["label"]
    assert main(["mix", latent, latent, "--generator", str(root / "network-snapshot-012052.pkl"), "--label", "999",
                 "--out", str(root / "mixed2.png")]) == 2
    assert "class index 999 is out of range" in capsys.readouterr().err
    assert main(["manipulate", "--text", "x", "--generator", str(root / "plain.safetensors"), "--clip",
                 str(root / "clip.pt"), "--label", "3", "--steps", "1", "--device", str(TEST_DEVICE),
                 "--out", str(root / "plain.png")]) == 2
    assert "not class-conditional" in capsys.readouterr().err and not (root / "plain.png").exists()


def test_latent_from_seed_node_takes_a_label(wikiart_files):
    from pack_loading import import_pack

    classes = import_pack().NODE_CLASS_MAPPINGS
    assert "label" in classes["SoundCLIP_LatentFromSeed"].INPUT_TYPES()["required"]
    node = classes["SoundCLIP_LatentFromSeed"]()
    generator = load_generator(wikiart_files / "network-snapshot-012052.pkl", TEST_DEVICE)
    with torch.inference_mode():
        (a,) = node.sample(generator, 3, 2, 0.7, "genre=landscape, style=impressionism")
        (b,) = node.sample(generator, 3, 2, 0.7, "artist=claude-monet")
        with pytest.raises(SoundClipError, match="LatentFromSeed label.*needs a label") as error:
            node.sample(generator, 3, 1, 0.7, "")
    assert "genre=<" in str(error.value)
    assert a["ws"].shape == (2, 8, 32) and not torch.equal(a["ws"], b["ws"])
    c = parse_label("genre=landscape, style=impressionism", 167, "wikiart")
    assert torch.equal(a["ws"], generator.ws_from_seed(3, 2, 0.7, c=c).cpu())
