"""Where the faces are: MTCNN's cascade (P-Net over an image pyramid, R-Net, O-Net), as the reference
implementations run it (facenet-pytorch's `detect_face`, itself a port of the authors' MATLAB code):
minimum face 20 px, pyramid factor 0.709, thresholds 0.6 / 0.7 / 0.7, NMS 0.5 per scale, 0.7 across scales
and after R-Net, 0.7 on the smaller box after O-Net.

The weights come with a package from the registry (`pip install "soundclip[faces]"`: facenet-pytorch's
`data/{p,r,o}net.pt`, MIT licence). Its code is never imported: the files are found with `find_spec` and read
weights-only through `soundclip_core.checkpoints`, so a facenet-pytorch built for another torch still works.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoints import read_state_dict
from ..errors import CheckpointError, MissingDependency
from .networks import ONet, PNet, RNet

PACKAGE = "facenet_pytorch"
NETWORKS = {"pnet": PNet, "rnet": RNet, "onet": ONet}
MIN_FACE = 20
SCALE_FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.7)


@dataclass(frozen=True)
class Face:
    """One detected face, in the picture's pixel coordinates (pixel centres at integers).

    `landmarks` [5, 2]: the left eye, right eye (as seen in the picture), nose tip, left and right mouth corner."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: torch.Tensor

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def weights_folder() -> Path:
    """$SOUNDCLIP_FACE_DETECTOR (a folder with pnet.pt, rnet.pt, onet.pt), else the installed facenet-pytorch's."""
    if os.environ.get("SOUNDCLIP_FACE_DETECTOR"):
        return Path(os.environ["SOUNDCLIP_FACE_DETECTOR"])
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("face alignment needs the MTCNN face detector's weights, which come with the Python "
                                "package 'facenet-pytorch' (not installed)",
                                fix='run `pip install "soundclip[faces]"` (or `pip install "facenet-pytorch>=2.5.3,'
                                    '<2.6"`), or set SOUNDCLIP_FACE_DETECTOR to a folder holding pnet.pt, rnet.pt and '
                                    'onet.pt')
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class FaceDetector:
    """The three networks, loaded once; `detect(image)` finds every face of one picture."""

    def __init__(self, folder: str | os.PathLike | None = None, device: torch.device | str = "cpu"):
        folder = Path(folder) if folder is not None else weights_folder()
        fix = 'reinstall the face detector: `pip install --force-reinstall "facenet-pytorch>=2.5.3,<2.6"`'
        self.nets = {}
        for name, network in NETWORKS.items():
            net = network()
            state = read_state_dict(folder / f"{name}.pt", f"MTCNN {name}", fix)
            try:
                net.load_state_dict(state)
            except RuntimeError as error:
                raise CheckpointError(f"not MTCNN's {name} weights ({str(error)[:160]})", path=folder / f"{name}.pt",
                                      fix=fix) from error
            self.nets[name] = net.eval().requires_grad_(False).to(device)
        self.device = torch.device(device)

    @torch.no_grad()
    def detect(self, image: torch.Tensor) -> list[Face]:
        """[3, H, W] RGB in [0, 255] (float or uint8) -> the faces, most confident first."""
        image = image.to(self.device, torch.float32)
        boxes = self._propose(image)
        boxes = self._refine(image, boxes, "rnet", 24, THRESHOLDS[1])
        boxes, landmarks = self._output(image, boxes)
        order = boxes[:, 4].argsort(descending=True)
        return [Face(tuple(float(v) for v in boxes[i, :4]), float(boxes[i, 4]), landmarks[i].cpu()) for i in order]

    def _propose(self, image: torch.Tensor) -> torch.Tensor:
        """P-Net over the pyramid -> square candidate boxes [N, 5] (x1, y1, x2, y2, score)."""
        h, w = image.shape[-2:]
        found = []
        for scale in pyramid_scales(h, w):
            resized = F.interpolate(image[None], size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            probability, offsets = self.nets["pnet"](normalise(resized))
            candidates = _grid_boxes(probability[0], offsets[0], scale, THRESHOLDS[0])
            found.append(candidates[nms(candidates, 0.5)])
        boxes = torch.cat(found) if found else torch.zeros(0, 9, device=image.device)
        boxes = boxes[nms(boxes, 0.7)]
        return square(_regress(boxes[:, :5], boxes[:, 5:9], plus_one=False))

    def _refine(self, image: torch.Tensor, boxes: torch.Tensor, net: str, size: int, threshold: float) -> torch.Tensor:
        if len(boxes) == 0:
            return boxes
        probability, offsets = self.nets[net](normalise(crops(image, boxes, size)))
        keep = probability > threshold
        boxes = torch.cat([boxes[keep, :4], probability[keep, None]], dim=1)
        offsets = offsets[keep]
        kept = nms(boxes, 0.7)
        return square(_regress(boxes[kept], offsets[kept], plus_one=True))

    def _output(self, image: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(boxes) == 0:
            return boxes, torch.zeros(0, 5, 2)
        probability, offsets, points = self.nets["onet"](normalise(crops(image, boxes, 48)))
        keep = probability > THRESHOLDS[2]
        boxes, offsets, points = boxes[keep], offsets[keep], points[keep]
        width, height = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
        landmarks = torch.stack([width * points[:, :5] + boxes[:, 0:1] - 1,
                                 height * points[:, 5:] + boxes[:, 1:2] - 1], dim=-1)
        boxes = _regress(torch.cat([boxes[:, :4], probability[keep, None]], dim=1), offsets, plus_one=True)
        kept = nms(boxes, 0.7, overlap="min")
        return boxes[kept], landmarks[kept]


def pyramid_scales(height: int, width: int) -> list[float]:
    """P-Net's scales: the smallest face (20 px) first brought to P-Net's 12-px window, then ever smaller
    pictures by 0.709 while the picture still holds one window."""
    scales, scale = [], 12.0 / MIN_FACE
    while min(height, width) * scale >= 12:
        scales.append(scale)
        scale *= SCALE_FACTOR
    return scales


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """[0, 255] -> MTCNN's input range, (x - 127.5) / 128."""
    return (pixels - 127.5) * 0.0078125


def _grid_boxes(probability: torch.Tensor, offsets: torch.Tensor, scale: float, threshold: float) -> torch.Tensor:
    """P-Net's output cells above the threshold -> boxes [N, 9] (x1, y1, x2, y2, score, 4 offsets): each cell
    is a 12-px window at stride 2 of the scaled image."""
    ys, xs = torch.nonzero(probability >= threshold, as_tuple=True)
    corner = torch.stack([xs, ys], dim=1).to(probability.dtype)
    top_left = ((2 * corner + 1) / scale).floor()
    bottom_right = ((2 * corner + 12) / scale).floor()
    return torch.cat([top_left, bottom_right, probability[ys, xs, None], offsets[:, ys, xs].T], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor, *, plus_one: bool) -> torch.Tensor:
    """Apply a network's box offsets (fractions of the box's side; the later stages count sides inclusively)."""
    extra = 1.0 if plus_one else 0.0
    width = boxes[:, 2] - boxes[:, 0] + extra
    height = boxes[:, 3] - boxes[:, 1] + extra
    moved = boxes[:, :4] + offsets * torch.stack([width, height, width, height], dim=1)
    return torch.cat([moved, boxes[:, 4:5]], dim=1)


def square(boxes: torch.Tensor) -> torch.Tensor:
    """Each box grown to the square of its longer side, about its centre."""
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    x1 = boxes[:, 0] + width * 0.5 - side * 0.5
    y1 = boxes[:, 1] + height * 0.5 - side * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side, boxes[:, 4]], dim=1)


def crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box's pixels (cut at the picture's edges), area-resized to size x size -> [N, 3, size, size]."""
    h, w = image.shape[-2:]
    out = []
    for x1, y1, x2, y2 in boxes[:, :4].trunc().int().tolist():
        x1, y1, x2, y2 = max(x1, 1), max(y1, 1), min(x2, w), min(y2, h)
        if x2 < x1 or y2 < y1:  # a box wholly outside the picture: an empty crop, rejected by its score
            out.append(torch.zeros(3, size, size, device=image.device))
            continue
        out.append(F.interpolate(image[None, :, y1 - 1:y2, x1 - 1:x2], size=(size, size), mode="area")[0])
    return torch.stack(out)


def nms(boxes: torch.Tensor, threshold: float, overlap: str = "union") -> torch.Tensor:
    """Greedy non-maximum suppression on [N, >=5] boxes (score in column 4) -> the indices kept, best first.
    `overlap`: intersection over union, or over the smaller box ("min", MTCNN's last stage). Each kept box is
    compared with the remaining ones only (memory linear in N), on the host: a short loop, not a sync per box."""
    device, boxes = boxes.device, boxes.detach().cpu()
    order = boxes[:, 4].argsort(descending=True)
    extra = 1.0 if overlap == "min" else 0.0  # the last stage counts sides inclusively, as the reference does
    x1, y1, x2, y2 = boxes[order, :4].T
    area = (x2 - x1 + extra) * (y2 - y1 + extra)
    rest = torch.arange(len(order))
    kept = []
    while len(rest):
        best, rest = rest[0], rest[1:]
        kept.append(int(best))
        inter = ((torch.minimum(x2[best], x2[rest]) - torch.maximum(x1[best], x1[rest]) + extra).clamp(min=0)
                 * (torch.minimum(y2[best], y2[rest]) - torch.maximum(y1[best], y1[rest]) + extra).clamp(min=0))
        denominator = torch.minimum(area[best], area[rest]) if overlap == "min" else area[best] + area[rest] - inter
        rest = rest[inter / denominator.clamp(min=1e-12) <= threshold]
    return order[torch.tensor(kept, dtype=torch.long)].to(device)
