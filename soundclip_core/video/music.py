"""Keyframes that follow the song's structure: cut on beats, bars or sections, a text per section.

`music_keyframes` = the analysis' windows (cuts.py) + each window's section text (section_texts.py) +
the unchanged batched keyframe optimisation (keyframes.py) + the hold on each window (cuts.py). The notes it
returns say what was changed from what was asked (no beats: fixed windows; more texts than sections), for the
CLI to print and the nodes to report.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import analysis as music
from ..analysis import assign_roles
from ..audio import Audio
from ..embedding import Embedding, combine
from .cuts import DEFAULT_TRANSITION, check_cut, check_transition, hold_keyframes, music_windows
from .keyframes import Keyframes, sound_keyframes
from .section_texts import parse_section_texts, section_text_embedding
from .windows import DEFAULT_HOP, DEFAULT_WINDOW, Windows


@dataclass(frozen=True)
class MusicCut:
    """How keyframes are placed: `cut` fixed|beats|bars|sections, every `every`-th beat or bar, held across
    their windows with a `transition` s turn at each boundary (fixed windows keep centre placement), and
    `section_texts` ('at night; fireworks': one per section, cycling)."""

    cut: str = "fixed"
    every: int = 1
    transition: float = DEFAULT_TRANSITION
    section_texts: str = ""

    def check(self) -> list[str]:
        """Refuse bad settings before any work; the parsed section texts."""
        check_cut(self.cut, self.every)
        check_transition(self.transition)
        return parse_section_texts(self.section_texts)


def plan_windows(audio: Audio, plan: MusicCut, window: float = DEFAULT_WINDOW, hop: float = DEFAULT_HOP,
                 analysis=None, beat_audio: Audio | None = None) -> tuple[Windows, object]:
    """(the keyframe windows, the song's analysis or None), analysing only what the plan needs. `beat_audio`: a
    separate sound (a drum stem) whose beats or bars cut the song, instead of the song's own, fitted to the song
    first (analysis.assign_roles: resampled, padded or trimmed within its tolerance, else refused naming the beat
    role); sections and section texts always follow the song."""
    plan.check()
    beat_audio = None if beat_audio is None else assign_roles(audio, beat=beat_audio)["beat"]
    own_beats = plan.cut in ("beats", "bars") and beat_audio is None
    if analysis is None and (own_beats or plan.cut == "sections" or plan.section_texts.strip()):
        analysis = music.analyze(audio)
    cut_on = music.analyze(beat_audio) if plan.cut in ("beats", "bars") and beat_audio is not None else analysis
    return music_windows(audio, cut_on, plan.cut, plan.every, window, hop), analysis


def music_keyframes(generator, clip, encoder, audio: Audio, w_source: torch.Tensor, plan: MusicCut, *,
                    window: float = DEFAULT_WINDOW, hop: float = DEFAULT_HOP, text: Embedding | None = None,
                    analysis=None, beat_audio: Audio | None = None, windows: Windows | None = None,
                    meaning_audio: Audio | None = None, **keyframe_kwargs) -> tuple[Keyframes, object, list[str]]:
    """Keyframes on the plan's windows -> (Keyframes, optimize's Result, notes). `text` (one for all windows)
    and the section texts both mix in; `keyframe_kwargs` are sound_keyframes' (sound_weight, text_weight,
    steps, preset, ...). `beat_audio`: as plan_windows'; `windows` and `analysis`: plan_windows' result, when
    already made. `meaning_audio`: a stem (e.g. the vocals) whose windows are heard instead of the song's, fitted
    to the song first (analysis.assign_roles)."""
    texts = plan.check()
    heard = audio if meaning_audio is None else assign_roles(audio, meaning=meaning_audio)["meaning"]
    if windows is None:
        windows, analysis = plan_windows(audio, plan, window, hop, analysis, beat_audio)
    notes = [windows.note] if windows.note else []
    if texts:
        sections, note = section_text_embedding(clip, texts, windows, analysis.sections)
        notes += [note] if note else []
        text = sections if text is None else combine([(text, 1.0), (sections, 1.0)])
    keyframes, result = sound_keyframes(generator, clip, encoder, heard, w_source, window=window, hop=hop, text=text,
                                        windows=windows, **keyframe_kwargs)
    keyframes.settings.update({"cut": windows.cut, "every": plan.every, "section_texts": texts})
    return hold_keyframes(keyframes, windows, plan.transition), result, notes
