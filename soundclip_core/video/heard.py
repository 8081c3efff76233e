"""A song already heard (analysis.Hearing: Analyze Sound, Semantic Curves, `hear`) reused by the video.

An artist analyses the song once, with its stems, tempo range and semantic curves, looks at the plot, and
wires that analysis into the video: the keyframes cut on its beats, bars and sections (`Hearing.rhythm`, the
beat role's analysis), the frames take its curves (a strength, blend or alpha curve may be any of them, e.g.
"label_rain" or "pulse.onset_20-150Hz"), and the pulse and motion bands hear its stems, so nothing is heard
twice. A hearing of another song (a length more than analysis.roles.LENGTH_TOLERANCE off) or, where its curves
are used frame by frame, of another frame rate is one error, not frames out of time.
"""

from __future__ import annotations

from ..analysis import Hearing
from ..analysis.roles import LENGTH_TOLERANCE
from ..audio import Audio
from ..errors import SoundClipError


def check_hearing(hearing: Hearing, audio: Audio, fps: float | None = None) -> Hearing:
    """`hearing` when it heard `audio` (and, with `fps`, at that frame rate); else one clear error."""
    if not isinstance(hearing, Hearing):
        raise SoundClipError(f"expected a song's analysis, got {type(hearing).__name__}",
                             fix="connect Analyze Sound (or Semantic Curves) to the analysis input")
    if abs(hearing.duration - audio.duration) > LENGTH_TOLERANCE:
        raise SoundClipError(f"the analysis heard {hearing.duration:.2f} s of sound, the song is "
                             f"{audio.duration:.2f} s long", fix="analyse the same song the video is made from")
    if fps is not None and abs(hearing.fps - fps) > 1e-6:
        raise SoundClipError(f"the analysis has one value per frame at {hearing.fps:g} fps, the video is at "
                             f"{fps:g} fps", fix=f"set Analyze Sound's fps to {fps:g}")
    return hearing
