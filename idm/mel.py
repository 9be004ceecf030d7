"""Log-mel front end of the encoder (torchaudio's MelSpectrogram numbers, HTK scale)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .constants import HOP_LENGTH, SAMPLE_RATE


def _hz_to_mel(f):
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Triangular HTK mel filterbank (n_freqs, n_mels), 0 Hz to Nyquist, no normalisation."""
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_pts = torch.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0)


class LogMel(nn.Module):
    """`log(mel_power + 1e-6)` of a waveform (B, T) -> (B, n_mels, T // hop + 1).

    Centred frames with reflect padding; long inputs are computed `chunk_frames` frames at
    a time (the same frames, so the same numbers) to bound the STFT's memory.
    """

    def __init__(self, n_fft: int = 1024, n_mels: int = 128):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True))
        self.register_buffer("filterbank", mel_filterbank(n_fft // 2 + 1, n_mels))

    def _log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, self.n_fft, hop_length=HOP_LENGTH, win_length=self.n_fft, window=self.window,
                          center=False, return_complex=True)
        power = spec.abs().pow(2)
        mel = torch.matmul(power.transpose(-1, -2), self.filterbank).transpose(-1, -2)
        return torch.log(mel + 1e-6)

    def forward(self, audio: torch.Tensor, chunk_frames: int = 8192) -> torch.Tensor:
        half = self.n_fft // 2
        padded = F.pad(audio.unsqueeze(1), (half, half), mode="reflect").squeeze(1)
        n_frames = audio.shape[-1] // HOP_LENGTH + 1
        parts = [
            self._log_mel(padded[:, f0 * HOP_LENGTH: (min(n_frames, f0 + chunk_frames) - 1) * HOP_LENGTH + self.n_fft])
            for f0 in range(0, n_frames, chunk_frames)
        ]
        return parts[0] if len(parts) == 1 else torch.cat(parts, -1)
