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
        open_dataset("nsynth", layouts["esc50"])
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


def _rewrite_esc50(root, edit):
    """Rewrite the copy's esc50.csv with `edit(rows)` applied to its data rows."""
    meta = root / "meta" / "esc50.csv"
    with open(meta, newline="") as f:
        header, *rows = list(csv.reader(f))
    with open(meta, "w", newline="") as f:
        csv.writer(f).writerows([header, *edit(rows)])
    return meta


@pytest.mark.parametrize("fold", ["inf", "1e400", "2.5", "0", "99", "-1", "nan", "0x2"])
def test_esc50_folds_must_be_whole_numbers_from_1_to_5(layouts, tmp_path, fold):
    root = _esc50_copy(layouts, tmp_path)
    _rewrite_esc50(root, lambda rows: [rows[0], [rows[1][0], fold, *rows[1][2:]], *rows[2:]])
    with pytest.raises(DatasetError, match=rf"esc50.csv: line 3: column 'fold' must be a number \(whole, 1 to 5\), "
                                           rf"got '{fold}'"):
        open_dataset("esc50", root)


def test_whole_folds_written_as_floats_are_read_and_us8k_has_ten(layouts, tmp_path):
    root = _esc50_copy(layouts, tmp_path)
    _rewrite_esc50(root, lambda rows: [[r[0], f"{r[1]}.0", *r[2:]] for r in rows])
    assert open_dataset("esc50", root).folds() == [1, 2, 3, 4, 5]
    us8k = shutil.copytree(layouts["us8k"], tmp_path / "us8k")
    meta = us8k / "metadata" / "UrbanSound8K.csv"
    with open(meta, newline="") as f:
        header, first, *rows = list(csv.reader(f))
    first[header.index("fold")] = "11"
    with open(meta, "w", newline="") as f:
        csv.writer(f).writerows([header, first, *rows])
    with pytest.raises(DatasetError, match=r"column 'fold' must be a number \(whole, 1 to 10\), got '11'"):
        open_dataset("us8k", us8k)


def rows_first(root) -> str:
    """The file name on the first data row of the copy's esc50.csv."""
    with open(root / "meta" / "esc50.csv", newline="") as f:
        return list(csv.reader(f))[1][0]


def test_repeated_rows_are_dropped_with_a_warning_and_conflicting_ones_refused(layouts, tmp_path):
    root = _esc50_copy(layouts, tmp_path)
    _rewrite_esc50(root, lambda rows: [*rows, rows[0], rows[4]])
    with pytest.warns(UserWarning, match=r"esc50.csv: 2 repeated row\(s\) ignored \(lines 22, 23\)"):
        dataset = open_dataset("esc50", root)
    assert len(dataset) == 20 and len({c.audio for c in dataset.clips}) == 20
    _rewrite_esc50(root, lambda rows: [*rows[:20], [rows[0][0], "4", *rows[0][2:]]])
    with pytest.raises(DatasetError, match=rf"lines 2 and 22 list the same sound {rows_first(root)} with different "
                                           r"labels or folds \('bird', fold 1 and 'bird', fold 4\)"):
        open_dataset("esc50", root)


def test_a_manifest_names_only_files_under_its_folder_unless_allowed(tmp_path):
    data = tmp_path / "data"
    (data / "clips").mkdir(parents=True)
    soundfile.write(data / "clips" / "a.wav", synth("bird", 1), RATE)
    soundfile.write(tmp_path / "outside.wav", synth("snore", 2), RATE)
    manifest = data / "m.csv"
    for line, name in ((2, "../outside.wav"), (2, str(tmp_path / "outside.wav")), (2, "/etc/passwd"),
                       (2, "clips/../../outside.wav")):
        manifest.write_text(f"audio,label\n{name},snore\nclips/a.wav,bird\n")
        with pytest.raises(DatasetError, match=rf"m.csv: line {line}: the audio '{name}' is outside the dataset's "
                                               r"folder .*allow_outside_root=True"):
            open_dataset("csv", manifest)
    manifest.write_text("audio,label,image\nclips/a.wav,bird,../../secret.png\n../outside.wav,snore,\n")
    with pytest.raises(DatasetError, match=r"line 2: the image '../../secret.png' is outside"):
        open_dataset("auto", manifest)
    manifest.write_text("audio,label\n../outside.wav,snore\nclips/a.wav,bird\n")
    allowed = open_dataset("csv", manifest, allow_outside_root=True)
    assert allowed.clips[0].audio == (tmp_path / "outside.wav").resolve()
    (data / "linked.wav").symlink_to(tmp_path / "outside.wav")  # a link the user put in the folder is inside
    manifest.write_text("audio,label\nlinked.wav,snore\nclips/./a.wav,bird\n")
    assert open_dataset("csv", manifest).clips[0].audio == (tmp_path / "outside.wav").resolve()
    esc = tmp_path / "esc"
    (esc / "meta").mkdir(parents=True)
    (esc / "meta" / "esc50.csv").write_text("filename,fold,category\n../../outside.wav,1,snore\n")
    with pytest.raises(DatasetError, match=r"line 2: the filename '../../outside.wav' is outside.*Fix: restore the "
                                           r"dataset's original metadata file"):
        open_dataset("esc50", esc)


def test_several_captions_of_one_sound_are_kept(tmp_path):
    soundfile.write(tmp_path / "a.wav", synth("bird", 1), RATE)
    (tmp_path / "m.csv").write_text("audio,caption\na.wav,a bird sings\na.wav,chirping at dawn\n")
    assert [c.caption for c in open_dataset("csv", tmp_path / "m.csv").clips] == ["a bird sings", "chirping at dawn"]


def test_a_non_utf8_vggsound_csv_is_one_clear_error(tmp_path):
    root = write_vggsound(tmp_path / "vgg")
    (root / "vggsound.csv").write_bytes("abc,0,caf\u00e9 music,train\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"vggsound.csv: not a readable CSV file .*Fix: save it as UTF-8 CSV"):
        open_dataset("auto", root)
    (root / "vggsound.csv").write_text("abc,0,dog,train\nabd,1e400,dog,train\n")
    with pytest.raises(DatasetError, match=r"line 2: column 'start seconds' must be a number"):
        open_dataset("vggsound", root)
