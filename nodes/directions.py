"""Instant edits: a StyleSpace table (once per generator), a sound's direction, and the edit with two sliders.

The table and the direction are cached by ComfyUI like any node output, so moving alpha or beta reruns only
Apply Direction and Decode: a live slider.
"""

from __future__ import annotations

import logging
import warnings

from soundclip_core.directions import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    MAX_ALPHA,
    METHODS,
    AlphaClamped,
    apply_direction,
    cached_table,
    estimate_direction,
    table_direction,
    text_direction,
)
from soundclip_core.directions.estimate import IMAGES as ESTIMATE_IMAGES
from soundclip_core.directions.sampling import SEED as TABLE_SEED
from soundclip_core.directions.table import IMAGES
from soundclip_core.errors import SoundClipError
from soundclip_core.memory import edit_step_bytes

from . import comfy_env
from .form import SEED_MAX, Node, choice, link, number, text, whole
from .types import (
    CLIP,
    DIRECTION,
    EDIT,
    EMBEDDING,
    GENERATOR,
    STYLES,
    TABLE,
    WPLUS,
    Styles,
    WPlus,
    latent_for,
    make_styles,
)

logger = logging.getLogger(__name__)
TABLE_BATCH = 4  # images per backward pass of the gradient table and the estimate (the core's default)


class ComputeStyleSpaceTable(Node):
    """How every StyleSpace channel of a generator moves the CLIP image embedding (StyleCLIP's global-direction
    table), computed once and cached on disk under models/soundclip_tables."""

    REQUIRED = {
        "generator": link(GENERATOR, "From Load StyleGAN."),
        "clip": link(CLIP, "The CLIP space the table (and every direction made with it) lives in."),
        "method": choice(list(reversed(METHODS)), "gradient: clip_dim backward passes per image (fast, agrees with "
                                                  "finite); finite: StyleCLIP's recipe, two renders per channel "
                                                  "per image (hours at 1024 px)."),
        "samples": whole(IMAGES, 1, 10000, "Sample images the directions are averaged over (StyleCLIP: 100)."),
        "seed": whole(TABLE_SEED, 0, SEED_MAX, "Which sample images (StyleCLIP draws with seed 5).",
                      control_after_generate=True),
    }
    OUTPUTS = (("table", TABLE), ("info", "STRING"))
    FUNCTION = "compute"
    CATEGORY = EDIT
    DESCRIPTION = ("Computes a generator's StyleSpace channel table for instant edits, once: it is kept in "
                   "models/soundclip_tables (keyed by the generator's weights, the CLIP space, the method and the "
                   "settings) and read from there next time. Cancel keeps what is done; the next run resumes.")

    def compute(self, generator, clip, method: str, samples: int, seed: int):
        progress = comfy_env.Progress(samples)
        table = comfy_env.run_long(lambda: cached_table(
            generator, clip, method, comfy_env.table_folder(), images=samples, seed=seed, progress=progress,
            should_cancel=comfy_env.interrupted), generator, clip,
            memory_required=lambda: edit_step_bytes(generator, TABLE_BATCH))
        info = (f"{table.layout.total} channels x {table.clip_dim} ({table.space}), {table.method}, "
                f"{table.images} images, generator {table.generator}")
        return (table, info)


class SoundDirection(Node):
    """A target (a sound, a text, a mix) minus a neutral, as per-channel scores: through a table, or estimated
    from a few sample images' gradients when no table is connected."""

    REQUIRED = {
        "target": link(EMBEDDING, "Where to edit toward: a sound, a text or a mix."),
        "clip": link(CLIP, "The CLIP the target was made in (it encodes the neutral text)."),
        "neutral": text("a photo of a landscape", "What the image is now, in words; the edit goes from this to the "
                                                  "target. Ignored when neutral_embedding is connected."),
    }
    OPTIONAL = {
        "table": link(TABLE, "From Compute StyleSpace Table: the direction in every channel's own terms."),
        "generator": link(GENERATOR, "Without a table: the generator whose sample images estimate the direction "
                                     "(seconds, a first try)."),
        "neutral_embedding": link(EMBEDDING, "A neutral sound or mix instead of the text (e.g. a quiet room)."),
        "estimate_images": whole(ESTIMATE_IMAGES, 1, 256, "Without a table: sample images the estimate averages."),
    }
    OUTPUTS = (("direction", DIRECTION), ("channels", "INT"), ("info", "STRING"))
    FUNCTION = "direct"
    CATEGORY = EDIT
    DESCRIPTION = ("Turns a target into an instant-edit direction: target minus neutral, scored per StyleSpace "
                   f"channel. channels: how many channels it moves at beta {DEFAULT_BETA:g}; info also gives the "
                   "largest score (any beta below it moves something).")

    def direct(self, target, clip, neutral: str, table=None, generator=None, neutral_embedding=None,
               estimate_images: int = ESTIMATE_IMAGES):
        if neutral_embedding is None:
            if not neutral.strip():
                raise SoundClipError("the neutral text is empty", fix="describe the image as it is, or connect a "
                                                                      "neutral_embedding")
            with comfy_env.on_device(clip):
                neutral_embedding = clip.encode_text([neutral])
        delta = text_direction(target, neutral_embedding)
        if table is not None:
            direction = table_direction(table, delta)
        elif generator is None:
            raise SoundClipError("Sound Direction needs a table or a generator",
                                 fix="connect Compute StyleSpace Table's table, or a generator for an estimate")
        else:
            progress = comfy_env.Progress(estimate_images)
            direction = comfy_env.run_long(lambda: estimate_direction(
                generator, clip, delta, images=estimate_images, progress=progress,
                should_cancel=comfy_env.interrupted), generator, clip,
                memory_required=lambda: edit_step_bytes(generator, TABLE_BATCH))
        return (direction, direction.moved(DEFAULT_BETA), direction.describe(DEFAULT_BETA))


class ApplyDirection(Node):
    """s + alpha * r * sigma on the styles of a latent: the instant edit, with alpha and beta as sliders."""

    REQUIRED = {
        "generator": link(GENERATOR, "The generator the direction was made for."),
        "latent": link(WPLUS, "The images to edit (their styles), unless styles is connected."),
        "direction": link(DIRECTION, "From Sound Direction."),
        "alpha": number(DEFAULT_ALPHA, -MAX_ALPHA, MAX_ALPHA, 0.1, "Strength: 0 gives the source back exactly, "
                                                                   "negative goes the other way; StyleCLIP uses "
                                                                   "-10..10."),
        "beta": number(DEFAULT_BETA, 0.0, 1.0, 0.01, "Disentanglement: only channels whose score reaches beta "
                                                     "move (higher: fewer, more specific channels; 0.08-0.3)."),
        "layers": text("", "W+ layer ranges the edit may touch, as in Style Mix ('0-6': coarse shape only); "
                           "empty: every layer the table covers."),
    }
    OPTIONAL = {
        "styles": link(STYLES, "Edit these styles instead of the latent's (to stack two directions)."),
    }
    OUTPUTS = (("styles", STYLES), ("info", "STRING"))
    FUNCTION = "apply"
    CATEGORY = EDIT
    DESCRIPTION = ("The instant edit: moves the StyleSpace channels a direction selects (beta) by alpha standard "
                   "deviations. Only this node and Decode rerun when alpha or beta change. Connect the styles to "
                   "Decode's styles input.")

    def apply(self, generator, latent: WPlus, direction, alpha: float, beta: float, layers: str,
              styles: Styles | None = None):
        if styles is not None:
            source = generator.check_styles(styles["styles"], f"the styles (from {styles['generator']})")
            noise = styles.get("noise")
        else:
            with comfy_env.on_device(generator):
                source = [s.cpu() for s in generator.styles(latent_for(generator, latent))]
            noise = latent.get("noise")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AlphaClamped)
            edited = apply_direction(generator, source, direction, alpha, beta, layers)
        notes = [str(w.message) for w in caught if issubclass(w.category, AlphaClamped)]
        for note in notes:
            logger.warning("soundclip: %s", note)
        info = "; ".join([f"{direction.moved(beta)} channels moved by alpha {alpha:g}", *notes])
        return (make_styles(edited, generator.source, noise), info)
