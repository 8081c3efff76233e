"""A face cut out the way FFHQ was made (NVIDIA's `download_ffhq.py`, `recreate_aligned_images`), so that
FFHQ generators and e4e see the eyes and mouth where they expect them.

The oriented square ("quad") comes from the eyes and the mouth corners: its side is the larger of twice the
eye distance and 1.8x the eye-to-mouth distance, tilted with the face, centred a tenth of the way from the eyes
to the mouth. Then, as FFHQ does: a picture much larger than needed is first shrunk (antialiased), the region is
cropped with a border, parts of the square outside the picture are reflect-padded and blended toward a blur and
the median colour, the quad is resampled (bilinear) at 4x the output size and resized down (Lanczos).

FFHQ used dlib's 68 points (each eye the mean of six); MTCNN's five give the eye centres directly, so the eyes
land within a few pixels of FFHQ's places. The transform is kept (`FaceTransform`) so the edit can go back
into the photo (`paste_back`); coordinates are in the photo's pixels, pixel centres at integers.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import SoundClipError

SUPERSAMPLE = 4
MAX_TRANSFORM = 4096  # FFHQ's own transform size, for its 1024 px output


@dataclass(frozen=True)
class FaceTransform:
    """Where an aligned face came from: `quad` [4][2] (upper-left, lower-left, lower-right, upper-right corners of
    the square in the photo), the photo's size (width, height) and the aligned face's side."""

    quad: tuple[tuple[float, float], ...]
    photo_size: tuple[int, int]
    size: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FaceTransform:
        try:
            raw = json.loads(text)
            return cls(tuple(tuple(map(float, corner)) for corner in raw["quad"]), tuple(raw["photo_size"]),
                       int(raw["size"]))
        except (ValueError, KeyError, TypeError) as error:
            raise SoundClipError(f"not a face transform ({error})",
                                 fix="use the transform that Align Face (or `--align face`) wrote with this face") \
                from error


def ffhq_quad(landmarks: torch.Tensor) -> tuple[np.ndarray, float]:
    """Five landmarks [5, 2] (eyes, nose, mouth corners) -> (FFHQ's quad [4, 2], its side in pixels)."""
    points = landmarks.detach().double().cpu().numpy()
    eye_left, eye_right, mouth_left, mouth_right = points[0], points[1], points[3], points[4]
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) * 0.5 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    centre = eye_avg + eye_to_mouth * 0.1
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y]), float(np.hypot(*x) * 2)


def align_face(picture: torch.Tensor, landmarks: torch.Tensor, size: int = 1024) -> tuple[torch.Tensor,
                                                                                               FaceTransform]:
    """[3, H, W] RGB in [0, 1] + five landmarks -> (the aligned face [3, size, size] in [0, 1], its transform)."""
    quad, qsize = ffhq_quad(landmarks)
    original = quad.copy()
    height, width = picture.shape[-2:]
    pixels = (picture.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")

    shrink = int(math.floor(qsize / size * 0.5))
    if shrink > 1:
        image = image.resize((int(round(width / shrink)), int(round(height / shrink))), Image.LANCZOS)
        quad, qsize = (quad + 0.5) / shrink - 0.5, qsize / shrink  # pixel centres kept where they were

    border = max(int(round(qsize * 0.1)), 3)
    left, top = int(math.floor(quad[:, 0].min())), int(math.floor(quad[:, 1].min()))
    right, bottom = int(math.ceil(quad[:, 0].max())), int(math.ceil(quad[:, 1].max()))
    crop = (max(left - border, 0), max(top - border, 0), min(right + border, image.width),
            min(bottom + border, image.height))
    if crop[2] - crop[0] < image.width or crop[3] - crop[1] < image.height:
        image = image.crop(crop)
        quad = quad - crop[:2]

    left, top = int(math.floor(quad[:, 0].min())), int(math.floor(quad[:, 1].min()))
    right, bottom = int(math.ceil(quad[:, 0].max())), int(math.ceil(quad[:, 1].max()))
    pad = (max(-left + border, 0), max(-top + border, 0), max(right - image.width + border, 0),
           max(bottom - image.height + border, 0))
    if max(pad) > border - 4:
        pad = tuple(max(p, int(round(qsize * 0.3))) for p in pad)
        image = _pad_blended(np.asarray(image, dtype=np.float32), pad, qsize)
        quad = quad + pad[:2]

    transform_size = min(size * SUPERSAMPLE, max(MAX_TRANSFORM, size))
    image = image.transform((transform_size, transform_size), Image.QUAD, tuple((quad + 0.5).flatten()),
                            Image.BILINEAR)
    if size < transform_size:
        image = image.resize((size, size), Image.LANCZOS)
    aligned = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
    transform = FaceTransform(tuple(tuple(map(float, corner)) for corner in original), (width, height), size)
    return aligned.to(picture.device), transform


def _pad_blended(pixels: np.ndarray, pad: tuple[int, int, int, int], qsize: float) -> Image.Image:
    """FFHQ's padding: reflect the picture outward, then fade the new border toward a blur of itself and toward
    the median colour, so the square's corners outside the photo hold no mirrored faces."""
    left, top, right, bottom = pad
    pixels = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), "reflect")
    h, w, _ = pixels.shape
    y, x, _ = np.ogrid[:h, :w, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mask = np.maximum(1.0 - np.minimum(np.float32(x) / left, np.float32(w - 1 - x) / right),
                          1.0 - np.minimum(np.float32(y) / top, np.float32(h - 1 - y) / bottom))
    mask = np.nan_to_num(mask, nan=0.0, posinf=0.0, neginf=0.0)
    pixels += (gaussian_blur(pixels, qsize * 0.02) - pixels) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    pixels += (np.median(pixels, axis=(0, 1)) - pixels) * np.clip(mask, 0.0, 1.0)
    return Image.fromarray(np.uint8(np.clip(np.rint(pixels), 0, 255)), "RGB")


def gaussian_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """[H, W, C] -> the same blurred over H and W: scipy.ndimage.gaussian_filter's kernel (truncated at 4 sigma)
    and edge mode (symmetric), here without scipy."""
    radius = int(4.0 * sigma + 0.5)
    if sigma <= 0 or radius == 0:
        return pixels.copy()
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = torch.from_numpy(kernel / kernel.sum()).float()
    image = torch.from_numpy(np.pad(pixels, ((radius, radius), (radius, radius), (0, 0)), "symmetric"))
    image = image.permute(2, 0, 1)[:, None]  # each channel alone
    image = F.conv2d(image, kernel.view(1, 1, -1, 1))
    image = F.conv2d(image, kernel.view(1, 1, 1, -1))
    return image[:, 0].permute(1, 2, 0).numpy()


def align_mask(mask: torch.Tensor, transform: FaceTransform, size: int) -> torch.Tensor:
    """A mask drawn on the photo a face was aligned from, [B, 1, H, W] in [0, 1] -> the same mask over the aligned
    square, [B, 1, size, size]: the square's pixel (u, v) is the photo's point quad[0] + ((u + .5) / size)
    (quad[3] - quad[0]) + ((v + .5) / size) (quad[1] - quad[0]), sampled bilinearly (the edge repeated beyond the
    photo, as for the picture). So a mask of the sky stays on the sky after the face was tilted upright."""
    width, height = transform.photo_size
    if tuple(mask.shape[-2:]) != (height, width):
        raise SoundClipError(f"the mask is {mask.shape[-1]}x{mask.shape[-2]} and the photo {width}x{height}",
                             fix="draw the mask on the photo itself (the same size)")
    quad = torch.tensor(transform.quad, dtype=torch.float64)
    steps = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    down, across = torch.meshgrid(steps, steps, indexing="ij")
    points = quad[0] + across[..., None] * (quad[3] - quad[0]) + down[..., None] * (quad[1] - quad[0])
    grid = (points + 0.5) / torch.tensor([width, height], dtype=torch.float64) * 2 - 1  # pixel centres at integers
    mask = mask.float()
    grid = grid.to(mask.device, torch.float32)[None].expand(mask.shape[0], -1, -1, -1)
    return F.grid_sample(mask, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)
