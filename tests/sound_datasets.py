"""Synthetic labelled sound datasets written in the published layouts (test helpers).

Four classes that a small encoder can tell apart and that sound like what they are named after:
a low harmonic tone ("snore"), a high band of noise ("crickets"), a rising chirp ("bird") and a click
train ("clock_tick"). The names are ones the tiny random CLIP (`tiny_clip(seed=3)`) embeds far apart
(pairwise cosine <= 0.41 for the names and for "the sound of <name>"), so zero-shot accuracy can rise.
Each clip varies pitch, band, rate and level with its seed, so a class is a
distribution, not one waveform. Clips are short and at a low rate to keep tests fast.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import soundfile

CLASSES = ("bird", "clock_tick", "crickets", "snore")
TEXT_SEED = 3  # the tiny_clip seed the class names were chosen for
RATE = 8000
SECONDS = 1.0


def synth(label: str, seed: int, rate: int = RATE, seconds: float = SECONDS) -> np.ndarray:
    """One clip of class `label` as float32 [T] in about [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    if label == "snore":
        f0 = rng.uniform(120, 200)
        y = sum(np.sin(2 * math.pi * k * f0 * t) / k for k in (1, 2, 3))
    elif label == "crickets":
        spectrum = np.fft.rfft(rng.normal(size=t.shape))
        freqs = np.fft.rfftfreq(t.shape[0], 1 / rate)
        low = rng.uniform(1800, 2200)
        spectrum[(freqs < low) | (freqs > low + 1200)] = 0
        y = np.fft.irfft(spectrum, n=t.shape[0])
    elif label == "bird":
        f_start, rise = rng.uniform(150, 250), rng.uniform(1500, 2500)
        y = np.sin(2 * math.pi * (f_start * t + 0.5 * rise * t * t))
    elif label == "clock_tick":
        y = np.zeros_like(t)
        period = int(rate / rng.uniform(6, 10))
        for start in range(int(rng.integers(0, period)), t.shape[0] - 40, period):
            y[start:start + 40] = np.hanning(40) * np.sign(rng.normal(size=40))
    else:
        raise ValueError(label)
    y = y / (np.abs(y).max() + 1e-9) * rng.uniform(0.2, 0.5)
    return (y + rng.normal(0, 0.01, t.shape)).astype(np.float32)


def write_esc50(root: Path, per_fold: int = 2, folds: int = 5, classes=CLASSES, **kw) -> Path:
    """ESC-50's layout: audio/{fold}-{clip id}-{take}-{target}.wav and meta/esc50.csv with all its columns."""
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    rows = []
    for fold in range(1, folds + 1):
        for target, label in enumerate(classes):
            for k in range(per_fold):
                seed = fold * 1000 + target * 100 + k
                name = f"{fold}-{seed}-A-{target}.wav"
                soundfile.write(root / "audio" / name, synth(label, seed, **kw), kw.get("rate", RATE))
                rows.append([name, fold, target, label, False, f"{seed}.ogg", "A"])
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)
    return root


def write_us8k(root: Path, per_fold: int = 1, folds: int = 3, classes=CLASSES) -> Path:
    """UrbanSound8K's layout: audio/fold{n}/{fsID}-{classID}-0-{k}.wav and metadata/UrbanSound8K.csv."""
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    rows = []
    for fold in range(1, folds + 1):
        (root / "audio" / f"fold{fold}").mkdir(parents=True, exist_ok=True)
        for class_id, label in enumerate(classes):
            for k in range(per_fold):
                seed = 5000 + fold * 100 + class_id * 10 + k
                name = f"{seed}-{class_id}-0-{k}.wav"
                soundfile.write(root / "audio" / f"fold{fold}" / name, synth(label, seed), RATE)
                rows.append([name, seed, 0.0, SECONDS, 1, fold, class_id, label])
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        writer.writerows(rows)
    return root


def write_video(path: Path, sound: np.ndarray, rate: int = RATE, frames: int = 5, size: int = 32) -> Path:
    """An mp4 with an AAC sound track and `frames` video frames, frame i filled with grey level 40 * i."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=5)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for i in range(frames):
            picture = np.full((size, size, 3), 40 * i, dtype=np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(video.encode())
        frame = av.AudioFrame.from_ndarray(sound[None].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = rate
        container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


def write_vggsound(root: Path, per_class: int = 2, classes=CLASSES, video_for: int = 1) -> Path:
    """vggsound.csv (no header) and clips `<id>_<start:06d>.wav`; the first `video_for` clips are .mp4 videos,
    and one listed row has no file (a failed download)."""
    rows = []
    for c, label in enumerate(classes):
        for k in range(per_class):
            ytid, start = f"yt{c}x{k}-_A", 10 * k
            seed = 7000 + 10 * c + k
            rows.append([ytid, start, label.replace("_", " "), "train" if k else "test"])
            stem = f"{ytid}_{start:06d}"
            if len(rows) <= video_for:
                write_video(root / "video" / f"{stem}.mp4", synth(label, seed))
            else:
                (root / "audio").mkdir(parents=True, exist_ok=True)
                soundfile.write(root / "audio" / f"{stem}.wav", synth(label, seed), RATE)
    rows.append(["gone000000", 30, classes[0].replace("_", " "), "train"])
    with open(root / "vggsound.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return root


def write_folder(root: Path, per_class: int = 2, classes=CLASSES) -> Path:
    for c, label in enumerate(classes):
        (root / label).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            soundfile.write(root / label / f"clip{k}.wav", synth(label, 9000 + 10 * c + k), RATE)
    return root


def write_manifest(root: Path, classes=CLASSES, with_images: bool = True) -> Path:
    """manifest.csv (audio,caption,label,image) with relative paths and one PNG per clip."""
    from PIL import Image

    (root / "clips").mkdir(parents=True, exist_ok=True)
    rows = []
    for c, label in enumerate(classes):
        soundfile.write(root / "clips" / f"{label}.wav", synth(label, 9500 + c), RATE)
        image = ""
        if with_images:
            Image.fromarray(np.full((16, 16, 3), 60 * c, dtype=np.uint8)).save(root / "clips" / f"{label}.png")
            image = f"clips/{label}.png"
        rows.append([f"clips/{label}.wav", f"the sound of a {label.replace('_', ' ')}", label, image])
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["audio", "caption", "label", "image"])
        writer.writerows(rows)
    return root / "manifest.csv"
