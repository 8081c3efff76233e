"""Where is the sound, and search by sound: heatmaps and masks of a sound in a picture, pictures ranked by a sound."""

from __future__ import annotations

import torch

from soundclip_core.errors import SoundClipError
from soundclip_core.image import from_comfy_image, to_comfy_image
from soundclip_core.locate import locate, overlay
from soundclip_core.picture import fit_square, load_image
from soundclip_core.search import rank_pictures, search_pictures

from . import comfy_env
from .form import Node, link, number, text, whole
from .types import ANALYSIS, CLIP, EMBEDDING

TARGET = link(EMBEDDING, "A sound, a text or a mix (in the CLIP's space).")
MODEL = link(CLIP, "The CLIP model of the embedding's space (ViT or ResNet).")
LARGEST_RESULT = 1024  # px: Search by Sound's folder results are cropped square at the best picture's size, at most


class WhereIsTheSound(Node):
    """MaskCLIP's dense CLIP map of a picture against an embedding (soundclip_core.locate)."""

    REQUIRED = {
        "image": link("IMAGE", "The picture(s), any size; a batch gives one map each."),
        "target": TARGET,
        "clip": MODEL,
        "threshold": number(0.5, 0.0, 1.0, 0.01, "The mask is where the heatmap reaches this (0 = the picture's worst "
                                                   "matching region, 1 = its best)."),
        "detail": whole(1, 1, 8, "CLIP inputs across the picture's short side: more gives a finer map (one CLIP "
                                 "pass per overlapping tile)."),
        "opacity": number(0.5, 0.0, 1.0, 0.05, "Of the heatmap drawn over the picture."),
    }
    OUTPUTS = (("overlay", "IMAGE"), ("mask", "MASK"), ("heatmap", "MASK"))
    FUNCTION = "run"
    CATEGORY = ANALYSIS
    DESCRIPTION = ("Shows where in a picture a sound (or text) is: CLIP's own per-region features compared with the "
                   "embedding (MaskCLIP, no training). Outputs the heatmap over the picture, a MASK where it reaches "
                   "the threshold (for a region-confined edit, ComfyUI's mask nodes or the mask editor) and the soft "
                   "heatmap as a MASK.")

    def run(self, image, target, clip, threshold: float, detail: int, opacity: float):
        pictures = from_comfy_image(image)
        found = comfy_env.run_long(lambda: locate(pictures, target, clip, threshold, detail), clip)
        drawn = overlay(pictures.expand(found.heatmap.shape[0], -1, -1, -1), found.heatmap, opacity)
        return to_comfy_image(drawn), found.mask, found.heatmap


class SearchBySound(Node):
    """Pictures ranked by cosine with an embedding (soundclip_core.search): a batch, or a folder's cached index."""

    REQUIRED = {
        "target": TARGET,
        "clip": MODEL,
        "top": whole(4, 1, 256, "How many of the best pictures to return."),
        "folder": text("", "A folder of pictures to rank (its index of embeddings is cached inside it and updated when "
                           "files change); empty: rank the images input."),
    }
    OPTIONAL = {"images": link("IMAGE", "A batch of pictures to rank (when no folder is given).")}
    OUTPUTS = (("images", "IMAGE"), ("ranking", "STRING"))
    FUNCTION = "run"
    CATEGORY = ANALYSIS
    DESCRIPTION = ("Ranks pictures by how well they match a sound (or text) in CLIP space: a batch, or a whole folder "
                   "through a cached index. Returns the best pictures (a folder's cropped square at the best one's "
                   "size) and the ranking with each cosine; unreadable files are listed and skipped.")

    def run(self, target, clip, top: int, folder: str, images=None):
        if folder.strip():
            progress = comfy_env.Progress(1)  # the files to encode are known once the folder is scanned
            ranking = comfy_env.run_long(lambda: search_pictures(folder.strip(), target, clip, progress=progress,
                                                                 should_cancel=comfy_env.interrupted), clip)
            if not ranking.items:
                return torch.zeros(1, 64, 64, 3), ranking.text() or f"no pictures in {folder}"
            best = [load_image(path) for path in ranking.items[:top]]
            side = min(min(best[0].shape[-2:]), LARGEST_RESULT)
            pictures = torch.cat([fit_square(p, side, "crop", path) for p, path in zip(best, ranking.items[:top],
                                                                                        strict=True)])
            return to_comfy_image(pictures), ranking.text(top)
        if images is None:
            raise SoundClipError("nothing to search", fix="connect images, or give a folder of pictures")
        pictures = from_comfy_image(images)
        ranking = comfy_env.run_long(lambda: rank_pictures(pictures, target, clip), clip)
        return to_comfy_image(pictures[ranking.order[:top]]), ranking.text(top)
