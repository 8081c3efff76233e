"""Face alignment speed on the CPU: MTCNN detection, FFHQ alignment and paste back, per photo, on the astronaut
(512 px, as shipped by scikit-image) and on the same photo upscaled to 2048 px; side by side with
facenet-pytorch's own MTCNN on the same pixels (`--facenet`: the installed package's code) for the detection.

    python benchmarks/faces.py [--facenet] [--repeats 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))


def best_of(repeats: int, work) -> float:
    """The fastest of `repeats` runs, in seconds (after one warm-up run)."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--facenet", action="store_true", help="also time facenet-pytorch's own MTCNN.detect")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from soundclip_core.faces import FaceDetector

    torch.set_num_threads(2)
    detector = FaceDetector(device=args.device)
    print(f"device {args.device}, {torch.get_num_threads()} threads; best of {args.repeats} (s)")
    print(f"{'photo':>8} {'detect':>8} {'facenet':>8} {'align':>8} {'paste':>8}")
    for side in (512, 2048):
        print(row(detector, side, args))


def row(detector, side: int, args: argparse.Namespace) -> str:
    """One photo size's timings, as a table row."""
    from photos import astronaut

    from soundclip_core.faces import align_face, find_faces, paste_back

    photo = astronaut()
    if side != 512:
        photo = F.interpolate(photo[None], size=(side, side), mode="bicubic", align_corners=False)[0].clamp(0, 1)
    face = find_faces(detector, photo)[0]
    detect = best_of(args.repeats, lambda: detector.detect(photo * 255))
    theirs = float("nan")
    if args.facenet:
        from facenet_pytorch import MTCNN
        from PIL import Image

        reference = MTCNN(keep_all=True, device=args.device)
        pixels = Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        theirs = best_of(args.repeats, lambda: reference.detect(pixels, landmarks=True))
    align = best_of(args.repeats, lambda: align_face(photo, face.landmarks, 1024))
    aligned, transform = align_face(photo, face.landmarks, 1024)
    paste = best_of(args.repeats, lambda: paste_back(aligned, transform, photo))
    return f"{side:>6}px {detect:8.3f} {theirs:8.3f} {align:8.3f} {paste:8.3f}"

if __name__ == "__main__":
    main()
