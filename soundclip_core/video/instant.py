"""Instant mode: every frame of a video is its own sound's StyleSpace edit of one source image; no optimisation.

Per frame i, from the frame's smoothed sound embedding e_i (`instant_sound.py`):

    Delta t_i = normalise(e_i - neutral)                           (directions.text_direction)
    r_i       = table . Delta t_i, |r| < beta zeroed, / max |r|     (directions.relevance: StyleCLIP's GetBoundary)
    s_i       = styles(w_i) + alpha_i * r_i * sigma                 (directions.apply_relevance: SplitS + MSCode)

where w_i is the source latent moved by pulse and motion (`reactive.py`, in W+, as in the keyframe mode) and
alpha_i is a constant or one value per frame (a curve: e.g. an analysis curve shaped by the analysis Envelope,
so a loud chorus edits hard and a quiet verse barely). The frames are decoded by `synthesis_from_styles` in
batches of `batch_size` (`SYNTHESIS_CHUNK` per call, as every decode), so at most one batch exists at a time.
alpha_i = 0 gives the source frame exactly (synthesis from styles(w) is synthesis(w) bit for bit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch

from ..directions import MAX_ALPHA, ChannelTable, apply_relevance, relevance, text_direction
from ..embedding import Embedding, check_same_space
from ..errors import Cancelled, LatentShapeError, SoundClipError
from .frames import DECODE_BATCH, SYNTHESIS_CHUNK
from .reactive import Reactive

DEFAULT_ALPHA = 4.0  # StyleCLIP's notebook: 4.1 in -10..10
DEFAULT_BETA = 0.15  # StyleCLIP's notebook: 0.15 in 0.08..0.3
DEFAULT_NEUTRAL = "a photo"  # the text every frame's direction starts from, unless told otherwise
CHECK_ROWS = 1024  # frames per matrix product when checking beta against every frame

Alpha = float | Sequence[float] | torch.Tensor


def alpha_per_frame(alpha: Alpha, n_frames: int) -> torch.Tensor:
    """alpha as one float32 value per frame [n_frames]: a number for every frame, or a curve of exactly one value
    per frame. Refuses NaN and values beyond +-MAX_ALPHA (directions' range), naming the frame."""
    if isinstance(alpha, (int, float)):
        values = torch.full((n_frames,), float(alpha), dtype=torch.float64)
    else:
        try:
            values = torch.as_tensor(alpha, dtype=torch.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError) as error:
            raise SoundClipError(f"alpha must be a number or one number per frame, got {type(alpha).__name__}",
                                 fix="give a float, or a list of floats (one per frame)") from error
        if values.numel() != n_frames:
            raise SoundClipError(f"the alpha curve has {values.numel()} values, the video {n_frames} frames",
                                 fix="make the curve at the video's fps and length (one value per frame)")
    bad = ~(values.abs() <= MAX_ALPHA)  # NaN too
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise SoundClipError(f"alpha {float(values[i]):g} at frame {i} is outside -{MAX_ALPHA:g}..{MAX_ALPHA:g}",
                             fix="use alpha between -10 and 10 (StyleCLIP's range), or scale the curve down")
    return values.float()


def check_table_fits(generator, table: ChannelTable) -> None:
    """A table's channel layout must be this generator's (its layers, names and channel counts)."""
    layers = generator.style_layers
    fits = all(li < len(layers) and layers[li].name == name and layers[li].channels == channels
               for li, name, channels in zip(table.layout.layers, table.layout.names, table.layout.channels,
                                             strict=True))
    if not fits or len(table.stats.std) != len(layers):
        raise SoundClipError(f"the StyleSpace table ({table.generator}) does not fit the generator {generator.source}",
                             fix="use the table made for this generator, or compute one for it")


def frame_directions(table: ChannelTable, embeddings: Embedding, neutral: Embedding, beta: float,
                     fps: float) -> Embedding:
    """Delta t per frame [N, D]. A beta that would leave some frame with no channel to move is refused, naming
    the first such frame's time and the beta that moves every frame (StyleCLIP divides 0 by 0 there)."""
    if not math.isfinite(beta) or beta < 0:
        raise SoundClipError(f"beta {beta} must be 0 or more", fix="use beta between 0.08 and 0.3 (StyleCLIP)")
    check_same_space([embeddings, neutral], expected=table.space)
    direction = text_direction(embeddings, neutral)
    top = torch.cat([(chunk @ table.rows.t()).abs().amax(1) for chunk in direction.vectors.split(CHECK_ROWS)])
    if bool((top < beta).any()):
        i = int((top < beta).nonzero()[0])
        raise SoundClipError(f"beta {beta:g} is above every channel's relevance at {i / fps:.2f} s (frame {i}): no "
                             "channel would move there", fix=f"lower beta below {float(top.min()):.4f}, which moves "
                                                             "every frame (StyleCLIP uses 0.08-0.3)")
    return direction


def instant_frames(generator, source: torch.Tensor, table: ChannelTable, directions: Embedding, alphas: torch.Tensor,
                   beta: float, *, reactive: Reactive | None = None, layers: str | None = None,
                   noise: list[torch.Tensor] | None = None, noise_mode: str = "const",
                   batch_size: int = DECODE_BATCH, should_cancel: Callable[[], bool] | None = None
                   ) -> Iterator[torch.Tensor]:
    """Images [B, 3, H, W] in about [-1, 1] (on the generator's device), batch after batch: frame i edits
    `source` [1, num_ws, w_dim] by directions[i] with alphas[i]. Cancel is checked before each batch."""
    if batch_size < 1:
        raise SoundClipError("batch size must be at least 1",
                             fix=f"use a batch size of 1 or more (default {DECODE_BATCH})")
    generator.check_ws(source, "the source latent")
    if source.shape[0] != 1:
        raise LatentShapeError(f"expected one source latent, got {source.shape[0]}", fix="use batch size 1")
    n_frames = directions.batch_size
    device = generator.w_avg.device
    extra = [[n.to(device) for n in noise]] if noise else []  # StyleGAN3 has no noise inputs: none passed
    for first in range(0, n_frames, batch_size):
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"rendering cancelled at frame {first} of {n_frames}")
        count = min(batch_size, n_frames - first)
        ws = source.float().cpu().expand(count, -1, -1)
        if reactive is not None and reactive.active:
            ws = reactive.apply(ws, first)
        frames = Embedding(directions.vectors[first:first + count], directions.space)
        r = relevance(table, frames, beta) * alphas[first:first + count, None]  # alpha_i folded into r_i
        images = []
        with torch.no_grad():
            for c in range(0, count, SYNTHESIS_CHUNK):
                styles = generator.styles(ws[c:c + SYNTHESIS_CHUNK].to(device))
                edited = apply_relevance(generator, styles, table, r[c:c + SYNTHESIS_CHUNK], 1.0, layers)
                images.append(generator.synthesis_from_styles(edited, noise_mode, *extra))
        yield torch.cat(images)
