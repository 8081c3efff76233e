"""Time to encode 10 s of audio with each encoder (random weights, real architecture sizes).

    python benchmarks/encoders.py [--audioclip /path/to/AudioCLIP] [--kaldi .../torchaudio/compliance/kaldi.py]
                                  [--imagebind /path/to/ImageBind --pytorchvideo /path/to/pytorchvideo]
                                  [--before /path/to/another/soundclip] [--threads 1]

With `--audioclip` (a checkout of AndreyGuzhov/AudioCLIP; its code is imported from there, never
copied here) the official ESResNeXtFBSP head gets the same random weights: the script prints how
far its spectrogram and embedding are from ours, and its time for the same 10 s.

ImageBind: our batched Kaldi filterbank against a naive per-clip, per-frame loop of the same steps and,
with `--kaldi` (torchaudio's `compliance/kaldi.py`, e.g. unzipped from a torchaudio wheel: the file is
loaded on its own, torchaudio is not installed), against torchaudio's. With `--imagebind` (a checkout of
facebookresearch/ImageBind) and `--pytorchvideo` (one of facebookresearch/pytorchvideo at the commit
ImageBind pins, 6cdc929, for its clip sampler) ImageBind's own `load_and_transform_audio_data` and audio
modality run on a sound file with our random weights: the script prints the embedding difference and
both times, measured in turns; `--before` adds another soundclip checkout's ImageBind encoder to the same
turns, and `--threads 1` times CPU time (the work done) rather than wall time. Modules those checkouts import
but this path never runs (einops, iopath, pkg_resources, pytorchvideo's transforms and video decoding) are
stood in by empty modules.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import math
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.audio import Audio  # noqa: E402
from soundclip_core.encoders import ENCODER_KINDS, build_audio_encoder  # noqa: E402
from soundclip_core.encoders.kaldi import kaldi_fbank, mel_banks  # noqa: E402
from soundclip_core.optional import require  # noqa: E402

RATE = 44100
FBANK_REPEATS = 50  # milliseconds each: many repeats, so that a busy machine's pauses drop out of the best time
IMAGEBIND_ROUNDS = 8  # ~0.4-2 s each on 2 CPU threads; ours and ImageBind's in turns


def best_ms(fn, repeat: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def clock() -> tuple[str, object]:
    """Wall time; on one thread the process's CPU time: the work done, which other jobs on a shared machine
    barely move (with more threads it would count their spin-waits too)."""
    return ("CPU time", time.process_time) if torch.get_num_threads() == 1 else ("wall time", time.perf_counter)


def interleaved(fns: dict, rounds: int) -> dict[str, list[float]]:
    """Milliseconds of each function (`clock`), run in turns (the order rotating each round) after one warm-up
    each, so that a shared machine's busy spells fall on all of them alike; compare bests, or the median of
    per-round ratios."""
    for fn in fns.values():
        fn()
    names, times, now = list(fns), {name: [] for name in fns}, clock()[1]
    for turn in range(rounds):
        for name in names[turn % len(names):] + names[:turn % len(names)]:
            start = now()
            fns[name]()
            times[name].append((now() - start) * 1000)
    return times


def ratio_text(times: dict[str, list[float]], ours: str, theirs: str) -> str:
    pairs = sorted(a / b for a, b in zip(times[ours], times[theirs], strict=True))
    return (f"{min(times[ours]) / min(times[theirs]):.2f}x (bests), {pairs[len(pairs) // 2]:.2f}x (median of "
            f"{len(pairs)} rounds)")


def official_audioclip_head(checkout: Path) -> torch.nn.Module:
    """The official head, imported without its training framework, dataset loaders or tokenizer."""
    sys.path.insert(0, str(checkout))
    trainer = types.ModuleType("ignite_trainer")
    trainer.AbstractNet = type("AbstractNet", (torch.nn.Module,), {})
    trainer.AbstractTransform = type("AbstractTransform", (), {})
    datasets = types.ModuleType("utils.datasets")
    datasets.__spec__ = importlib.machinery.ModuleSpec("utils.datasets", None)
    model = types.ModuleType("model")
    model.__path__ = [str(checkout / "model")]
    sys.modules.update({"ignite_trainer": trainer, "utils.datasets": datasets, "model": model})
    from model.esresnet.fbsp import ESResNeXtFBSP

    return ESResNeXtFBSP(n_fft=2048, hop_length=561, win_length=1654, window="blackmanharris", normalized=True,
                         onesided=True, spec_height=-1, spec_width=-1, num_classes=1024, apply_attention=True,
                         pretrained=False).eval()


def compare_audioclip(checkout: Path) -> None:
    ours = build_audio_encoder("audioclip", device="cpu", seed=1)
    with torch.no_grad():  # trained-looking filters and batch norms, so nothing is trivially the identity
        ours.net.fbsp.m.uniform_(0.2, 2.7)
        ours.net.fbsp.fb.uniform_(0.5, 2.5)
        for module in ours.net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    official = official_audioclip_head(checkout)
    official.load_state_dict(ours.net.state_dict())
    y = torch.randn(1, RATE * 5) * 0.1
    with torch.no_grad():
        reference = F.normalize(official(y[None] * 32768.0), dim=-1)  # official input: int16-range [B, C, T]
        spec_reference = official._forward_pre_processing(y[None] * 32768.0)[:, 0]
        spec_difference = (ours.net.spectrogram_db(y) - spec_reference).abs().max()
    difference = (ours.encode(Audio(y, RATE)).vectors - reference).abs().max()
    print(f"audioclip vs official head, 5 s: embedding max |diff| {difference:.1e}, "
          f"spectrogram max |diff| {spec_difference:.1e} dB")
    clip = torch.randn(1, RATE * 10) * 0.1
    with torch.no_grad():
        official_ms = best_ms(lambda: [official(clip[None, :, s:s + RATE * 5] * 32768.0) for s in (0, RATE * 5)])
    ours_ms = best_ms(lambda: ours.encode(Audio(clip, RATE)))
    print(f"audioclip 10 s (two 5 s windows): ours {ours_ms:.0f} ms, official head {official_ms:.0f} ms "
          f"({ours_ms / official_ms:.2f}x)")


def naive_fbank(clip: torch.Tensor, bins: int = 128) -> torch.Tensor:
    """Kaldi's fbank steps one frame at a time (what a direct transcription does), for the comparison."""
    window = torch.hann_window(400, periodic=False)
    banks = mel_banks(bins, 512, 16000.0, 20.0, 0.0)
    rows = []
    for first in range(0, clip.shape[0] - 400 + 1, 160):
        frame = clip[first:first + 400]
        frame = frame - frame.mean()
        frame = (frame - 0.97 * torch.cat([frame[:1], frame[:-1]])) * window
        power = torch.fft.rfft(F.pad(frame, (0, 112))).abs().square()[:256]
        rows.append(torch.log(torch.clamp_min(banks @ power, torch.finfo(torch.float32).eps)))
    return torch.stack(rows)


def load_file_module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compare_fbank(torchaudio_kaldi: Path | None) -> types.ModuleType | None:
    clips = torch.randn(3, 32000) * 0.1  # ImageBind's three 2 s clips
    ours_ms = best_ms(lambda: kaldi_fbank(clips, num_mel_bins=128, window="hanning"), repeat=FBANK_REPEATS)
    naive_ms = best_ms(lambda: [naive_fbank(c) for c in clips], repeat=5)
    difference = (kaldi_fbank(clips, num_mel_bins=128, window="hanning") - torch.stack([naive_fbank(c) for c in clips]))
    print(f"kaldi fbank, 3 clips of 2 s: ours (all clips batched) {ours_ms:.2f} ms, naive per-frame loop "
          f"{naive_ms:.0f} ms ({naive_ms / ours_ms:.0f}x ours); max |diff| {difference.abs().max():.1e}")
    if not torchaudio_kaldi:
        return None
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))  # kaldi.py imports it for mfcc only
    kaldi = load_file_module("torchaudio_kaldi", torchaudio_kaldi)

    def reference(batch: torch.Tensor) -> list[torch.Tensor]:
        return [kaldi.fbank(c[None], htk_compat=True, sample_frequency=16000, use_energy=False,
                            window_type="hanning", num_mel_bins=128, dither=0.0, frame_length=25, frame_shift=10)
                for c in batch]

    reference_ms = best_ms(lambda: reference(clips), repeat=FBANK_REPEATS)
    ours = kaldi_fbank(clips, num_mel_bins=128, window="hanning")
    ours64 = kaldi_fbank(clips.double(), num_mel_bins=128, window="hanning")
    print(f"kaldi fbank vs torchaudio's kaldi.fbank: {reference_ms:.2f} ms (ours {ours_ms / reference_ms:.2f}x its "
          f"time); "
          f"max |diff| float32 {(ours - torch.stack(reference(clips))).abs().max():.1e}, float64 "
          f"{(ours64 - torch.stack(reference(clips.double()))).abs().max():.1e} (log units)")
    for seconds in (10, 60):  # one long sound (ImageBind's clips are 2 s; other callers may pass more)
        sound = torch.randn(1, 16000 * seconds) * 0.1
        times = interleaved({"ours": lambda s=sound: kaldi_fbank(s, num_mel_bins=128, window="hanning"),
                             "torchaudio": lambda s=sound: reference(s)}, rounds=FBANK_REPEATS // 2)
        print(f"kaldi fbank, one {seconds} s sound: ours {min(times['ours']):.1f} ms, torchaudio "
              f"{min(times['torchaudio']):.1f} ms: {ratio_text(times, 'ours', 'torchaudio')}")
    return kaldi


def stand_in(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


def official_imagebind(checkout: Path, pytorchvideo: Path, kaldi: types.ModuleType):
    """ImageBind's data.py and model code from its checkout, with the modules they import but this path never
    uses stood in; torchaudio: its kaldi.py, a soundfile reader and no resampling (the sound is 16 kHz)."""
    import soundfile

    def load(path):
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return torch.from_numpy(samples.T.copy()), rate

    torchaudio = sys.modules.get("torchaudio") or stand_in("torchaudio")
    torchaudio.load = load
    torchaudio.compliance = stand_in("torchaudio.compliance", kaldi=kaldi)
    stand_in("einops", rearrange=lambda x, expr, **_: x.transpose(0, 1))  # "b l d -> l b d" and back
    stand_in("iopath"), stand_in("iopath.common")
    stand_in("iopath.common.file_io", g_pathmgr=types.SimpleNamespace(open=open))  # its BPE vocabulary
    stand_in("pkg_resources", resource_filename=lambda *parts: str(checkout / "imagebind" / parts[-1]))
    stand_in("pytorchvideo").__path__ = []
    stand_in("pytorchvideo.transforms")
    stand_in("pytorchvideo.data").__path__ = []
    stand_in("pytorchvideo.data.encoded_video", EncodedVideo=None)
    load_file_module("pytorchvideo.data.clip_sampling", pytorchvideo / "pytorchvideo" / "data" / "clip_sampling.py")
    sys.path.insert(0, str(checkout))
    from imagebind import data
    from imagebind.models import imagebind_model

    # the audio modality at its real size; the others as small as the constructor allows (never run)
    model = imagebind_model.ImageBindModel(
        out_embed_dim=1024, vision_embed_dim=32, vision_num_blocks=1, vision_num_heads=1, text_embed_dim=32,
        text_num_blocks=1, text_num_heads=1, depth_embed_dim=32, depth_num_blocks=1, depth_num_heads=1,
        thermal_embed_dim=32, thermal_num_blocks=1, thermal_num_heads=1, imu_embed_dim=32, imu_num_blocks=1,
        imu_num_heads=1).eval()
    return data, model


def compare_imagebind_file(data: types.ModuleType) -> None:
    """A small ImageBindModel (ImageBind's own classes, every modality) saved as its state dict: our loaders read
    the audio encoder and the CLIP towers from that one file; their embeddings against ImageBind's forward."""
    import soundfile
    from imagebind.models import imagebind_model

    from soundclip_core.clip import load_clip
    from soundclip_core.encoders import load_audio_encoder

    torch.manual_seed(0)
    model = imagebind_model.ImageBindModel(
        out_embed_dim=64, vision_embed_dim=160, vision_num_blocks=2, vision_num_heads=2, text_embed_dim=128,
        text_num_blocks=2, text_num_heads=2, audio_embed_dim=128, audio_num_blocks=2, audio_num_heads=2,
        depth_embed_dim=32, depth_num_blocks=1, depth_num_heads=1, thermal_embed_dim=32, thermal_num_blocks=1,
        thermal_num_heads=1, imu_embed_dim=32, imu_num_blocks=1, imu_num_heads=1).eval()
    with torch.no_grad():  # LayerNorms and biases away from their initial 1 and 0
        for name, tensor in model.named_parameters():
            if tensor.ndim == 1:
                tensor.normal_(1.0 if "norm" in name and name.endswith("weight") else 0.0, 0.1)
    texts = ["a dog barking", "rain on a window"]
    images, y = torch.randn(2, 3, 224, 224), torch.randn(16000 * 5) * 0.1
    with tempfile.TemporaryDirectory() as folder:
        torch.save(model.state_dict(), Path(folder) / "imagebind_small.pth")
        clip = load_clip(None, Path(folder) / "imagebind_small.pth", device="cpu")
        encoder = load_audio_encoder(Path(folder) / "imagebind_small.pth", device="cpu")
        soundfile.write(Path(folder) / "sound.wav", y.numpy(), 16000, subtype="FLOAT")
        with torch.no_grad():
            tokens = data.load_and_transform_text(texts, "cpu")
            audio = data.load_and_transform_audio_data([str(Path(folder) / "sound.wav")], "cpu")
            theirs = {k: F.normalize(v, dim=-1) for k, v in model({"vision": images, "text": tokens,
                                                                   "audio": audio}).items()}
            vision = F.normalize(clip.image_features(images), dim=-1)
    text = clip.encode_text(texts).vectors
    sound = encoder.encode(Audio(y[None], 16000)).vectors
    same_tokens = torch.equal(tokens, require("open_clip", "CLIP text encoding").tokenize(texts))
    print(f"imagebind file ({len(model.state_dict())} tensors, all modalities, small) read by our loaders vs "
          f"ImageBind's forward: vision {(vision - theirs['vision']).abs().max():.1e}, text "
          f"{(text - theirs['text']).abs().max():.1e}, audio {(sound - theirs['audio']).abs().max():.1e} (unit "
          f"vectors); ImageBind's tokens are open_clip's: {same_tokens}")


def soundclip_before(checkout: Path) -> types.ModuleType:
    """The `soundclip_core` of another checkout (e.g. `git worktree add /tmp/before main`), imported beside ours
    under the name `soundclip_before`, so that both run in the same turns."""
    package = checkout / "soundclip_core"
    spec = importlib.util.spec_from_file_location("soundclip_before", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["soundclip_before"] = module
    spec.loader.exec_module(module)
    return module


def compare_imagebind(checkout: Path, pytorchvideo: Path, kaldi: types.ModuleType, before: Path | None) -> None:
    import logging
    import warnings

    import soundfile

    logging.getLogger().setLevel(logging.ERROR)  # ImageBind's padding warning, once per clip
    warnings.simplefilter("ignore")  # ours, once per sound
    data, model = official_imagebind(checkout, pytorchvideo, kaldi)
    compare_imagebind_file(data)
    ours = build_audio_encoder("imagebind", device="cpu", seed=1)
    with torch.no_grad():  # trained-looking LayerNorms and a non-zero extra key/value, so nothing is trivial
        for name, tensor in ours.net.named_parameters():
            if "norm" in name or name.endswith(".0.weight") or name.endswith(".0.bias"):
                tensor.normal_(1.0 if name.endswith("weight") else 0.0, 0.1)
            elif "bias_k" in name or "bias_v" in name or "cls_token" in name or "pos_embed" in name:
                tensor.normal_(0, 0.5)
            elif tensor.ndim >= 2:
                tensor.normal_(0, 1 / math.sqrt(tensor[0].numel()))
    missing, _ = model.load_state_dict(ours.net.state_dict(), strict=False)
    assert not [k for k in missing if ".audio." in k], "the audio modality's keys differ"
    if before:
        old = soundclip_before(before)
        importlib.import_module("soundclip_before.encoders")
        earlier = old.encoders.build_audio_encoder("imagebind", device="cpu", seed=1)
        earlier.net.load_state_dict(ours.net.state_dict())
    for seconds in (10.0, 3.0, 0.2):
        y = (torch.randn(int(16000 * seconds)) * 0.1 + torch.linspace(0, 0.3, int(16000 * seconds))).numpy()
        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            soundfile.write(f.name, y, 16000, subtype="FLOAT")
            with torch.no_grad():
                def official():
                    inputs = data.load_and_transform_audio_data([f.name], "cpu")
                    return model({"audio": inputs})["audio"]

                reference = F.normalize(official(), dim=-1)
                audio = Audio(torch.from_numpy(y)[None], 16000)
                embedding = ours.encode(audio).vectors
                inputs = ours.prepare(audio)
                official_inputs = data.load_and_transform_audio_data([f.name], "cpu")[0]
                fns = {"ours": lambda audio=audio: ours.encode(audio), "ImageBind": official}
                if before:
                    fns["before"] = lambda y=y: earlier.encode(old.audio.Audio(torch.from_numpy(y)[None], 16000))
                times = interleaved(fns, rounds=IMAGEBIND_ROUNDS)
        print(f"imagebind vs its own code, {seconds:g} s sound: embedding max |diff| "
              f"{(embedding - reference).abs().max():.1e}, inputs max |diff| "
              f"{(inputs - official_inputs).abs().max():.1e}; ours {min(times['ours']):.0f} ms, ImageBind's "
              f"{min(times['ImageBind']):.0f} ms (best {clock()[0]}): {ratio_text(times, 'ours', 'ImageBind')}")
        if before:
            print(f"    the --before checkout: {min(times['before']):.0f} ms, "
                  f"{ratio_text(times, 'before', 'ImageBind')} of ImageBind's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audioclip", type=Path, help="a checkout of AndreyGuzhov/AudioCLIP to compare with")
    parser.add_argument("--kaldi", type=Path, help="torchaudio's compliance/kaldi.py to compare the fbank with")
    parser.add_argument("--imagebind", type=Path, help="a checkout of facebookresearch/ImageBind (needs --kaldi "
                                                       "and --pytorchvideo)")
    parser.add_argument("--pytorchvideo", type=Path, help="a checkout of facebookresearch/pytorchvideo (6cdc929)")
    parser.add_argument("--before", type=Path, help="with --imagebind: another soundclip checkout whose ImageBind "
                                                    "encoder runs in the same turns (e.g. main's)")
    parser.add_argument("--threads", type=int, help="CPU threads (1: timings in CPU time, robust on a shared machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    audio = Audio(torch.randn(2, 48000 * 10) * 0.1, 48000)  # 10 s stereo at 48 kHz: resampling included
    for kind in ENCODER_KINDS:
        encoder = build_audio_encoder(kind, device="cpu")
        ms = best_ms(lambda encoder=encoder: encoder.encode(audio))
        print(f"{kind:10} 10 s of audio: {ms:.0f} ms, {1000 / ms:.1f} sounds/s ({torch.get_num_threads()} CPU threads)")
    if args.audioclip:
        compare_audioclip(args.audioclip)
    kaldi = compare_fbank(args.kaldi)
    if args.imagebind:
        if not (kaldi and args.pytorchvideo):
            parser.error("--imagebind needs --kaldi and --pytorchvideo")
        compare_imagebind(args.imagebind, args.pytorchvideo, kaldi, args.before)


if __name__ == "__main__":
    main()
