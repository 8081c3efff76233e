"""Regenerate the example workflows (ComfyUI UI-format JSON) and their thumbnails.

Run `python example_workflows/build.py` after changing a node's inputs; the test-suite
checks that the committed JSON matches what this script writes. Each workflow gets a
same-named `.jpg` that ComfyUI's template browser shows: a drawing of the graph itself
(no pretrained weights exist where this is built, so no made-up result image). Widget
values are laid out as ComfyUI's frontend saves them: in input order, with the extra
"control_after_generate" value ("fixed") after seed widgets.

What an artist sees on opening one: the note naming every model and sound it needs at the
top left, in view; each loader carries `properties.models` (name, URL, folder, from
weights/manifest.json) as ComfyUI's own templates do, so the frontend's missing-models dialog
lists what is absent with its URL and folder; and its title as the file name, which is what the
template browser shows for a custom node's template (the thumbnail banner repeats it).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
COLUMN_WIDTH, ROW_HEIGHT = 380, 260
THUMBNAIL_SIZE = (512, 384)
# link colours by type, close to the frontend's palette
LINK_COLOURS = {"AUDIO": "#5fb4ff", "IMAGE": "#64b5f6", "SOUNDCLIP_EMBEDDING": "#ffb74d",
                "SOUNDCLIP_CLIP": "#ffd500", "SOUNDCLIP_GENERATOR": "#b39ddb", "SOUNDCLIP_LATENT": "#ff9cf9",
                "SOUNDCLIP_AUDIO_ENCODER": "#81c784", "SOUNDCLIP_ARCFACE": "#e57373", "SOUNDCLIP_KEYFRAMES": "#ff9cf9",
                "VIDEO": "#ffa07a", "FLOAT": "#aaee88", "SOUNDCLIP_ANALYSIS": "#4dd0e1"}

# the model kind each loader's file widgets read (soundclip_core.weights: KIND_FOLDERS, the manifest)
LOADER_KINDS = {
    "SoundCLIP_StyleGANLoad": "stylegan2",
    "SoundCLIP_AudioEncoderLoader": "audio_encoder",
    "SoundCLIP_CLIPLoader": "clip",
    "SoundCLIP_ArcFaceLoader": "arcface",
    "SoundCLIP_PerceptualLoader": "perceptual",
    "SoundCLIP_E4ELoader": "e4e",
}
NOTE_SIZE = (COLUMN_WIDTH - 40, 2 * ROW_HEIGHT)

# Core ComfyUI nodes used in the examples: (linked inputs, outputs); widget values are given per use.
# An input of a widget type (CreateVideo's fps) is a widget converted to a socket: the frontend keeps its
# widget value in widgets_values too. CreateVideo / SaveVideo as in comfy_extras/nodes_video.py: CreateVideo
# (images IMAGE, fps FLOAT 1-120, audio AUDIO optional) -> VIDEO; SaveVideo (video VIDEO, filename_prefix,
# format, codec) writes {prefix}_{counter:05}_.mp4.
CORE_NODES = {
    "SaveImage": ([("images", "IMAGE")], []),
    "PreviewImage": ([("images", "IMAGE")], []),
    "LoadImage": ([], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "CreateVideo": ([("images", "IMAGE"), ("fps", "FLOAT"), ("audio", "AUDIO")], [("VIDEO", "VIDEO")]),
    "SaveVideo": ([("video", "VIDEO")], []),
}


def load_node_classes() -> dict:
    spec = importlib.util.spec_from_file_location("soundclip_pack", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["soundclip_pack"] = module
    spec.loader.exec_module(module)
    return module.NODE_CLASS_MAPPINGS


def is_widget(declaration: tuple) -> bool:
    kind = declaration[0]
    forced = len(declaration) > 1 and declaration[1].get("forceInput")  # a socket of a widget type (no widget)
    return isinstance(kind, list) or (kind in WIDGET_TYPES and not forced)


class Workflow:
    """Builds one UI-format workflow: nodes placed on a grid, links between named sockets."""

    def __init__(self, classes: dict):
        self.classes = classes
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def _add(self, node_type: str, column: int, row: int, inputs: list[dict], outputs: list[dict],
             widgets: list) -> list[tuple[int, int]]:
        node_id = len(self.nodes) + 1
        self.nodes.append({
            "id": node_id, "type": node_type, "pos": [(column + 1) * COLUMN_WIDTH, row * ROW_HEIGHT],
            "size": [340, 80 + 26 * (len(inputs) + len(widgets))], "flags": {}, "order": len(self.nodes),
            "mode": 0, "inputs": inputs, "outputs": outputs,
            "properties": {"Node name for S&R": node_type}, "widgets_values": widgets,
        })
        return [(node_id, slot) for slot in range(len(outputs))]

    def _link(self, source: tuple[int, int], target_id: int, target_slot: int, kind: str) -> int:
        link_id = len(self.links) + 1
        origin_id, origin_slot = source
        self.links.append([link_id, origin_id, origin_slot, target_id, target_slot, kind])
        self.nodes[origin_id - 1]["outputs"][origin_slot]["links"].append(link_id)
        return link_id

    def core(self, node_type: str, column: int, row: int, widgets: list, **sources):
        inputs, outputs = CORE_NODES[node_type]
        return self._wire(node_type, column, row, inputs, outputs, widgets, sources)

    def node(self, node_type: str, column: int, row: int, **values):
        cls = self.classes[node_type]
        spec = cls.INPUT_TYPES()
        declared = {**spec["required"], **spec.get("optional", {})}
        widgets, inputs = [], []
        for name, declaration in declared.items():
            if is_widget(declaration) and isinstance(values.get(name), tuple):  # a link into a widget: the
                widgets.append(declaration[1]["default"])  # frontend keeps the widget's value beside the socket
                inputs.append((name, declaration[0]))
            elif is_widget(declaration):
                widgets.append(values.pop(name))
                if len(declaration) > 1 and declaration[1].get("control_after_generate"):
                    widgets.append("fixed")
            elif name in values:
                inputs.append((name, declaration[0]))
        sources = {name: values.pop(name) for name, _ in inputs}
        if values:
            raise TypeError(f"{node_type}: unknown inputs {sorted(values)}")
        names = getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)
        outputs = list(zip(names, cls.RETURN_TYPES, strict=True))
        return self._wire(node_type, column, row, inputs, outputs, widgets, sources)

    def _wire(self, node_type, column, row, inputs, outputs, widgets, sources):
        node_inputs = [{"name": n, "type": t, "link": None, **({"widget": {"name": n}} if t in WIDGET_TYPES else {})}
                       for n, t in inputs]
        node_outputs = [{"name": n, "type": t, "links": [], "slot_index": i} for i, (n, t) in enumerate(outputs)]
        handles = self._add(node_type, column, row, node_inputs, node_outputs, widgets)
        node_id = handles[0][0] if handles else len(self.nodes)
        for slot, (name, kind) in enumerate(inputs):
            node_inputs[slot]["link"] = self._link(sources[name], node_id, slot, kind)
        return handles

    def add_models(self, manifest: list) -> None:
        """`properties.models` on each loader, as ComfyUI's templates carry them: the frontend's missing-models
        dialog lists every absent file with its URL and folder when the workflow opens."""
        for node in self.nodes:
            kind = LOADER_KINDS.get(node["type"])
            if kind is None:
                continue
            entries = []
            for name in node["widgets_values"]:
                entry = model_entry(manifest, kind, name)
                if entry is not None and entry not in entries:
                    entries.append(entry)
            node["properties"]["models"] = entries

    def add_model_note(self, title: str, description: str) -> None:
        """A Markdown note at the top left, in view when the workflow opens: what it does, every model file it
        expects and where, and the sounds and pictures to upload."""
        lines = [f"## {title}", "", description, "", "**Models** (downloaded into these folders on first use; "
                 "without network, get them from these addresses):"]
        expected = [f"- `models/{m['directory']}/{m['name']}` from {m['url']}"
                    for n in self.nodes for m in n["properties"].get("models", [])]
        lines += list(dict.fromkeys(expected))
        sounds = sorted({n["widgets_values"][0] for n in self.nodes if n["type"] == "SoundCLIP_LoadAudio"})
        lines.append(f"\n**Sounds** (upload them in Load Audio, or drop them on it): {', '.join(sounds)}")
        pictures = sorted({n["widgets_values"][0] for n in self.nodes if n["type"] == "LoadImage"})
        if pictures:
            lines.append(f"\n**Pictures** (your own photo; upload it in Load Image): {', '.join(pictures)}")
        note_id = len(self.nodes) + 1
        self.nodes.append({"id": note_id, "type": "MarkdownNote", "pos": [0, 0], "size": list(NOTE_SIZE),
                           "flags": {}, "order": len(self.nodes), "mode": 0, "inputs": [], "outputs": [],
                           "properties": {}, "widgets_values": ["\n".join(lines)], "color": "#432",
                           "bgcolor": "#653"})

    def to_json(self) -> dict:
        return {
            "id": "00000000-0000-4000-8000-000000000000", "revision": 0,
            "last_node_id": len(self.nodes), "last_link_id": len(self.links),
            "nodes": self.nodes, "links": self.links, "groups": [], "config": {},
            "extra": {"ds": {"scale": 0.8, "offset": [40, 60]}}, "version": 0.4,
        }


def model_entry(manifest: list, kind: str, name: str) -> dict | None:
    """{"name", "url", "directory"} for a known model file of `kind` (an AudioCLIP file offered by Load CLIP is an
    audio encoder: it lives in that folder)."""
    from soundclip_core.weights import KIND_FOLDERS  # importable once load_node_classes has loaded the pack

    for entry in manifest:
        if entry.filename == name and (entry.kind == kind or entry.format == "audioclip-pt"):
            return {"name": name, "url": entry.urls[0], "directory": KIND_FOLDERS[entry.kind]}
    return None


OPTIMIZE_DEFAULTS = dict(steps=300, lr=0.1, lam_sim=-1.0, lam_id=-1.0, mask="learned", layers="", seed=0,
                         precision="fp32", clip_input="area", preview_every=10, chunk_size=0)


def load_audio(w: Workflow, sound: str, column: int, row: int) -> list:
    """Our Load Audio: no torchaudio needed, and a missing sound fails the run with a message in the UI."""
    return w.node("SoundCLIP_LoadAudio", column, row, audio=sound, start=0.0, duration=0.0)


def load_models(w: Workflow, generator_file: str, first_row: int, encoder_file: str = "resnet18_57.pth",
                clip_file: str = "ViT-B-32.pt", clip_arch: str = "ViT-B-32") -> tuple:
    """The three loaders every example starts with, stacked in column 0: encoder, CLIP, generator."""
    (encoder,) = w.node("SoundCLIP_AudioEncoderLoader", 0, first_row, encoder_name=encoder_file, kind="auto")
    (clip,) = w.node("SoundCLIP_CLIPLoader", 0, first_row + 1, clip_name=clip_file, arch=clip_arch)
    generator, _ = w.node("SoundCLIP_StyleGANLoad", 0, first_row + 2, generator_name=generator_file)
    return encoder, clip, generator


def sound_edit_before_after(w: Workflow, sound: str, models: tuple, seed: int, preset: str, prefix: str) -> None:
    """One sound edits one seed; the source is previewed and the edit saved beside it."""
    (audio,) = load_audio(w, sound, 0, 0)
    encoder, clip, generator = models(w)
    target, _ = w.node("SoundCLIP_AudioEncode", 1, 0, audio=audio, encoder=encoder, long_clip="average",
                       window_start=0.0)
    (source,) = w.node("SoundCLIP_LatentFromSeed", 1, 2, generator=generator, seed=seed, batch_size=1,
                       truncation_psi=0.7, label="")
    edited, _ = w.node("SoundCLIP_LatentOptimize", 2, 0, generator=generator, clip=clip, target=target,
                       latent=source, preset=preset, **OPTIMIZE_DEFAULTS)
    (before,) = w.node("SoundCLIP_Decode", 3, 2, generator=generator, latent=source, noise_mode="const")
    (after,) = w.node("SoundCLIP_Decode", 3, 0, generator=generator, latent=edited, noise_mode="const")
    w.core("PreviewImage", 4, 2, [], images=before)
    w.core("SaveImage", 4, 0, [f"soundclip/{prefix}"], images=after)


def sound_to_landscape(w: Workflow) -> None:
    """A sound (rain) edits a landscape from the paper's 256 px landscape generator."""
    sound_edit_before_after(w, "rain.wav", lambda w: load_models(w, "landscape.pt", first_row=1), seed=7,
                            preset="landscape", prefix="landscape")


def music_to_painting(w: Workflow) -> None:
    """Music (a piano piece) turns a WikiArt StyleGAN2 painting toward its mood; the text prompt is mixed in.
    Peter Baylies' WikiArt model is class-conditional: the latent is drawn for a genre and a style."""
    (audio,) = load_audio(w, "piano.wav", 0, 0)
    encoder, clip, generator = load_models(w, "network-snapshot-012052.pkl", first_row=1)
    sound, _ = w.node("SoundCLIP_AudioEncode", 1, 0, audio=audio, encoder=encoder, long_clip="average",
                      window_start=0.0)
    text, _ = w.node("SoundCLIP_TextEncode", 1, 1, clip=clip, text="an oil painting")
    target, _ = w.node("SoundCLIP_EmbeddingMix", 2, 0, embedding_a=sound, weight_a=1.0, embedding_b=text,
                       weight_b=0.3)
    (source,) = w.node("SoundCLIP_LatentFromSeed", 2, 2, generator=generator, seed=11, batch_size=1,
                       truncation_psi=0.7, label="genre=landscape, style=impressionism")
    edited, _ = w.node("SoundCLIP_LatentOptimize", 3, 0, generator=generator, clip=clip, target=target,
                       latent=source, preset="wikiart", **OPTIMIZE_DEFAULTS)
    (image,) = w.node("SoundCLIP_Decode", 4, 0, generator=generator, latent=edited, noise_mode="const")
    w.core("SaveImage", 5, 0, ["soundclip/painting"], images=image)


def sound_text_face_mix(w: Workflow) -> None:
    """Faces: one edit guided by a sound (with identity loss), one by text, style-mixed by layer."""
    (audio,) = load_audio(w, "laughing.wav", 0, 0)
    encoder, clip, generator = load_models(w, "stylegan2-ffhq-config-f.pt", first_row=1)
    (arcface,) = w.node("SoundCLIP_ArcFaceLoader", 0, 4, arcface_name="model_ir_se50.pth")
    sound, _ = w.node("SoundCLIP_AudioEncode", 1, 0, audio=audio, encoder=encoder, long_clip="average",
                      window_start=0.0)
    text, _ = w.node("SoundCLIP_TextEncode", 1, 1, clip=clip, text="a person with curly hair")
    (source,) = w.node("SoundCLIP_LatentFromSeed", 1, 3, generator=generator, seed=3, batch_size=1,
                       truncation_psi=0.7, label="")
    by_sound, _ = w.node("SoundCLIP_LatentOptimize", 2, 0, generator=generator, clip=clip, target=sound,
                         latent=source, preset="ffhq", arcface=arcface, **OPTIMIZE_DEFAULTS)
    by_text, _ = w.node("SoundCLIP_LatentOptimize", 2, 3, generator=generator, clip=clip, target=text,
                        latent=source, preset="ffhq", arcface=arcface, **OPTIMIZE_DEFAULTS)
    (mixed,) = w.node("SoundCLIP_StyleMix", 3, 1, latent_a=by_sound, latent_b=by_text, layers_from_a="")
    (image,) = w.node("SoundCLIP_Decode", 4, 1, generator=generator, latent=mixed, noise_mode="const")
    w.core("SaveImage", 5, 1, ["soundclip/face_mix"], images=image)


def sounds_grid(w: Workflow) -> None:
    """Four sounds edit the same seed in one batched optimisation; the results save as one batch."""
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=0)
    embeddings = []
    for row, name in enumerate(["rain.wav", "fire.wav", "thunder.wav", "birds.wav"]):
        (audio,) = load_audio(w, name, 1, row)
        embedding, _ = w.node("SoundCLIP_AudioEncode", 2, row, audio=audio, encoder=encoder, long_clip="average",
                              window_start=0.0)
        embeddings.append(embedding)
    (batch,) = w.node("SoundCLIP_EmbeddingBatch", 3, 1, embedding_1=embeddings[0], embedding_2=embeddings[1],
                      embedding_3=embeddings[2], embedding_4=embeddings[3])
    (source,) = w.node("SoundCLIP_LatentFromSeed", 3, 3, generator=generator, seed=7, batch_size=1,
                       truncation_psi=0.7, label="")
    edited, _ = w.node("SoundCLIP_LatentOptimize", 4, 1, generator=generator, clip=clip, target=batch,
                       latent=source, preset="landscape", **OPTIMIZE_DEFAULTS)
    (images,) = w.node("SoundCLIP_Decode", 5, 1, generator=generator, latent=edited, noise_mode="const")
    w.core("SaveImage", 6, 1, ["soundclip/sounds_grid"], images=images)


def audioclip_sound_to_dog(w: Workflow) -> None:
    """AudioCLIP: a dog's bark edits an AFHQ dog. AudioCLIP-Full-Training.pt is both the audio encoder
    and, through its own fine-tuned RN50 towers, the CLIP that guides (the two share one space)."""
    audioclip = "AudioCLIP-Full-Training.pt"
    sound_edit_before_after(w, "dog_bark.wav", lambda w: load_models(w, "afhqdog.pkl", 1, audioclip, audioclip, "RN50"),
                            seed=5, preset="lsun", prefix="audioclip_dog")


def invert_photo_then_sound(w: Workflow) -> None:
    """Your own photo: inverted into the landscape generator (VGG16-LPIPS), then edited by a sound (rain).
    The reconstruction is previewed beside the edit; the edit is saved with its latent inside the PNG, so
    Load Latent from PNG can continue from it later."""
    photo, _ = w.core("LoadImage", 0, 0, ["photo.png", "image"])
    (audio,) = load_audio(w, "rain.wav", 0, 1)
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=2)
    (perceptual,) = w.node("SoundCLIP_PerceptualLoader", 0, 5, vgg_name="vgg16-397923af.pth",
                           lpips_weights="vgg.pth")
    latent, reconstruction, _ = w.node("SoundCLIP_InvertImage", 1, 0, image=photo, generator=generator,
                                       perceptual=perceptual, preset="fast", steps=-1, fit="crop", seed=0,
                                       batch_size=0, preview_every=10)
    target, _ = w.node("SoundCLIP_AudioEncode", 1, 2, audio=audio, encoder=encoder, long_clip="average",
                       window_start=0.0)
    edited, _ = w.node("SoundCLIP_LatentOptimize", 2, 0, generator=generator, clip=clip, target=target,
                       latent=latent, preset="landscape", **OPTIMIZE_DEFAULTS)
    w.core("PreviewImage", 2, 3, [], images=reconstruction)
    (after,) = w.node("SoundCLIP_Decode", 3, 0, generator=generator, latent=edited, noise_mode="const")
    w.core("SaveImage", 4, 0, ["soundclip/photo_rain"], images=after)
    w.node("SoundCLIP_SaveImageWithLatent", 4, 1, images=after, latent=edited,
           filename_prefix="soundclip/photo_rain_latent")


def portrait_laugh_pasted_back(w: Workflow) -> None:
    """Your portrait: its face found and aligned as FFHQ was made (eyes and mouth where FFHQ's generator expects
    them), inverted into the FFHQ generator, made to laugh by a sound with ArcFace keeping who it is, and pasted back
    into the photo (everything outside the face stays the photo's own). Align Face needs the face detector:
    pip install "soundclip[faces]"."""
    photo, _ = w.core("LoadImage", 0, 0, ["portrait.png", "image"])
    (audio,) = load_audio(w, "laughing.wav", 0, 1)
    encoder, clip, generator = load_models(w, "stylegan2-ffhq-config-f.pt", first_row=2)
    (perceptual,) = w.node("SoundCLIP_PerceptualLoader", 0, 5, vgg_name="vgg16-397923af.pth",
                           lpips_weights="vgg.pth")
    (arcface,) = w.node("SoundCLIP_ArcFaceLoader", 0, 6, arcface_name="model_ir_se50.pth")
    aligned, face = w.node("SoundCLIP_AlignFace", 1, 0, image=photo, faces="largest", size=1024)
    latent, reconstruction, _ = w.node("SoundCLIP_InvertImage", 2, 0, image=aligned, generator=generator,
                                       perceptual=perceptual, preset="fast", steps=-1, fit="crop", seed=0,
                                       batch_size=0, preview_every=10)
    target, _ = w.node("SoundCLIP_AudioEncode", 1, 2, audio=audio, encoder=encoder, long_clip="average",
                       window_start=0.0)
    edited, _ = w.node("SoundCLIP_LatentOptimize", 3, 0, generator=generator, clip=clip, target=target,
                       latent=latent, preset="ffhq", arcface=arcface, **OPTIMIZE_DEFAULTS)
    w.core("PreviewImage", 3, 3, [], images=reconstruction)
    (after,) = w.node("SoundCLIP_Decode", 4, 0, generator=generator, latent=edited, noise_mode="const")
    (pasted,) = w.node("SoundCLIP_PasteBack", 5, 0, edited=after, face=face, feather=0.1)
    w.core("SaveImage", 6, 0, ["soundclip/portrait_laughing"], images=pasted)


def sound_to_animal_stylegan3(w: Workflow) -> None:
    """StyleGAN3: a cat's purr edits an animal from NVIDIA's StyleGAN3-T AFHQv2 512 px generator
    (stylegan3-t-afhqv2-512x512.pkl, downloaded on first use; non-commercial licence). Its 16 W+
    layers are the input transform, layers L0-L13 and ToRGB; the learned mask works the same."""
    sound_edit_before_after(w, "cat_purring.wav",
                            lambda w: load_models(w, "stylegan3-t-afhqv2-512x512.pkl", first_row=1), seed=4,
                            preset="lsun", prefix="stylegan3_animal")


def song_to_video(w: Workflow) -> None:
    """A whole song becomes a video: one keyframe per 5 s window (each edited toward its window's sound, mixed
    with a text prompt), a smooth path between them at 24 fps, then core Create Video + Save Video write an mp4
    with the song. Keyframes to Frames holds every frame in memory and refuses songs that would not fit: for
    long songs or large generators use Write Sound Video (SoundCLIP) instead, which streams to the file."""
    (audio,) = load_audio(w, "song.wav", 0, 0)
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=1)
    text, _ = w.node("SoundCLIP_TextEncode", 1, 1, clip=clip, text="an oil painting, swirling colours")
    (source,) = w.node("SoundCLIP_LatentFromSeed", 1, 2, generator=generator, seed=7, batch_size=1,
                       truncation_psi=0.7, label="")
    keyframes, _ = w.node("SoundCLIP_SoundKeyframes", 2, 0, audio=audio, encoder=encoder, clip=clip,
                          generator=generator, latent=source, window=5.0, hop=2.5, preset="landscape", steps=300,
                          lr=0.1, mask="learned", layers="", seed=0, chunk_size=8, precision="fp32", text=text,
                          text_weight=0.5, **FIXED_CUT, **NO_REGION)
    images, song, fps = w.node("SoundCLIP_KeyframesToFrames", 3, 0, generator=generator, keyframes=keyframes,
                               audio=audio, fps=24.0, pulse=0.3, motion=0.2, noise_mode="const", batch_size=8,
                               memory_budget_gb=0.0, **NO_MUSIC_DRIVES)
    (video,) = w.core("CreateVideo", 4, 0, [24.0], images=images, fps=fps, audio=song)
    w.core("SaveVideo", 5, 0, ["soundclip/song", "auto", "auto"], video=video)


def sky_made_rainy(w: Workflow) -> None:
    """Rain only in the sky: your photo is inverted, Where Is the Sound finds the sky (the text "the sky"; a sound
    works the same) and its MASK confines the rain sound's edit there: outside it the optimisation holds the photo's
    pixels and VGG16-LPIPS features. The heatmap over the photo is previewed; raise the threshold for a tighter
    mask. For an outside that is exactly the photo's, paste through the mask with ComfyUI's Image Composite Masked."""
    photo, _ = w.core("LoadImage", 0, 0, ["photo.png", "image"])
    (audio,) = load_audio(w, "rain.wav", 0, 1)
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=2)
    (perceptual,) = w.node("SoundCLIP_PerceptualLoader", 0, 5, vgg_name="vgg16-397923af.pth",
                           lpips_weights="vgg.pth")
    latent, reconstruction, _ = w.node("SoundCLIP_InvertImage", 1, 0, image=photo, generator=generator,
                                       perceptual=perceptual, preset="fast", steps=-1, fit="crop", seed=0,
                                       batch_size=0, preview_every=10)
    target, _ = w.node("SoundCLIP_AudioEncode", 1, 2, audio=audio, encoder=encoder, long_clip="average",
                       window_start=0.0)
    sky, _ = w.node("SoundCLIP_TextEncode", 1, 3, clip=clip, text="the sky")
    heat, mask, _ = w.node("SoundCLIP_WhereIsTheSound", 2, 0, image=photo, target=sky, clip=clip, threshold=0.5,
                           detail=1, opacity=0.5)
    w.core("PreviewImage", 2, 2, [], images=heat)
    edited, _ = w.node("SoundCLIP_LatentOptimize", 3, 0, generator=generator, clip=clip, target=target,
                       latent=latent, preset="landscape", **OPTIMIZE_DEFAULTS, region_mask=mask, perceptual=perceptual)
    w.core("PreviewImage", 3, 3, [], images=reconstruction)
    (after,) = w.node("SoundCLIP_Decode", 4, 0, generator=generator, latent=edited, noise_mode="const")
    w.core("SaveImage", 5, 0, ["soundclip/sky_rain"], images=after)


def song_to_instant_video(w: Workflow) -> None:
    """A song becomes a video whose every frame follows its own moment of the sound, with no optimisation: Hear
    Every Frame encodes the 5 s of sound around each frame (smoothed over 0.25 s), and Sound to Instant Video edits
    one landscape along each frame's StyleSpace direction (alpha, beta), then core Create Video + Save Video write
    an mp4 with the song. Changing alpha or beta re-runs only the edits. Compute StyleSpace Table runs once per
    generator (minutes on a GPU; kept in models/soundclip_tables and read from there next time)."""
    (audio,) = load_audio(w, "song.wav", 0, 0)
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=1)
    (source,) = w.node("SoundCLIP_LatentFromSeed", 1, 2, generator=generator, seed=7, batch_size=1,
                       truncation_psi=0.7, label="")
    table, _ = w.node("SoundCLIP_ComputeStyleSpaceTable", 1, 4, generator=generator, clip=clip, method="gradient",
                      samples=100, seed=5)
    (heard,) = w.node("SoundCLIP_HearFrames", 1, 0, audio=audio, encoder=encoder, fps=24.0, window=5.0, smooth=0.25)
    images, song, fps = w.node("SoundCLIP_InstantVideo", 2, 0, frame_sounds=heard, audio=audio, generator=generator,
                               latent=source, clip=clip, table_file="", table=table,
                               neutral="a photo of a landscape", alpha=4.0, beta=0.15, layers="", pulse=0.3,
                               motion=0.2, noise_mode="const", batch_size=8, memory_budget_gb=0.0, alpha_curve_name="")
    (video,) = w.core("CreateVideo", 3, 0, [24.0], images=images, fps=fps, audio=song)
    w.core("SaveVideo", 4, 0, ["soundclip/instant", "auto", "auto"], video=video)


def teach_three_sounds(w: Workflow) -> None:
    """Teach it your own sounds: put a folder `my_sounds` in ComfyUI's input folder with one sub-folder of clips per
    label (`my_sounds/rain/*.wav`, `my_sounds/synth_pad/*.wav`, `my_sounds/kettle/*.wav`, a few dozen clips each;
    the folder names are the words it learns them as). Teach Sounds fine-tunes the paper's encoder on them
    (saved as models/soundclip_audio_encoders/my_sounds.pth; its report gives the held-out accuracy per label),
    then one of your sounds edits a landscape through the taught encoder."""
    (audio,) = load_audio(w, "my_rain.wav", 0, 0)
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=1)
    taught, _ = w.node("SoundCLIP_TeachSounds", 1, 0, encoder=encoder, clip=clip, sounds="my_sounds", path="",
                       name="my_sounds", epochs=0, seed=0)
    target, _ = w.node("SoundCLIP_AudioEncode", 2, 0, audio=audio, encoder=taught, long_clip="average",
                       window_start=0.0)
    (source,) = w.node("SoundCLIP_LatentFromSeed", 2, 2, generator=generator, seed=7, batch_size=1,
                       truncation_psi=0.7, label="")
    edited, _ = w.node("SoundCLIP_LatentOptimize", 3, 0, generator=generator, clip=clip, target=target,
                       latent=source, preset="landscape", **OPTIMIZE_DEFAULTS)
    (after,) = w.node("SoundCLIP_Decode", 4, 0, generator=generator, latent=edited, noise_mode="const")
    w.core("SaveImage", 5, 0, ["soundclip/taught_rain"], images=after)


# The music options' defaults (Sound to Keyframes, the frame nodes), for workflows that do not use them.
FIXED_CUT = {"cut": "fixed", "every": 1, "transition": 0.5, "section_texts": ""}
NO_REGION = {"region_text": "", "region_by_sound": False, "region_threshold": 0.5}  # Sound to Keyframes' defaults
NO_MUSIC_DRIVES = {"strength_curve": "", "strength_envelope": "", "pulse_bands": "", "motion_bands": "",
                   "blend_by": "chroma", "blend_smoothing": 1.0, "blend_mode": "normalise"}


def song_cut_on_sections(w: Workflow) -> None:
    """The music drives the video: one keyframe per section of the song (where its harmony and timbre change),
    each edited toward its section's sound mixed with its own text (one per section, separated by ';'; fewer
    texts than sections cycle), held through the section and turning into the next at the boundary. The bass
    (20-150 Hz) onsets pulse only the coarse W+ layers 0-3 (shape and layout: add pairs such as
    5000-11025Hz:10-17@0.2 for hi-hats on fine layers); the edit is strongest where the song is loud. Write Sound
    Video streams the mp4 with the song."""
    (audio,) = load_audio(w, "song.wav", 0, 0)
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=1)
    (source,) = w.node("SoundCLIP_LatentFromSeed", 1, 2, generator=generator, seed=7, batch_size=1,
                       truncation_psi=0.7, label="")
    keyframes, _ = w.node("SoundCLIP_SoundKeyframes", 2, 0, audio=audio, encoder=encoder, clip=clip,
                          generator=generator, latent=source, window=5.0, hop=2.5, preset="landscape", steps=300,
                          lr=0.1, mask="learned", layers="", seed=0, chunk_size=8, precision="fp32", text_weight=0.5,
                          cut="sections", every=1, transition=1.0,
                          section_texts="a quiet lake at night; fireworks over the city; a misty dawn", **NO_REGION)
    w.node("SoundCLIP_WriteSoundVideo", 3, 0, generator=generator, keyframes=keyframes, audio=audio, fps=24.0,
           pulse=0.6, motion=0.0, noise_mode="const", batch_size=8, crf=18, filename_prefix="soundclip/sections",
           **{**NO_MUSIC_DRIVES, "strength_curve": "rms", "strength_envelope": "threshold=0.1, release=1, gamma=0.7",
              "pulse_bands": "20-150Hz:0-3"})


def semantic_curve_drives_a_weight(w: Workflow) -> None:
    """How much the song sounds like rain steers the edit: Analyze Sound hears the song, Semantic Curves adds per
    frame how likely each label is (the same windows as the video), Sound Curve shapes "label_rain" and gives its
    value at one frame, which sets the weight of the text "heavy rain" against the sound in Mix Embeddings before
    the edit. Plot Sound Curves shows every curve with the beats and sections; Sound Curve's schedule output
    (FizzNodes / AnimateDiff keyframes) and FLOAT list drive other packs' nodes the same way."""
    (audio,) = load_audio(w, "song.wav", 0, 0)
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=1)
    analysis, _ = w.node("SoundCLIP_AnalyzeSound", 1, 0, audio=audio, fps=24.0, bands="20-150, 150-2000, 2000-11025",
                         min_bpm=0.0, max_bpm=0.0, sections=0)
    labelled, _ = w.node("SoundCLIP_SemanticCurves", 2, 0, analysis=analysis, audio=audio, encoder=encoder, clip=clip,
                         labels="rain\napplause\nviolin", template="the sound of {}", window=5.0, hop=2.5)
    (_, _, _, _, bars, value, _) = w.node(
        "SoundCLIP_SoundCurve", 3, 0, analysis=labelled, curve="label_rain", normalise="none", window=10.0,
        threshold=0.0, ceiling=1.0, attack=0.0, hold=0.0, release=0.5, smoothing=0.2, gamma=1.0, invert=False,
        schedule_format="keyframes", frame=48)
    (plot,) = w.node("SoundCLIP_PlotSoundCurves", 3, 2, analysis=labelled, curves="", width=1024, lane_height=80)
    sound, _ = w.node("SoundCLIP_AudioEncode", 1, 2, audio=audio, encoder=encoder, long_clip="average",
                      window_start=0.0)
    text, _ = w.node("SoundCLIP_TextEncode", 1, 3, clip=clip, text="heavy rain")
    target, _ = w.node("SoundCLIP_EmbeddingMix", 4, 0, embedding_a=sound, weight_a=1.0, embedding_b=text,
                       weight_b=value)
    (source,) = w.node("SoundCLIP_LatentFromSeed", 2, 2, generator=generator, seed=7, batch_size=1,
                       truncation_psi=0.7, label="")
    edited, _ = w.node("SoundCLIP_LatentOptimize", 5, 0, generator=generator, clip=clip, target=target,
                       latent=source, preset="landscape", **OPTIMIZE_DEFAULTS)
    (image,) = w.node("SoundCLIP_Decode", 6, 0, generator=generator, latent=edited, noise_mode="const")
    w.core("SaveImage", 7, 0, ["soundclip/rain_weighted"], images=image)
    w.core("PreviewImage", 4, 2, [], images=plot)
    w.core("PreviewImage", 4, 3, [], images=bars)


def instant_rain(w: Workflow) -> None:
    """Instant edits: rain on a landscape with no optimisation. Compute StyleSpace Table runs once per generator
    (minutes on a GPU; kept in models/soundclip_tables and read from there next time); the sound becomes a
    direction through it; Apply Direction moves the channels it selects. alpha (strength) and beta (how few,
    how specific the channels) are widgets: change them and only Apply Direction and Decode rerun, at once."""
    (audio,) = load_audio(w, "rain.wav", 0, 0)
    encoder, clip, generator = load_models(w, "landscape.pt", first_row=1)
    target, _ = w.node("SoundCLIP_AudioEncode", 1, 0, audio=audio, encoder=encoder, long_clip="average",
                       window_start=0.0)
    table, _ = w.node("SoundCLIP_ComputeStyleSpaceTable", 1, 1, generator=generator, clip=clip, method="gradient",
                      samples=100, seed=5)
    (source,) = w.node("SoundCLIP_LatentFromSeed", 1, 3, generator=generator, seed=7, batch_size=1,
                       truncation_psi=0.7, label="")
    direction, _, _ = w.node("SoundCLIP_SoundDirection", 2, 0, target=target, clip=clip,
                             neutral="a photo of a landscape", table=table, estimate_images=8)
    styles, _ = w.node("SoundCLIP_ApplyDirection", 3, 0, generator=generator, latent=source, direction=direction,
                       alpha=4.0, beta=0.15, layers="")
    (after,) = w.node("SoundCLIP_Decode", 4, 0, generator=generator, latent=source, noise_mode="const",
                      styles=styles)
    (before,) = w.node("SoundCLIP_Decode", 4, 2, generator=generator, latent=source, noise_mode="const")
    w.core("SaveImage", 5, 0, ["soundclip/instant_rain"], images=after)
    w.core("PreviewImage", 5, 2, [], images=before)


# File name = title: ComfyUI's template browser titles a custom node's template by its file name (it reads
# no index or workflow field for them), and its thumbnail banner repeats it.
WORKFLOWS = {
    "Sound to landscape": sound_to_landscape,
    "Music to painting (WikiArt)": music_to_painting,
    "Sound and text style mix on faces": sound_text_face_mix,
    "Several sounds, one seed": sounds_grid,
    "AudioCLIP, a bark to a dog": audioclip_sound_to_dog,
    "Your photo, inverted, then rain": invert_photo_then_sound,
    "A portrait, aligned, laughing, pasted back": portrait_laugh_pasted_back,
    "StyleGAN3, a purr to an animal": sound_to_animal_stylegan3,
    "A whole song to a video": song_to_video,
    "A photo's sky made rainy (localised mask)": sky_made_rainy,
    "A song to an instant video": song_to_instant_video,
    "Teach three sounds, edit with one": teach_three_sounds,
    "A song cut on its sections": song_cut_on_sections,
    "A semantic curve drives a weight": semantic_curve_drives_a_weight,
    "Instant rain on a landscape": instant_rain,
}


def display_names() -> dict[str, str]:
    core = {"SaveImage": "Save Image", "PreviewImage": "Preview Image",
            "LoadImage": "Load Image", "CreateVideo": "Create Video", "SaveVideo": "Save Video"}
    return {**core, **sys.modules["soundclip_pack"].NODE_DISPLAY_NAME_MAPPINGS}


def render_thumbnail(workflow: dict, title: str, names: dict[str, str]):
    """The graph as the canvas shows it, scaled to fit: node boxes with titles, typed links."""
    from PIL import Image, ImageDraw, ImageFont

    nodes = [n for n in workflow["nodes"] if n["type"] != "MarkdownNote"]
    left = min(n["pos"][0] for n in nodes) - 40
    top = min(n["pos"][1] for n in nodes) - 40
    right = max(n["pos"][0] + n["size"][0] for n in nodes) + 40
    bottom = max(n["pos"][1] + n["size"][1] for n in nodes) + 40
    width, height = THUMBNAIL_SIZE
    banner = 44
    scale = min(width / (right - left), (height - banner) / (bottom - top))

    def at(x: float, y: float) -> tuple[float, float]:
        return (x - left) * scale, banner + (y - top) * scale

    image = Image.new("RGB", THUMBNAIL_SIZE, "#202020")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=10)
    by_id = {n["id"]: n for n in nodes}
    for _, origin, _, target, _, kind in workflow["links"]:
        a, b = by_id[origin], by_id[target]
        start = at(a["pos"][0] + a["size"][0], a["pos"][1] + 40)
        end = at(b["pos"][0], b["pos"][1] + 40)
        draw.line([start, end], fill=LINK_COLOURS.get(kind, "#9e9e9e"), width=2)
    for node in nodes:
        x0, y0 = at(*node["pos"])
        x1, y1 = at(node["pos"][0] + node["size"][0], node["pos"][1] + node["size"][1])
        ours = node["type"].startswith("SoundCLIP_")
        draw.rounded_rectangle([x0, y0, x1, y1], radius=4, fill="#353535", outline="#8a6bbf" if ours else "#666666")
        draw.rectangle([x0 + 1, y0 + 1, x1 - 1, y0 + 14], fill="#4a3d66" if ours else "#444444")
        label = names.get(node["type"], node["type"])
        while label and draw.textlength(label, font=font) > x1 - x0 - 6:
            label = label[:-1]
        draw.text((x0 + 3, y0 + 2), label, fill="#eeeeee", font=font)
    draw.text((12, 10), title, fill="#ffffff", font=ImageFont.load_default(size=18))
    return image



def build_all() -> dict[str, dict]:
    classes = load_node_classes()
    from soundclip_core.weights import load_manifest  # importable once the pack is loaded

    manifest = load_manifest()
    built = {}
    for name, recipe in WORKFLOWS.items():
        workflow = Workflow(classes)
        recipe(workflow)
        workflow.add_models(manifest)
        workflow.add_model_note(name, inspect.cleandoc(recipe.__doc__))  # 3.13 dedents itself
        built[name] = workflow.to_json()
    return built


if __name__ == "__main__":
    for name, workflow in build_all().items():
        (HERE / f"{name}.json").write_text(json.dumps(workflow, indent=1) + "\n")
        render_thumbnail(workflow, name, display_names()).save(HERE / f"{name}.jpg", quality=90)
        print(f"wrote example_workflows/{name}.json and .jpg")
