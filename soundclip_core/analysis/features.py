"""Features per STFT frame, from one spectrogram: every feature reads the same frames, chunk by chunk.

For frame j (centre j * HOP / RATE s), with x the frame's samples and P = |rfft(hann * x)|² its power:

- rms: sqrt(mean(x²)) (librosa.feature.rms), and rms_db = 20 log10(max(rms, 1e-5)) (floor -100 dBFS);
- centroid: sum(f_k |X_k|) / sum(|X_k|) in Hz (0 for a silent frame);
- chroma: librosa's chroma filterbank (A440 tuning) applied to P, each frame divided by its largest class
  (all zero when the frame is silent): 12 values in [0, 1], C first;
- mel: 128 mel bands (librosa's filterbank, 0-11025 Hz) in dB relative to a full-scale sine, floored at
  -80 dB; onset = mean over bands of max(0, mel_t - mel_{t-1}) (librosa's onset strength; its beat
  tracker takes the median over bands, which a narrow-band click or hi-hat leaves at 0);
- mfcc: 13 coefficients, the orthonormal DCT-II of the mel dB (timbre and level, for sections);
- per band (lo, hi) Hz: level = 10 log10 of the band's power relative to a full-scale sine (floor -80 dB),
  and onset = mean over the band's STFT bins of the increase of log(1 + P / knee) since the previous frame,
  knee = -50 dB relative to a full-scale sine: logarithmic for what is heard, and deaf to the faint
  spill (window leakage, a hi-hat's traces below 150 Hz) that a dB scale floored at -80 dB would turn into
  onsets in a band the sound is silent in. The band is
  summed from linear STFT bins (10.8 Hz apart), so a low band like 20-150 Hz has 12 real filters where
  a 128-mel bank would leave most of its filters empty; a band narrower than a bin uses the nearest bin.

Every onset curve is delayed by ONSET_DELAY frames (23 ms): a frame's log spectrum jumps as soon as an
attack enters the edge of its 93 ms window, so undelayed flux peaks 20-32 ms before a click (measured);
librosa delays by half a window (46 ms) and lands 9-32 ms late.

Besides, `fine` (`attacks`) holds, every 64 samples (2.9 ms), how many dB the energy of the signal's first
difference (which keeps attacks, broadband, and drops a bass note's slow waves) rises from the 11.6 ms
before to the 5.8 ms after: where exactly a beat's attack starts, for refining beat times.
"""

from __future__ import annotations

import numpy as np

from ..errors import AnalysisError
from .backend import librosa
from .stream import N_FFT, RATE

N_MELS = 128
N_MFCC = 13
FLOOR_DB = -80.0
FINE_HOP = 64
BAND_KNEE = 1e5  # 1 / -50 dB
ONSET_DELAY = 2  # frames
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

Band = tuple[float, float]


def check_bands(bands) -> tuple[Band, ...]:
    """((lo, hi), ...) in Hz with 0 <= lo < hi, as floats; anything else is one AnalysisError."""
    checked = []
    for band in bands:
        try:
            lo, hi = (float(v) for v in band)
        except (TypeError, ValueError):
            raise AnalysisError(f"a frequency band must be two numbers (low Hz, high Hz), got {band!r}",
                                fix="give bands like (20, 150) for the bass") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
            raise AnalysisError(f"the band {lo:g}-{hi:g} Hz is empty or negative",
                                fix="give the low edge first, both at least 0 Hz, e.g. (20, 150)")
        checked.append((lo, hi))
    return tuple(checked)


def band_name(band: Band) -> str:
    return f"{band[0]:g}-{band[1]:g}Hz"


class FrameFeatures:
    """Feed it blocks of frames ([n, N_FFT], in order) and sample chunks (for `fine`); `result()` gives
    name -> float32 array [frames] (chroma [frames, 12], mfcc [frames, 13])."""

    def __init__(self, bands: tuple[Band, ...] = ()):
        lr = librosa()
        self.bands = bands
        self.window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as librosa's
        self.freqs = np.fft.rfftfreq(N_FFT, 1 / RATE).astype(np.float32)
        self.full_scale = float(self.window.sum() / 2) ** 2  # the peak bin power of a full-scale sine
        self.mel_fb = lr.filters.mel(sr=RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)
        # the mel filterbank is area-normalised (slaney): its full-scale reference is the filters' peak gain
        self.mel_scale = self.full_scale * float(self.mel_fb.max())
        self.chroma_fb = lr.filters.chroma(sr=RATE, n_fft=N_FFT).astype(np.float32)
        n = np.arange(N_MELS)
        dct = np.cos(np.pi / N_MELS * (n[None] + 0.5) * np.arange(N_MFCC)[:, None]) * np.sqrt(2 / N_MELS)
        dct[0] /= np.sqrt(2)
        self.dct = dct.astype(np.float32)
        self.band_bins = []
        for lo, hi in bands:
            inside = np.flatnonzero((self.freqs >= lo) & (self.freqs <= hi))
            if inside.size == 0:
                inside = np.array([int(np.argmin(np.abs(self.freqs - (lo + hi) / 2)))])
            self.band_bins.append(slice(int(inside[0]), int(inside[-1]) + 1))
        self.parts: dict[str, list[np.ndarray]] = {}
        self.previous_mel = self.previous_bins = None
        self.fine_rest = np.zeros(1, np.float32)  # the sample before the first: silence

    def _add(self, name: str, value: np.ndarray) -> None:
        self.parts.setdefault(name, []).append(value.astype(np.float32, copy=False))

    def _flux(self, db: np.ndarray, previous: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per-bin positive increase [n, bins] since the frame before (0 for the very first frame)."""
        before = np.concatenate([db[:1] if previous is None else previous, db[:-1]])
        return np.maximum(db - before, 0), db[-1:]

    def frames(self, block: np.ndarray) -> None:
        if len(block) == 0:
            return
        self._add("rms", np.sqrt(np.mean(np.square(block, dtype=np.float32), axis=1)))
        magnitude = np.abs(np.fft.rfft(block * self.window, axis=1)).astype(np.float32)
        power = np.square(magnitude)
        total = magnitude.sum(1)
        self._add("centroid", np.where(total > 1e-8, magnitude @ self.freqs / np.maximum(total, 1e-8), 0))
        chroma = power @ self.chroma_fb.T
        top = chroma.max(1, keepdims=True)
        self._add("chroma", np.where(top > 1e-10 * self.full_scale, chroma / np.maximum(top, 1e-30), 0))
        mel = 10 * np.log10(np.maximum(power @ self.mel_fb.T / self.mel_scale, 1e-30))
        mel = np.maximum(mel, FLOOR_DB)
        flux, self.previous_mel = self._flux(mel, self.previous_mel)
        self._add("onset", flux.mean(1))
        self._add("mfcc", mel @ self.dct.T)
        flux, self.previous_bins = self._flux(np.log1p(power * (BAND_KNEE / self.full_scale)), self.previous_bins)
        for band, bins in zip(self.bands, self.band_bins, strict=True):
            name = band_name(band)
            level = 10 * np.log10(np.maximum(power[:, bins].sum(1) / self.full_scale, 1e-30))
            self._add(f"level_{name}", np.maximum(level, FLOOR_DB))
            self._add(f"onset_{name}", flux[:, bins].mean(1))

    def samples(self, chunk: np.ndarray) -> None:
        """Energies of 64-sample blocks of the first difference of the mono stream (the partial last block
        waits for more)."""
        data = np.concatenate([self.fine_rest, chunk])
        whole = (len(data) - 1) // FINE_HOP * FINE_HOP
        if whole <= 0:
            self.fine_rest = data
            return
        emphasised = np.diff(data[:whole + 1])  # attacks are broadband; a bass note's slow waves are not
        self.fine_rest = data[whole:]
        self._add("fine", np.square(emphasised.reshape(-1, FINE_HOP), dtype=np.float32).mean(1))

    def result(self) -> dict[str, np.ndarray]:
        out = {name: np.concatenate(parts) for name, parts in self.parts.items()}
        for name in out:
            if name == "onset" or name.startswith("onset_"):
                curve = out[name]
                out[name] = np.concatenate([np.zeros(ONSET_DELAY, np.float32), curve])[:len(curve)]
        if "fine" in out:
            out["fine"] = attacks(out["fine"])
        return out


def attacks(energy: np.ndarray) -> np.ndarray:
    """fine[i] = dB(mean energy of blocks i, i + 1) - dB(mean energy of blocks i - 4 .. i - 1), at least 0:
    how sharply the sound rises at the start of block i (i * 64 / RATE s)."""
    sums = np.concatenate([np.zeros(1), np.cumsum(energy, dtype=np.float64)])
    i = np.arange(len(energy))
    after = (sums[np.minimum(i + 2, len(energy))] - sums[i]) / np.maximum(np.minimum(i + 2, len(energy)) - i, 1)
    before = (sums[i] - sums[np.maximum(i - 4, 0)]) / np.maximum(i - np.maximum(i - 4, 0), 1)
    floor = 10 ** (FLOOR_DB / 10)
    rise = 10 * np.log10(np.maximum(after, floor)) - 10 * np.log10(np.maximum(before, floor))
    return np.maximum(rise, 0).astype(np.float32)
