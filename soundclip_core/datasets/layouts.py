"""Readers for the published layouts (ESC-50, UrbanSound8K, VGGSound), a CSV manifest and a plain folder.

ESC-50:        meta/esc50.csv (filename, fold, target, category, esc10, src_file, take), audio/<filename>
UrbanSound8K:  metadata/UrbanSound8K.csv (slice_file_name, fsID, start, end, salience, fold, classID, class),
               audio/fold<fold>/<slice_file_name>
VGGSound:      vggsound.csv without a header (youtube id, start seconds, label, train|test) and the clips that
               were downloaded, anywhere under the root, named `<id>_<start:06d>.<ext>` (the common downloader
               convention), `<id>_<start>`, `<id>_<start ms>_<end ms>`, `<id>`, or the official curation's
               `<label>_<row>`; rows without a file are listed in `missing` (downloads are always partial);
               the classes are every label of the CSV (309 in the release), downloaded or not
AudioSet:      class_labels_indices.csv, the segment CSVs and the downloaded clips (`audioset.py`)
folder:        <root>/<label>/<clip>.<wav|flac|ogg|mp3|mp4|...>, an image of the same stem beside a clip is its frame
csv:           a manifest with a header: audio (or path/file/filename), caption (or text) and/or label,
               optional fold and image (or video/frame); relative paths are relative to the CSV's folder,
               and must stay inside it unless `allow_outside_root` (a manifest found on the internet must not
               open /etc/passwd or ../../private)

Folds are whole numbers in the layout's range (ESC-50 1-5, UrbanSound8K 1-10, a manifest 0-999). A row
repeated verbatim is dropped with a warning; the same file listed with another label or fold is refused,
since either row could be the wrong one. Every metadata file is read as UTF-8 (with or without a BOM).
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

from ..errors import DatasetError
from .audioset import CLASS_INDEX, find_metadata, read_audioset
from .dataset import AudioDataset, Clip, clean_label
from .media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

ESC50_CSV = Path("meta") / "esc50.csv"
US8K_CSV = Path("metadata") / "UrbanSound8K.csv"
VGGSOUND_CSV = Path("vggsound.csv")
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS + VIDEO_EXTENSIONS
FOLDS = {"esc50": range(1, 6), "us8k": range(1, 11), "csv": range(0, 1000)}
START_SECONDS = range(0, 10**7)  # a VGGSound clip's start in its video
WHOLE_NUMBER = re.compile(r"[+-]?\d+(?:\.0*)?")  # "3" and a spreadsheet's "3.0"; never "2.5", "inf", "1e400"
MANIFEST_COLUMNS = {"audio": ("audio", "path", "file", "filename", "audio_path"), "caption": ("caption", "text"),
                    "label": ("label", "class", "category"), "fold": ("fold",),
                    "image": ("image", "video", "frame", "image_path", "video_path")}


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank record of a UTF-8 CSV file (a BOM is allowed)."""
    if not path.is_file():
        raise DatasetError("metadata file not found", path=path, fix="point at the dataset's root folder")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [(line, record) for line, record in enumerate(csv.reader(f), start=1) if record]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"not a readable CSV file ({error})", path=path,
                           fix="save it as UTF-8 CSV (spreadsheets call it 'CSV UTF-8')") from error


def _read_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV with a header that must name `required` columns."""
    records = _read_csv(path)
    header = [h.strip() for h in records[0][1]] if records else []
    rows = [(line, {h: (fields[i].strip() if i < len(fields) else "") for i, h in enumerate(header)})
            for line, fields in records[1:]]
    absent = [c for c in required if c not in header]
    if absent:
        raise DatasetError(f"missing column(s) {absent}; the header has {header}", path=path,
                           fix=f"the file needs the columns {list(required)}")
    if not rows:
        raise DatasetError("the metadata file has no rows", path=path,
                           fix="add one line per clip below the header (or restore the dataset's original file)")
    return rows


def _whole(value: str, column: str, allowed: range, path: Path, line: int) -> int:
    """The one reader of numbers in metadata: whole numbers in `allowed`, else an error naming the line."""
    number = int(value.split(".")[0]) if WHOLE_NUMBER.fullmatch(value) else None
    if number is None or number not in allowed:
        raise DatasetError(f"line {line}: column '{column}' must be a number (whole, {allowed.start} to "
                           f"{allowed.stop - 1}), got '{value}'", path=path, fix="correct that line")
    return number


def _member(root: Path, name: str, column: str, path: Path, line: int, allow_outside: bool | None = None) -> Path:
    """The file `name` (relative to `root`) as an absolute path; one outside `root` (`../`, an absolute
    path) is refused unless allowed (None: the layout has no such option). Judged on the written path, so
    a symlink placed in the dataset counts as inside."""
    written = Path(os.path.normpath(root.absolute() / name))
    if not allow_outside and not written.is_relative_to(os.path.normpath(root.absolute())):
        raise DatasetError(f"line {line}: the {column} '{name}' is outside the dataset's folder {root}", path=path,
                           fix="restore the dataset's original metadata file" if allow_outside is None else
                               "list only files under that folder, or allow files outside it explicitly "
                               "(allow_outside_root=True) if you trust this manifest")
    return written.resolve()


def _unique(clips: list[Clip], lines: list[int], path: Path) -> list[Clip]:
    """Clips without repeats: a verbatim repeat is dropped (with a warning), the same sound with another
    label or fold refused. Several captions of one sound (other caption or picture) are kept."""
    first: dict[Path, tuple[Clip, int]] = {}
    unique, repeated = [], []
    for clip, line in zip(clips, lines, strict=True):
        seen = first.setdefault(clip.audio, (clip, line))
        if seen[1] == line:
            unique.append(clip)
        elif seen[0] == clip:
            repeated.append(line)
        elif (seen[0].label, seen[0].fold) != (clip.label, clip.fold):
            raise DatasetError(f"lines {seen[1]} and {line} list the same sound {clip.audio.name} with different "
                               f"labels or folds ({seen[0].label!r}, fold {seen[0].fold} and {clip.label!r}, "
                               f"fold {clip.fold})", path=path, fix="keep the right one of the two lines")
        else:
            unique.append(clip)
    if repeated:
        warnings.warn(f"{path}: {len(repeated)} repeated row(s) ignored (lines {', '.join(map(str, repeated[:5]))}"
                      f"{' ...' if len(repeated) > 5 else ''})", stacklevel=3)
    return unique


def _require_files(clips: list[Clip], metadata: Path) -> None:
    """Files the metadata promises must exist: say how many do not, and which, before any work starts."""
    absent = [str(c.audio) for c in clips if not c.audio.is_file()]
    if absent:
        shown = ", ".join(absent[:3]) + (" ..." if len(absent) > 3 else "")
        raise DatasetError(f"{len(absent)} of {len(clips)} listed sound files do not exist ({shown})", path=metadata,
                           fix="download/extract the whole dataset, or point at its root folder")


def _dataset(name: str, root: Path, clips: list[Clip], missing: tuple[str, ...] = (),
             classes: set[str] | None = None) -> AudioDataset:
    """`classes`: the layout's whole class list, when it names classes no found clip has (default: the clips')."""
    if not clips:
        raise DatasetError(f"no clips found for a {name} dataset", path=root, fix="check the folder and its layout")
    labels = {c.label for c in clips if c.label is not None} | (classes or set())
    if labels and len(labels) < 2:
        raise DatasetError(f"the dataset has a single class ({labels.pop()}): contrastive training and zero-shot "
                           "classification need at least two", path=root, fix="add clips of other classes")
    return AudioDataset(name, root, tuple(clips), tuple(sorted(labels)), missing)


def read_esc50(root: Path) -> AudioDataset:
    metadata = root / ESC50_CSV
    rows = _read_rows(metadata, ("filename", "fold", "category"))
    clips = [Clip(_member(root / "audio", r["filename"], "filename", metadata, line), r["category"],
                  clean_label(r["category"]), _whole(r["fold"], "fold", FOLDS["esc50"], metadata, line))
             for line, r in rows]
    clips = _unique(clips, [line for line, _ in rows], metadata)
    _require_files(clips, metadata)
    return _dataset("esc50", root, clips)


def read_us8k(root: Path) -> AudioDataset:
    metadata = root / US8K_CSV
    rows = _read_rows(metadata, ("slice_file_name", "fold", "class"))
    clips = []
    for line, r in rows:
        fold = _whole(r["fold"], "fold", FOLDS["us8k"], metadata, line)
        clips.append(Clip(_member(root / "audio" / f"fold{fold}", r["slice_file_name"], "slice_file_name", metadata,
                                  line), r["class"], clean_label(r["class"]), fold))
    clips = _unique(clips, [line for line, _ in rows], metadata)
    _require_files(clips, metadata)
    return _dataset("us8k", root, clips)


def _media_index(root: Path) -> dict[str, tuple[Path, Path | None]]:
    """Stem -> (sound source, picture source) for every clip under `root`: a sound file is preferred for the
    sound (it decodes faster than a video), a video for the picture (its middle frame), else an image file."""
    found: dict[str, dict[str, Path]] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            ext = path.suffix.lower()
            role = ("audio" if ext in AUDIO_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS
                    else "image" if ext in IMAGE_EXTENSIONS else None)
            if role:
                found.setdefault(path.stem, {}).setdefault(role, path.resolve())
    index = {}
    for stem, files in found.items():
        sound = files.get("audio", files.get("video"))
        if sound is not None:
            index[stem] = (sound, files.get("video", files.get("image")))
    return index


def read_vggsound(root: Path) -> AudioDataset:
    metadata = root / VGGSOUND_CSV
    if not metadata.is_file():
        raise DatasetError("vggsound.csv not found", path=root, fix="put vggsound.csv in the dataset's root folder")
    rows = _read_csv(metadata)
    if rows and len(rows[0][1]) >= 2 and not rows[0][1][1].strip().lstrip("-").isdigit():
        rows = rows[1:]  # a header line some copies add
    media = _media_index(root)
    clips, lines, missing, labels = [], [], [], set()
    for i, (line, row) in enumerate(rows):
        if len(row) < 4:
            raise DatasetError(f"line {line}: expected 4 columns (youtube id, start seconds, label, split), "
                               f"got {len(row)}", path=metadata,
                               fix="restore the original vggsound.csv, or complete that line")
        ytid, label, split = row[0].strip(), row[2].strip(), row[3].strip()
        labels.add(label)
        start = _whole(row[1].strip(), "start seconds", START_SECONDS, metadata, line)
        stems = (f"{ytid}_{start:06d}", f"{ytid}_{start}", f"{ytid}_{start * 1000}_{(start + 10) * 1000}", ytid,
                 f"{label}_{i}")
        found = next((s for s in stems if s in media), None)
        if found is None:
            missing.append(f"{ytid}_{start:06d}")
            continue
        audio, image = media[found]
        clips.append(Clip(audio, label, clean_label(label), None, image, split))
        lines.append(line)
    clips = _unique(clips, lines, metadata)
    if not clips:
        raise DatasetError(f"none of the {len(rows)} clips listed in vggsound.csv was found under the folder",
                           path=root, fix="name the downloaded clips <youtube id>_<start seconds, 6 digits>.wav/.mp4")
    return _dataset("vggsound", root, clips, tuple(missing), labels)


def read_folder(root: Path) -> AudioDataset:
    if not root.is_dir():
        raise DatasetError("dataset folder not found", path=root,
                           fix="give the folder that holds one sub-folder of clips per class")
    clips = []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError("no class folders: expected <root>/<label>/<clip>.wav", path=root,
                           fix="give the folder above the class folders, or sort the clips into one sub-folder "
                               "per class")
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MEDIA_EXTENSIONS)
        if not files:
            raise DatasetError(f"class '{folder.name}' has no sound files", path=folder,
                               fix=f"add clips ({', '.join(MEDIA_EXTENSIONS)}) or remove the folder")
        pictures = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS}
        for path in files:
            image = path if path.suffix.lower() in VIDEO_EXTENSIONS else pictures.get(path.stem)
            clips.append(Clip(path.resolve(), folder.name, clean_label(folder.name), None,
                              None if image is None else image.resolve()))
    return _dataset("folder", root, clips)


def read_manifest(path: Path, allow_outside_root: bool = False) -> AudioDataset:
    """A CSV manifest; its files must lie under its folder unless `allow_outside_root`."""
    rows = _read_rows(path, ())
    header = list(rows[0][1])
    columns = {role: next((c for c in names if c in header), None) for role, names in MANIFEST_COLUMNS.items()}
    if columns["audio"] is None or (columns["caption"] is None and columns["label"] is None):
        raise DatasetError(f"a manifest needs an audio column ({'/'.join(MANIFEST_COLUMNS['audio'])}) and a caption "
                           f"or label column; the header has {header}", path=path,
                           fix="write a header line such as: audio,caption,image")
    base = path.parent
    clips = []
    for line, row in rows:
        audio = row.get(columns["audio"], "")
        label = row.get(columns["label"], "") if columns["label"] else ""
        caption = row.get(columns["caption"], "") if columns["caption"] else ""
        if not audio or not (caption or label):
            raise DatasetError(f"line {line}: empty audio path or text", path=path,
                               fix="fill in that line's audio path and its caption or label, or delete the line")
        image = row.get(columns["image"], "") if columns["image"] else ""
        fold = row.get(columns["fold"], "") if columns["fold"] else ""
        clips.append(Clip(_member(base, audio, columns["audio"], path, line, allow_outside_root),
                          label or None, caption or clean_label(label),
                          _whole(fold, "fold", FOLDS["csv"], path, line) if fold else None,
                          _member(base, image, columns["image"], path, line, allow_outside_root) if image else None))
    clips = _unique(clips, [line for line, _ in rows], path)
    _require_files(clips, path)
    absent = [str(c.image) for c in clips if c.image is not None and not c.image.is_file()]
    if absent:
        raise DatasetError(f"{len(absent)} image/video files do not exist ({', '.join(absent[:3])})", path=path,
                           fix="put those files where the manifest says (relative to its folder), or empty their "
                               "image/video cells")
    return _dataset("csv", path.parent, clips)


def read_audioset_folder(root: Path) -> AudioDataset:
    if not root.is_dir():
        raise DatasetError("an AudioSet dataset is a folder", path=root,
                           fix=f"give the folder holding {CLASS_INDEX}, the segment CSVs and the clips")
    return read_audioset(root, _media_index(root))


READERS: dict[str, Callable[[Path], AudioDataset]] = {
    "esc50": read_esc50, "us8k": read_us8k, "vggsound": read_vggsound, "audioset": read_audioset_folder,
    "folder": read_folder, "csv": read_manifest}
DATASET_KINDS = (*READERS, "auto")


def detect_kind(root: Path) -> str:
    """The layout of `root`, from the metadata files it holds."""
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return "vggsound" if root.name == "vggsound.csv" else "csv"
        raise DatasetError("a dataset is a folder or a CSV manifest", path=root,
                           fix="give the dataset's folder, or its .csv manifest")
    for kind, marker in (("esc50", ESC50_CSV), ("us8k", US8K_CSV), ("vggsound", VGGSOUND_CSV)):
        if (root / marker).is_file():
            return kind
    if find_metadata(root, CLASS_INDEX):
        return "audioset"
    manifests = sorted(root.glob("*.csv"))
    if len(manifests) == 1:
        return "csv"
    return "folder"


def open_dataset(kind: str, root: str | os.PathLike, *, allow_outside_root: bool = False) -> AudioDataset:
    """Read a dataset of `kind` (esc50 | us8k | vggsound | audioset | folder | csv | auto) at `root` (a folder; for
    csv the manifest file or a folder holding exactly one). A manifest may name files outside its folder only with
    `allow_outside_root` (the published layouts never do)."""
    root = Path(root).expanduser()
    if kind not in DATASET_KINDS:
        raise DatasetError(f"unknown dataset kind '{kind}'", fix=f"use one of {', '.join(DATASET_KINDS)}")
    if not root.exists():
        raise DatasetError("dataset path does not exist", path=root, fix="check the path")
    if kind == "auto":
        kind = detect_kind(root)
    if kind == "vggsound" and root.is_file():
        root = root.parent
    if kind == "csv" and root.is_dir():
        manifests = sorted(root.glob("*.csv"))
        if len(manifests) != 1:
            raise DatasetError(f"expected one CSV manifest in the folder, found {len(manifests)}", path=root,
                               fix="give the manifest file itself")
        root = manifests[0]
    if kind == "csv":
        return read_manifest(root, allow_outside_root)
    return READERS[kind](root.resolve())
