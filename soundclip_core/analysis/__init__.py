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

One module per concept: stream (mono, resampling, framing), features (per-frame features from one STFT),
beats, downbeats, sections, onsets, timeline (to video frames), envelope (shaping), hpss, analyze (all
of it). librosa is an optional dependency (backend.py): without it only `analyze` fails, with the
`pip install librosa` that fixes it (envelope and hpss need only numpy and torch);
`pip install "soundclip[music]"` brings it.
"""

from .analyze import DEFAULT_BANDS, Analysis, analyze
from .beats import Beats
from .downbeats import Bars
from .envelope import Envelope
from .hpss import hpss

__all__ = ["DEFAULT_BANDS", "Analysis", "Bars", "Beats", "Envelope", "analyze", "hpss"]
