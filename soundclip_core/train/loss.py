"""The paper's objective: symmetric InfoNCE between audio and text, audio and image, audio and its
SpecAugmented view, over the (global) batch.

Official quirks (soundclip/train.py), reproduced by the "official" recipe: logits are the cosine
multiplied by exp(0.07) = 1.0725 (the paper's temperature tau = 0.07 would *divide*: x 14.29), fixed;
and the total is (a->t + t->a + a->a' + a'->a) / 4, the mean of the directional cross-entropies, with
no image term. We keep that form when the image term is present: the total is the mean of every
directional term computed (the paper's sum of L_nce terms differs from it only by a constant factor).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("infonce", "weakly_paired")  # the paper's terms; the same plus the weakly-paired KL term


def info_nce(x: torch.Tensor, y: torch.Tensor, scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit rows x, y [N, D] (row i of x matches row i of y) -> (x->y, y->x) mean cross-entropies of the
    logits scale * x y^T over the batch."""
    logits = scale * (x @ y.t())
    labels = torch.arange(x.shape[0], device=x.device)
    return F.cross_entropy(logits, labels), F.cross_entropy(logits.t(), labels)


def grouped_info_nce(x: torch.Tensor, y: torch.Tensor, groups: torch.Tensor,
                     scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """info_nce where every row of y in row i's group is a positive of x_i (soft targets spread evenly over them),
    and the other way round. With class names as captions a batch holds many clips of one class: plain InfoNCE
    would push each clip away from its own class's other captions, and the caption away from the class's other
    clips (the auto recipe's objective; with every group of one row it is info_nce exactly)."""
    logits = scale * (x @ y.t())
    same = (groups[:, None] == groups[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    forward = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    backward = -(targets * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return forward, backward


def contrastive_loss(audio: torch.Tensor, text: torch.Tensor, scale: torch.Tensor | float,
                     augmented: torch.Tensor | None = None, image: torch.Tensor | None = None,
                     has_image: torch.Tensor | None = None, weak_visual: torch.Tensor | None = None,
                     groups: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Embeddings [N, D] (any norm; normalised here) -> {"total", "audio_text", "audio_image", "audio_audio",
    "weak_kl"}.

    audio: the encoder's output on the plain view, augmented: on the SpecAugmented view, text: frozen CLIP
    text embeddings of the (augmented) captions, image: frozen CLIP image embeddings of the clips' frames,
    used for the rows where `has_image` [N] is true (the term is skipped with fewer than two such rows).
    groups [N] (the auto recipe: each clip's class) makes the audio-text term `grouped_info_nce`.
    Each named term is the sum of its two directions (the paper's L_nce); "total" is their mean, plus
    `weakly_paired_kl` ("weak_kl") of the visual rows `weak_visual` [M, D] when given (the "weakly_paired" loss)."""
    audio, text = F.normalize(audio.float(), dim=-1), F.normalize(text.float(), dim=-1)
    directional = list(info_nce(audio, text, scale) if groups is None else grouped_info_nce(audio, text, groups, scale))
    terms = {"audio_text": directional[0] + directional[1]}
    if augmented is not None:
        pair = info_nce(audio, F.normalize(augmented.float(), dim=-1), scale)
        directional += pair
        terms["audio_audio"] = pair[0] + pair[1]
    if image is not None and has_image is not None and int(has_image.sum()) >= 2:
        rows = has_image.bool()
        pair = info_nce(audio[rows], F.normalize(image[rows].float(), dim=-1), scale)
        directional += pair
        terms["audio_image"] = pair[0] + pair[1]
    terms["total"] = torch.stack(directional).mean()
    if weak_visual is not None and len(weak_visual):
        terms["weak_kl"] = weakly_paired_kl(audio, text, weak_visual, scale)
        terms["total"] = terms["total"] + terms["weak_kl"]
    return terms


def weakly_paired_kl(audio: torch.Tensor, text: torch.Tensor, visual: torch.Tensor,
                     scale: torch.Tensor | float) -> torch.Tensor:
    """The audio-visual weakly supervised term of "Robust Sound-Guided Image Manipulation" (arXiv 2208.14114).

    Its public text says: make the audio-visual and the visual-text cosine similarity distributions within a
    minibatch equal (a KL divergence) instead of aiming at an identity target, with extra visual samples drawn
    by text query. Neither equation nor code is published; we read it (an assumption, documented in the README)
    as, for every visual row v_i [M, D] and the batch's N clips (audio a_j, text t_j):

        mean_i KL(softmax_j(scale <v_i, t_j>) || softmax_j(scale <v_i, a_j>))

    Clips that share a label share probability mass in the target (the frozen visual-text side), so two
    dogs in one batch are not pushed apart as InfoNCE's identity target would. Embeddings of any norm."""
    audio, text, visual = (F.normalize(x.float(), dim=-1) for x in (audio, text, visual))
    target = F.log_softmax(scale * (visual @ text.t()), dim=-1).detach()  # frozen towers: a fixed target
    predicted = F.log_softmax(scale * (visual @ audio.t()), dim=-1)
    return F.kl_div(predicted, target, reduction="batchmean", log_target=True)
