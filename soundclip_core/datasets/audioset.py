"""AudioSet (Gemmeke et al. 2017) as the downloaders leave it: Google's segment CSVs, the class index, and
whichever clips could still be fetched, named by YouTube id.

    class_labels_indices.csv     index,mid,display_name (527 rows: 0,/m/09x0r,"Speech")
    *segments*.csv               balanced_train_segments.csv, unbalanced_train_segments.csv, eval_segments.csv:
                                 '#' comment lines, then `YTID, start_seconds, end_seconds, positive_labels`
                                 with the labels a quoted comma list ("/m/09x0r,/t/dd00088"), fields ", "-separated
    clips, anywhere below        `Y<YTID>.wav` (PANNs: the Y because ids may begin with '-'), `<YTID>.flac`,
                                 `[Y]<YTID>_30.000_40.000.wav`, `<YTID>-30-40.wav`, ...: the 11-character id after
                                 an optional "Y", then nothing or a '_'/'-' and anything

Each segment file is a split (its name without `_segments`), and a fold so that the machinery of folds serves
AudioSet too: the training files first, `eval` last (training holds the last fold out; evaluation holds it out
and trains the linear probe on the others). Rows whose clip was not downloaded are listed in `missing`, never
fatal (AudioSet copies always lack some); a malformed row or an unknown class id is one error naming the file
and the line. Clips are multi-label: `Clip.labels` holds every display name, the caption joins them.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..errors import DatasetError
from .dataset import AudioDataset, Clip, clean_label

CLASS_INDEX = "class_labels_indices.csv"
YTID = re.compile(r"[A-Za-z0-9_-]{11}")
MID = re.compile(r"/[a-z]/[A-Za-z0-9_]+")
TIME = re.compile(r"\d+(?:\.\d*)?")
SPLIT_ORDER = ("balanced_train", "unbalanced_train")  # then any other, then eval


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise DatasetError(f"not a readable CSV file ({error})", path=path,
                           fix="restore the file as Google publishes it (UTF-8)") from error


def find_metadata(root: Path, pattern: str) -> list[Path]:
    """Metadata files in the root or one folder below it (`metadata/`, `csv/`), never in the clip folders' depths."""
    return sorted({*root.glob(pattern), *root.glob(f"*/{pattern}")})


def read_class_index(root: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    """(mid -> display name, display names in index order) from class_labels_indices.csv."""
    found = find_metadata(root, CLASS_INDEX)
    if not found:
        raise DatasetError(f"{CLASS_INDEX} not found", path=root,
                           fix=f"put AudioSet's {CLASS_INDEX} in the dataset's folder (it names the 527 classes)")
    path = found[0]
    rows = list(csv.reader(_lines(path)))
    if not rows or [h.strip() for h in rows[0]] != ["index", "mid", "display_name"]:
        raise DatasetError(f"expected the header index,mid,display_name, got {rows[0] if rows else 'nothing'}",
                           path=path, fix=f"restore AudioSet's {CLASS_INDEX}")
    names: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 3 or not row[0].strip().isdigit() or int(row[0]) != len(names) \
                or not MID.fullmatch(row[1].strip()) or not row[2].strip():
            raise DatasetError(f"line {line}: expected index,mid,display_name with indices counting from 0, got "
                               f"{row}", path=path, fix=f"restore AudioSet's {CLASS_INDEX}")
        names[row[1].strip()] = row[2].strip()
    if len(set(names.values())) != len(names):
        raise DatasetError("two classes share a display name", path=path, fix=f"restore AudioSet's {CLASS_INDEX}")
    return names, tuple(names.values())


def read_segments(path: Path, names: dict[str, str]) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, YTID, display names) of every segment row; comment lines skipped, each row checked."""
    segments = []
    for line, text in enumerate(_lines(path), start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        row = next(csv.reader([text], skipinitialspace=True))
        fix = "restore the segment file as Google publishes it (the label list quoted: \"/m/09x0r,/t/dd00088\")"
        if len(row) != 4:
            raise DatasetError(f"line {line}: malformed row: expected YTID, start_seconds, end_seconds and one quoted "
                               f"label list, got {len(row)} fields", path=path, fix=fix)
        ytid, start, end, labels = (field.strip() for field in row)
        if not YTID.fullmatch(ytid) or not TIME.fullmatch(start) or not TIME.fullmatch(end):
            raise DatasetError(f"line {line}: malformed row: '{ytid}' is not an 11-character YouTube id or "
                               f"'{start}', '{end}' are not times in seconds", path=path, fix=fix)
        mids = [m.strip() for m in labels.split(",")]
        bad = [m for m in mids if not MID.fullmatch(m)]
        if bad:
            raise DatasetError(f"line {line}: malformed label list '{labels}' ({bad[0]!r} is not a class id like "
                               "/m/09x0r)", path=path, fix=fix)
        unknown = [m for m in mids if m not in names]
        if unknown:
            raise DatasetError(f"line {line}: unknown class id(s) {unknown} (not in {CLASS_INDEX})", path=path,
                               fix=f"use the {CLASS_INDEX} of the same AudioSet release as the segment files")
        segments.append((line, ytid, tuple(dict.fromkeys(names[m] for m in mids))))
    return segments


def clip_ids(stem: str) -> list[str]:
    """The YouTube ids a file stem may name: the 11 characters after an optional "Y", followed by nothing or a
    '_'/'-' and a time range (both readings are kept where both fit; the rows decide)."""
    ids = []
    for start in (1, 0) if stem.startswith("Y") else (0,):
        candidate = stem[start:start + 11]
        rest = stem[start + 11:]
        if YTID.fullmatch(candidate) and (not rest or rest[0] in "_-"):
            ids.append(candidate)
    return ids


def split_name(path: Path) -> str:
    return path.stem.removesuffix("_segments")


def read_audioset(root: Path, media: dict[str, tuple[Path, Path | None]]) -> AudioDataset:
    """AudioSet at `root`; `media` maps file stems to (sound, picture) as `layouts._media_index` finds them."""
    names, classes = read_class_index(root)
    files = find_metadata(root, "*segments*.csv")
    if not files:
        raise DatasetError("no segment CSV found (balanced_train_segments.csv, eval_segments.csv, ...)", path=root,
                           fix="put the segment CSVs you downloaded clips for in the dataset's folder")
    splits = sorted({split_name(f) for f in files},
                    key=lambda s: (s == "eval", SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))
    by_id: dict[str, tuple[Path, Path | None]] = {}
    for stem, found in sorted(media.items()):
        for ytid in clip_ids(stem):
            by_id.setdefault(ytid, found)
    clips, missing, seen = [], [], set()
    for path in files:
        split = split_name(path)
        for _, ytid, labels in read_segments(path, names):
            if ytid in seen:  # one segment per id in a release; a copy listing it twice keeps the first
                continue
            seen.add(ytid)
            if ytid not in by_id:
                missing.append(ytid)
                continue
            audio, image = by_id[ytid]
            clips.append(Clip(audio, labels[0], ", ".join(clean_label(label) for label in labels),
                              splits.index(split) + 1, image, split, labels))
    if not clips:
        raise DatasetError(f"none of the {len(missing)} clips listed in the segment CSVs was found under the folder",
                           path=root, fix="name the downloaded clips Y<YouTube id>.wav or <YouTube id>_<start>_<end>"
                                          ".wav (as PANNs' and the common downloaders do)")
    return AudioDataset("audioset", root, tuple(clips), classes, tuple(missing))
