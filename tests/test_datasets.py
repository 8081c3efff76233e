"""Dataset readers: every layout on synthetic data written in its published form, and every bad input."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import soundfile
from sound_datasets import CLASSES, RATE, synth, write_esc50, write_folder, write_manifest, write_us8k, write_vggsound

from soundclip_core.datasets import clean_label, load_clip_audio, load_frame, open_dataset, require_classes
from soundclip_core.errors import DatasetError


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    return {"esc50": write_esc50(root / "esc50", per_fold=1), "us8k": write_us8k(root / "us8k"),
            "vggsound": write_vggsound(root / "vgg"), "folder": write_folder(root / "folder"),
            "csv": write_manifest(root / "manifest")}


def test_clean_label():
    assert clean_label("car_horn") == "car horn"
    assert clean_label("Dog") == "dog"
    assert clean_label("  Chirping_birds ") == "chirping birds"


def test_esc50_folds_labels_and_selection(layouts):
    ds = open_dataset("esc50", layouts["esc50"])
    assert ds.name == "esc50" and len(ds) == 5 * len(CLASSES) and ds.classes == tuple(sorted(CLASSES))
    assert ds.folds() == [1, 2, 3, 4, 5]
    clip = ds.clips[0]
    assert clip.audio.is_absolute() and clip.audio.is_file() and clip.label == "bird"
    assert clip.caption == "bird" and clip.fold == 1 and clip.image is None
    held_out = ds.select([5])
    assert {c.fold for c in held_out.clips} == {5} and held_out.classes == ds.classes and len(held_out) == 4
    assert len(ds.select([1, 2, 3, 4])) == 16
    assert held_out.targets() == [ds.class_index(c.label) for c in held_out.clips]
    with pytest.raises(DatasetError, match=r"folds \[7\]"):
        ds.select([7])


def test_us8k_paths_by_fold(layouts):
    ds = open_dataset("auto", layouts["us8k"])
    assert ds.name == "us8k" and ds.folds() == [1, 2, 3] and len(ds) == 12
    assert all(c.audio.parent.name == f"fold{c.fold}" for c in ds.clips)
    assert {c.label for c in ds.clips} == set(CLASSES)


def test_vggsound_finds_downloaded_clips_lists_missing_and_reads_video(layouts):
    ds = open_dataset("vggsound", layouts["vggsound"])
    assert len(ds) == 2 * len(CLASSES) and ds.missing == ("gone000000_000030",)
    assert ds.classes == ("bird", "clock tick", "crickets", "snore")
    video = ds.clips[0]
    assert video.audio.suffix == ".mp4" and video.image == video.audio and video.split == "test"
    assert {c.split for c in ds.clips} == {"train", "test"} and len(ds.select(split="train")) == 4
    sound = load_clip_audio(video.audio)
    reference = synth("bird", 7000)
    assert sound.sample_rate == RATE and sound.waveform.shape[1] >= reference.shape[0]
    # AAC is lossy and may delay the start: the decoded track still correlates with the tone written
    lag = int(np.argmax(np.correlate(sound.waveform[0].numpy()[:4000], reference[:2000], mode="valid")))
    decoded = sound.waveform[0].numpy()[lag:lag + 4000]
    assert np.corrcoef(decoded, reference[:4000])[0, 1] > 0.9
    frame = load_frame(video.image)
    assert frame.shape == (3, 32, 32)
    assert abs(float(frame.mean()) - (80 / 127.5 - 1)) < 0.05  # frame 2 of 5, grey level 80


@pytest.mark.parametrize("codec, layout, fmt", [("pcm_s16le", "stereo", "s16"), ("pcm_s32le", "mono", "s32"),
                                                ("pcm_u8", "mono", "u8"), ("pcm_f32le", "stereo", "flt")])
def test_video_sound_in_any_sample_format_comes_out_at_full_scale(tmp_path, codec, layout, fmt):
    """Integer PCM tracks (16/32-bit signed, 8-bit offset) are scaled by their own full scale, float ones kept."""
    import av

    t = np.arange(RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    channels = 2 if layout == "stereo" else 1
    path = tmp_path / f"clip_{fmt}.mov"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=RATE, layout=layout)
        if fmt == "flt":
            data = np.repeat(tone, channels)[None]  # interleaved
        else:
            info = np.iinfo({"s16": np.int16, "s32": np.int32, "u8": np.uint8}[fmt])
            half = (int(info.max) + 1) // 2 if info.min == 0 else -int(info.min)
            offset = half if info.min == 0 else 0
            data = np.repeat(np.round(tone * half + offset).astype(info.dtype), channels)[None]  # interleaved
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    sound = load_clip_audio(path)
    assert sound.sample_rate == RATE and sound.waveform.shape == (channels, RATE)
    assert np.abs(sound.waveform.numpy() - tone[None]).max() < 1e-2  # u8 quantises to 1/128


def test_frames_read_any_picture_a_user_has(tmp_path):
    """A 16-bit greyscale PNG keeps its level (a plain RGB conversion saturates it to white) and a transparent
    picture is composited onto white, as the inversion reads pictures."""
    from PIL import Image

    Image.fromarray(np.full((12, 20), 16384, dtype=np.uint16)).save(tmp_path / "grey16.png")
    frame = load_frame(tmp_path / "grey16.png")
    assert frame.shape == (3, 12, 20) and abs(float(frame.mean()) - (2 * 16384 / 65535 - 1)) < 1e-3
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert float(load_frame(tmp_path / "clear.png").min()) == 1.0


def test_folder_and_manifest(layouts):
    ds = open_dataset("auto", layouts["folder"])
    assert ds.name == "folder" and len(ds) == 8 and ds.folds() == []
    manifest = open_dataset("auto", layouts["csv"].parent)
    assert manifest.name == "csv" and len(manifest) == 4
    clip = manifest.clips[0]
    assert clip.caption == "the sound of a bird" and clip.label == "bird" and clip.image.suffix == ".png"
    assert load_frame(clip.image).shape == (3, 16, 16)
    assert require_classes(manifest) is manifest


def test_manifest_captions_only(tmp_path):
    soundfile.write(tmp_path / "a.wav", synth("bird", 1), RATE)
    (tmp_path / "m.csv").write_text("path,text\na.wav,a bird sings far away\n")
    ds = open_dataset("csv", tmp_path / "m.csv")
    assert ds.clips[0].caption == "a bird sings far away" and ds.clips[0].label is None and ds.classes == ()
    with pytest.raises(DatasetError, match="unlabelled"):
        require_classes(ds)


def _esc50_copy(layouts, tmp_path):
    return shutil.copytree(layouts["esc50"], tmp_path / "esc")


def test_bad_inputs(layouts, tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset("auto", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="unknown dataset kind"):
        open_dataset("audioset", layouts["esc50"])
    with pytest.raises(DatasetError, match="metadata file not found"):
        open_dataset("us8k", layouts["esc50"])
    root = _esc50_copy(layouts, tmp_path)
    meta = root / "meta" / "esc50.csv"
    rows = list(csv.reader(open(meta)))
    (root / "audio" / rows[3][0]).unlink()
    with pytest.raises(DatasetError, match="1 of 20 listed sound files do not exist"):
        open_dataset("esc50", root)
    meta.write_text("filename,fold,target\n" + "\n".join(",".join(r[:3]) for r in rows[1:]))
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['category'\]"):
        open_dataset("esc50", root)
    meta.write_text("filename,fold,category\n" + f"{rows[1][0]},first,dog\n")
    with pytest.raises(DatasetError, match="line 2: column 'fold' must be a number"):
        open_dataset("esc50", root)
    meta.write_text("filename,fold,category\n" + "\n".join(f"{r[0]},{r[1]},dog" for r in rows[1:]
                                                             if (root / "audio" / r[0]).is_file()))
    with pytest.raises(DatasetError, match="single class"):
        open_dataset("esc50", root)
    meta.write_text("filename,fold,category\n")
    with pytest.raises(DatasetError, match="no rows"):
        open_dataset("esc50", root)


def test_bad_folders_and_manifests(layouts, tmp_path):
    folder = shutil.copytree(layouts["folder"], tmp_path / "folder")
    (folder / "siren").mkdir()
    with pytest.raises(DatasetError, match="class 'siren' has no sound files"):
        open_dataset("folder", folder)
    (tmp_path / "flat").mkdir()
    soundfile.write(tmp_path / "flat" / "x.wav", synth("bird", 0), RATE)
    with pytest.raises(DatasetError, match="no class folders"):
        open_dataset("folder", tmp_path / "flat")
    manifest = tmp_path / "m.csv"
    manifest.write_text("sound,words\nx.wav,hello\n")
    with pytest.raises(DatasetError, match="needs an audio column"):
        open_dataset("csv", manifest)
    manifest.write_text("audio,caption,image\nflat/x.wav,a dog,flat/nope.png\n")
    with pytest.raises(DatasetError, match="image/video files do not exist"):
        open_dataset("csv", manifest)
    manifest.write_text("audio,caption\nflat/missing.wav,a dog\n")
    with pytest.raises(DatasetError, match="do not exist"):
        open_dataset("csv", manifest)
    vgg = tmp_path / "vgg"
    vgg.mkdir()
    (vgg / "vggsound.csv").write_text("abc,0,dog,train\n")
    with pytest.raises(DatasetError, match="none of the 1 clips"):
        open_dataset("auto", vgg)
    (vgg / "vggsound.csv").write_text("abc,0,dog\n")
    with pytest.raises(DatasetError, match="expected 4 columns"):
        open_dataset("vggsound", vgg)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot read a picture"):
        load_frame(tmp_path / "broken.png")
