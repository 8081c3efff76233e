"""AudioCLIP's audio head (Guzhov et al. 2022): ESResNeXt-fbsp, 1024-d.

The waveform is cut into Blackman-Harris windowed frames and projected onto a learned
frequency-B-spline (FBSP) filter bank: a complex "STFT" whose 1025 filters each have a
centre `fc`, bandwidth `fb` and shape `m`. The first 1023 bins become three 341-bin bands,
the three input channels of a ResNeXt-50 (32x4d) whose stages are gated by attention blocks.
Module names match the `audio.` part of the released checkpoints. The filter weights are
materialised with the window and the frame-to-n_fft zero padding folded in, so the whole front
end is one matrix product; a frozen copy materialises them once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.models.resnet import Bottleneck, ResNet
from torch import nn

EPS = 1e-8
LOG10_FLOOR = 1e-18  # the official replacement for zero power before log10
# name: (in channels, out channels, kernel, padding), as in the official ResNetWithAttention
ATTENTION = {
    "att1": (64, 256, (3, 1), (1, 0)),
    "att2": (256, 512, (1, 5), (0, 2)),
    "att3": (512, 1024, (3, 1), (1, 0)),
    "att4": (1024, 2048, (1, 5), (0, 2)),
    "att5": (2048, 2048, (3, 5), (1, 2)),
}


class Attention2d(nn.Module):
    """A gate in (0, 1) for a stage's output, from its input max-pooled to the output size."""

    def __init__(self, channels_in: int, channels_out: int, kernel: tuple[int, int], padding: tuple[int, int]):
        super().__init__()
        self.conv_depth = nn.Conv2d(channels_in, channels_in, kernel, padding=padding, groups=channels_in)
        self.conv_point = nn.Conv2d(channels_in, channels_out, 1)
        self.bn = nn.BatchNorm2d(channels_out)

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return torch.sigmoid(self.bn(self.conv_point(self.conv_depth(F.adaptive_max_pool2d(x, size)))))


class LinearFBSP(nn.Module):
    """The learned filter bank's parameters. `bias` is the empty tensor the official module keeps."""

    def __init__(self, bins: int):
        super().__init__()
        self.m = nn.Parameter(torch.zeros(bins))
        self.fb = nn.Parameter(torch.ones(bins))
        self.fc = nn.Parameter(torch.arange(bins, dtype=torch.float32))
        self.bias = nn.Parameter(torch.empty(0))

    def filters(self, n_fft: int, normalized: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary filter weights [bins, n_fft]: sqrt(fb) * sinc(fb t / m)^m * exp(-i fc t),
        t = pi * linspace(-1, 1, n_fft); the real power of a negative sinc takes the principal branch."""
        t = math.pi * torch.linspace(-1.0, 1.0, n_fft, dtype=self.fc.dtype, device=self.fc.device)[None] + EPS
        m, fb, fc = self.m[:, None], self.fb[:, None], self.fc[:, None]
        x = fb * t / (m + EPS)
        sinc = torch.where(x == 0, torch.ones_like(x), torch.sin(x) / x)
        magnitude = sinc.abs().pow(m)
        phase = m * torch.where(sinc < 0, math.pi, 0.0)
        win_re, win_im = magnitude * torch.cos(phase), magnitude * torch.sin(phase)
        kernel_re, kernel_im = torch.cos(fc * t), -torch.sin(fc * t)
        scale = fb.sqrt() / (math.sqrt(n_fft) if normalized else 1.0)
        return scale * (win_re * kernel_re - win_im * kernel_im), scale * (win_re * kernel_im + win_im * kernel_re)


def blackman_harris(length: int) -> torch.Tensor:
    """Periodic 4-term Blackman-Harris window (scipy.signal.get_window('blackmanharris', fftbins=True))."""
    phase = 2 * math.pi * torch.arange(length, dtype=torch.float64) / length
    window = 0.35875 - 0.48829 * torch.cos(phase) + 0.14128 * torch.cos(2 * phase) - 0.01168 * torch.cos(3 * phase)
    return window.float()


def frame_signal(x: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """[N, T] -> frames [N, F, frame_length]: centred zero padding to a whole number of hops
    (floor half on the left), as the official `utils.transforms.frame_signal`."""
    length = x.shape[-1]
    count = 1 if length <= frame_length else 1 + math.ceil((length - frame_length) / hop_length)
    missing = max((count - 1) * hop_length + frame_length - length, 0)
    return F.pad(x, (missing // 2, missing - missing // 2)).unfold(-1, frame_length, hop_length)


class ESResNeXtFBSP(ResNet):
    """Waveform [N, T] in [-1, 1] at 44.1 kHz -> unnormalised 1024-d audio features [N, embed_dim]."""

    def __init__(self, embed_dim: int = 1024, n_fft: int = 2048, win_length: int = 1654, hop_length: int = 561,
                 bands: int = 3):
        super().__init__(Bottleneck, (3, 4, 6, 3), num_classes=embed_dim, cardinality=32, base_width=4)
        self.fbsp = LinearFBSP(n_fft // 2 + 1)
        self.register_buffer("window", blackman_harris(win_length))
        for name, shape in ATTENTION.items():
            self.add_module(name, Attention2d(*shape))
        self.n_fft, self.hop_length, self.bands, self.embed_dim = n_fft, hop_length, bands, embed_dim
        self.register_buffer("analysis", None, persistent=False)  # set by `freeze_constants`

    def analysis_matrix(self) -> torch.Tensor:
        """[2 * kept_bins, win_length]: real then imaginary filters over the kept bins, windowed and
        cut to the frame (the frame sits centred in n_fft zeros)."""
        win_length = self.window.shape[0]
        left = (self.n_fft - win_length) // 2
        kept = self.bands * (self.fbsp.m.shape[0] // self.bands)
        real, imag = (w[:kept, left:left + win_length] * self.window for w in self.fbsp.filters(self.n_fft))
        return torch.cat([real, imag]).contiguous()

    @torch.no_grad()
    def freeze_constants(self) -> None:
        """Materialise the analysis matrix once for a frozen copy (~125 ms on 2 CPU threads, per encode otherwise)."""
        self.analysis = self.analysis_matrix()

    def spectrogram_db(self, waveforms: torch.Tensor) -> torch.Tensor:
        """[N, T] floats in [-1, 1] -> power in dB [N, bands, bins_per_band, frames].

        The official head takes int16-range samples and rescales them to [-1, 1] itself; both steps are
        kept so the (tiny) offset of that mapping is reproduced."""
        x = ((waveforms * 32768.0 + 32768.0) * 2.0) / 65535.0 - 1.0
        matrix = self.analysis if self.analysis is not None else self.analysis_matrix()
        spec = frame_signal(x, matrix.shape[1], self.hop_length) @ matrix.t()  # [N, F, 2 * kept]
        kept = matrix.shape[0] // 2
        power = spec[..., :kept].square() + spec[..., kept:].square()
        power = torch.where(power > 0, power, torch.full_like(power, LOG10_FLOOR))
        db = 10.0 * torch.log10(power).transpose(1, 2)  # [N, kept, F]
        return db.reshape(db.shape[0], self.bands, kept // self.bands, db.shape[2])

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(self.spectrogram_db(waveforms)))))
        for stage, gate in ((self.layer1, self.att1), (self.layer2, self.att2), (self.layer3, self.att3),
                            (self.layer4, self.att4)):
            y = stage(x)
            x = y * gate(x, y.shape[-2:])
        pooled = F.adaptive_avg_pool2d(x, 1) * self.att5(x, (1, 1))
        return self.fc(pooled.flatten(1))
