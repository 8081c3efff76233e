"""Musical hearing: what a sound does over time, at any frame rate (issue 25's core).

    from soundclip_core.analysis import analyze, Envelope, hpss
    analysis = analyze(audio)                  # once per sound: streamed, bounded memory
    analysis.tempo, analysis.beats.times       # BPM (None without a pulse, see analysis.beats.reason)
    analysis.bars.downbeats, analysis.bars.meter
    analysis.sections                          # section start times (s), the first 0.0
    analysis.onsets["20-150Hz"]                # onset times in a band (s)
    curves = analysis.curves(24)               # name -> one value per video frame
    shaped = Envelope(attack=0.01, release=0.3).apply(curves["onset_20-150Hz"], 24)
    harmonic, percussive = hpss(audio)
    heard = hear(song, 24, stems={"beat": drums})   # every curve per frame, each role from its own stem, cached
    heard = heard.with_curves(semantic_curves(encoder, song, spans, 24, heard.frame_count, clip=clip,
                                              labels=["rain", "applause"]))   # label_rain, label_applause
    to_schedule(heard.curve("label_rain"))     # "0:(0.1200),\n12:(0.8000)": what scheduling nodes read

One module per concept: stream (mono, resampling, framing), features (per-frame features from one STFT),
beats, downbeats, sections, onsets, timeline (to video frames), envelope (shaping), hpss, analyze (all
of it); roles (stems per role), cache (per sound and settings), hearing (all curves at a frame rate),
semantic (label and similarity curves), schedule (strings for scheduling nodes), plot (curves as images).
librosa is an optional dependency (backend.py): without it only `analyze` fails, with the
`pip install librosa` that fixes it (envelope and hpss need only numpy and torch);
`pip install "soundclip[music]"` brings it.
"""

from .analyze import DEFAULT_BANDS, Analysis, analyze
from .beats import Beats
from .downbeats import Bars
from .envelope import Envelope
from .hearing import Hearing, analyze_cached, hear, hear_roles
from .hpss import hpss
from .plot import curve_frames, plot_curves
from .roles import ROLES, RoleAudio, assign_roles
from .schedule import FORMATS, parse_schedule, to_schedule
from .semantic import semantic_curves, semantic_curves_cached

__all__ = ["DEFAULT_BANDS", "FORMATS", "ROLES", "Analysis", "Bars", "Beats", "Envelope", "Hearing", "RoleAudio",
           "analyze", "analyze_cached", "assign_roles", "curve_frames", "hear", "hear_roles", "hpss", "parse_schedule",
           "plot_curves", "semantic_curves", "semantic_curves_cached", "to_schedule"]
