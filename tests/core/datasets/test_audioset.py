"""AudioSet's layout: Google's segment CSVs (comment headers, quoted multi-label lists), the class index, clips
named as the downloaders name them, missing clips listed; malformed rows and unknown class ids one clear error.
VGGSound's classes are every label of its CSV."""

from __future__ import annotations

import pytest
from sound_datasets import AUDIOSET_MIDS, audioset_id, write_audioset, write_vggsound

from soundclip_core.datasets import open_dataset
from soundclip_core.datasets.audioset import clip_ids, read_segments
from soundclip_core.errors import DatasetError

NAMES = {mid: label.replace("_", " ").capitalize() for label, mid in AUDIOSET_MIDS.items()}


@pytest.fixture(scope="module")
def audioset(tmp_path_factory):
    return write_audioset(tmp_path_factory.mktemp("as") / "AudioSet")


def test_segments_with_comment_headers_and_quoted_label_lists(tmp_path):
    path = tmp_path / "eval_segments.csv"
    path.write_text("# Segments csv created Sun Mar  5 10:54:31 2017\n"
                    "# num_ytids=20371, num_segs=20371, num_unique_labels=527, num_positive_labels=51804\n"
                    "# YTID, start_seconds, end_seconds, positive_labels\n"
                    '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/m/01d3sd"\n'
                    "\n"
                    '-0RWZT-miFs, 420.000, 430.000, "/m/015p6"\n')
    assert read_segments(path, NAMES) == [(4, "--PJHxphWEs", ("Speech", "Snore")), (6, "-0RWZT-miFs", ("Bird",))]


@pytest.mark.parametrize(("row", "message"), [
    ('--PJHxphWEs, 30.000, 40.000, /m/09x0r,/m/01d3sd', "line 2: malformed row: expected .* got 5 fields"),
    ('--PJHxphWEs, 30.000, 40.000, "/m/09x0r,,/m/01d3sd"', "line 2: malformed label list '/m/09x0r,,/m/01d3sd'"),
    ('--PJHxphWEs, 30.000, 40.000, "Speech"', "line 2: malformed label list 'Speech'"),
    ('--PJHxphWEs, thirty, 40.000, "/m/09x0r"', "line 2: malformed row: .* not times in seconds"),
    ('--PJHxphWE, 30.000, 40.000, "/m/09x0r"', "line 2: malformed row: '--PJHxphWE' is not an 11-character"),
    ('--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/m/0zzzz"', r"line 2: unknown class id\(s\) \['/m/0zzzz'\]"),
])
def test_malformed_rows_and_unknown_class_ids_name_the_file_and_line(tmp_path, row, message):
    path = tmp_path / "balanced_train_segments.csv"
    path.write_text(f"# YTID, start_seconds, end_seconds, positive_labels\n{row}\n")
    with pytest.raises(DatasetError, match=message) as caught:
        read_segments(path, NAMES)
    assert caught.value.path == str(path) and caught.value.fix


def test_clip_names_of_the_common_downloaders():
    assert clip_ids("Y--PJHxphWEs") == ["--PJHxphWEs"]  # PANNs
    assert clip_ids("--PJHxphWEs") == ["--PJHxphWEs"]
    assert clip_ids("Y--PJHxphWEs_30.000_40.000") == ["--PJHxphWEs"]
    assert clip_ids("--PJHxphWEs-30-40") == ["--PJHxphWEs"]
    assert clip_ids("YabcdefghiJ") == ["YabcdefghiJ"]  # an id that itself begins with Y, unprefixed
    assert clip_ids("YYabcdefghiJ_0_10") == ["YabcdefghiJ"]
    assert set(clip_ids("YabcdefghiJ_")) == {"abcdefghiJ_", "YabcdefghiJ"}  # both readings: the rows decide
    assert clip_ids("notes") == [] and clip_ids("Y--PJHxphWEs.extra") == []


def test_audioset_folder_reads_as_a_multi_label_dataset_with_missing_clips_listed(audioset):
    ds = open_dataset("auto", audioset)
    assert ds.name == "audioset" and ds.classes == ("Bird", "Clock tick", "Crickets", "Snore", "Speech")
    assert ds.multi_label and len(ds) == 2 * 4 * 3 - 2
    assert ds.missing == (audioset_id(0, 0, "eval"), audioset_id(0, 1, "eval"))
    assert {c.split: c.fold for c in ds.clips} == {"balanced_train": 1, "eval": 2}  # eval is the last fold
    names = {c.audio.name for c in ds.clips}
    assert {"YYb00abcdefg.wav", "-b01abcdefg.flac", "Y-b11abcdefg_10.000_20.000.wav", "-b21abcdefg-10-20.wav"} <= names
    mixed = next(c for c in ds.clips if c.audio.name.startswith("YYb02"))
    assert mixed.labels == ("Bird", "Clock tick") and mixed.label == "Bird" and mixed.caption == "bird, clock tick"
    matrix = ds.target_matrix()
    assert matrix.shape == (22, 5) and matrix[:, 4].sum() == 0 and int(matrix.sum()) == 22 + 8
    assert ds.select(split="eval").classes == ds.classes  # class indices mean the same in every subset


def test_audioset_without_its_class_index_or_segments_or_clips(tmp_path, audioset):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="class_labels_indices.csv not found"):
        open_dataset("audioset", empty)
    (empty / "class_labels_indices.csv").write_text((audioset / "class_labels_indices.csv").read_text())
    with pytest.raises(DatasetError, match="no segment CSV found"):
        open_dataset("audioset", empty)
    (empty / "eval_segments.csv").write_text((audioset / "eval_segments.csv").read_text())
    with pytest.raises(DatasetError, match="none of the 12 clips listed in the segment CSVs was found"):
        open_dataset("audioset", empty)
    (empty / "class_labels_indices.csv").write_text('index,mid,display_name\n0,/m/09x0r,"Speech"\n2,/m/0x,"X"\n')
    with pytest.raises(DatasetError, match="line 3: expected index,mid,display_name"):
        open_dataset("audioset", empty)


def test_vggsound_classes_are_every_label_of_its_csv(tmp_path):
    root = write_vggsound(tmp_path / "vgg")
    with open(root / "vggsound.csv", "a") as f:
        f.write("notfetched1,0,playing tuba,test\n")
    ds = open_dataset("vggsound", root)
    assert "playing tuba" in ds.classes and "playing tuba" not in {c.label for c in ds.clips}
    assert ds.select(split="test").classes == ds.classes
