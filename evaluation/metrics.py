"""Separation metrics of one estimate against one reference (1-D signals, same length).

Definitions follow `docs/evaluation.md` (the authors' released metric code, facts only):

- nSDR: zero-mean SNR, `10 log10(sum r^2 / (sum (e - r)^2 + 1e-8) + 1e-8)`;
- SI-SDR: scale-invariant SDR (Le Roux et al. 2019) of the zero-mean signals, with the
  nSDR's guards, so a silent estimate scores -80 dB, not 0;
- LSD: log-spectral distance on `ln(|STFT|^2 + 1e-8)`, Hann 2048 / 512;
- PES / EPS (Schulze-Forster et al. 2021): mean estimate energy (dB) over the 512-sample
  frames where the reference is silent, and mean reference energy over the frames where
  the estimate is silent; silence is a frame energy at the -60 dB floor. NaN where there
  are no such frames.
"""

import math

import numpy as np
import torch

EPS = 1e-8
SILENT_REFERENCE_ENERGY = 1e-4
"""A whole reference with `sum r^2` at or below this is silent (the authors' threshold)."""
FRAME = 512
FLOOR_DB = -60.0
LSD_FFT, LSD_HOP = 2048, 512


def _zero_mean(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x - x.mean()


def _check(reference, estimate) -> None:
    if np.shape(reference) != np.shape(estimate) or np.ndim(reference) != 1:
        raise ValueError(f"reference and estimate must be 1-D and equally long, got {np.shape(reference)} "
                         f"and {np.shape(estimate)}")


def nsdr(reference, estimate) -> float:
    """Zero-mean signal-to-noise ratio of `estimate` to `reference`, in dB."""
    _check(reference, estimate)
    r, e = _zero_mean(reference), _zero_mean(estimate)
    return 10 * math.log10(np.sum(r ** 2) / (np.sum((e - r) ** 2) + EPS) + EPS)


def si_sdr(reference, estimate) -> float:
    """Scale-invariant SDR in dB: the estimate's projection on the reference against the rest."""
    _check(reference, estimate)
    r, e = _zero_mean(reference), _zero_mean(estimate)
    target = (np.dot(e, r) / (np.dot(r, r) + EPS)) * r
    return 10 * math.log10(np.sum(target ** 2) / (np.sum((e - target) ** 2) + EPS) + EPS)


def log_power_spectrogram(x) -> np.ndarray:
    """`ln(|STFT|^2 + 1e-8)`, Hann window 2048, hop 512, centred with zero padding: (freq, frames)."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    spec = torch.stft(x, LSD_FFT, LSD_HOP, LSD_FFT, torch.hann_window(LSD_FFT, dtype=x.dtype), center=True,
                      pad_mode="constant", return_complex=True)
    return torch.log(spec.abs() ** 2 + EPS).numpy()


def lsd(reference, estimate) -> float:
    """Log-spectral distance: per frame the root mean square over frequency of the log-power
    difference, then the mean over frames."""
    _check(reference, estimate)
    diff = log_power_spectrogram(reference) - log_power_spectrogram(estimate)
    return float(np.mean(np.sqrt(np.mean(diff ** 2, axis=0))))


def frame_energy_db(x) -> np.ndarray:
    """Energy of each 512-sample frame (the last zero-padded) in dB, floored at -60 dB."""
    x = np.asarray(x, dtype=np.float64)
    frames = np.pad(x, (0, -len(x) % FRAME)).reshape(-1, FRAME)
    return np.maximum(10 * np.log10(np.sum(frames ** 2, axis=1) + EPS), FLOOR_DB)


def pes_eps(reference, estimate) -> tuple:
    """(PES, EPS) in dB: predicted energy at silence (leakage into the reference's silent
    frames) and energy at predicted silence (holes); each NaN when it has no frames."""
    _check(reference, estimate)
    r, e = frame_energy_db(reference), frame_energy_db(estimate)
    silent_r, silent_e = r <= FLOOR_DB, e <= FLOOR_DB
    pes = float(np.mean(e[silent_r])) if silent_r.any() else math.nan
    eps = float(np.mean(r[silent_e])) if silent_e.any() else math.nan
    return pes, eps


def is_silent(reference) -> bool:
    """True for a reference whose total energy is at or below SILENT_REFERENCE_ENERGY."""
    return float(np.sum(np.asarray(reference, dtype=np.float64) ** 2)) <= SILENT_REFERENCE_ENERGY


def segment_is_silent(reference) -> bool:
    """True for a segment whose energy is at or below -60 dB (dropped from segment-wise scores)."""
    return 10 * math.log10(float(np.sum(np.asarray(reference, dtype=np.float64) ** 2)) + EPS) <= FLOOR_DB
