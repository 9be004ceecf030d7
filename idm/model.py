"""The Inverse Drum Machine: transcribe, synthesise one-shots, sequence them, mix.

Stages (see the architecture doc): `analyse` (encoder and heads), `one_shots`
(conditioned synthesiser), `render` (sequencer and track gains). `forward` runs the
teacher-forced training pass; inference with peak picking lives in `idm.separate`.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .constants import HOP_LENGTH
from .encoder import Encoder, KitClassifier, SpectralOnsets, TrackContext, TranscriptionHead, added_frames
from .fast_synth import MIN_CHANNELS, fast_one_shots
from .sequencer import TrackGains, sequence
from .synth import OneShotSynth, batch_peak
from .synth_backward import trained_one_shots


@dataclass
class Analysis:
    """What the encoder and its heads read from a batch of mixtures."""

    onset_logits: torch.Tensor  # (B, K, M)
    velocity: torch.Tensor  # (B, K, M)
    kit_logits: torch.Tensor  # (B, n_kits)
    kit_probs: torch.Tensor  # (B, n_kits)
    gains: torch.Tensor  # (B, K)


def _padded_length(n_samples: int, n_fft: int) -> int:
    return max(-(-n_samples // HOP_LENGTH) * HOP_LENGTH, n_fft)


def encoder_input(audio: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Right-pad (B, T) with zeros to a multiple of the hop (and to at least one FFT frame)."""
    return F.pad(audio, (0, _padded_length(audio.shape[-1], n_fft) - audio.shape[-1]))


def n_frames(n_samples: int, config: ModelConfig) -> int:
    """Number of onset-grid frames M the model produces for an input of `n_samples`."""
    mel_frames = _padded_length(n_samples, config.n_fft) // HOP_LENGTH + 1
    return mel_frames + added_frames(len(config.encoder_dims))


class InverseDrumMachine(nn.Module):
    """The IDM network. `config` holds every size; the defaults are the released model's."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        if config.n_kits < 1:
            raise ValueError(f"n_kits {config.n_kits}: a model needs at least one kit (a training config's "
                             "n_kits 0 is resolved from the data by trainer.config.with_data_kits)")
        self.config = config
        dim = config.feature_dim
        self.encoder = Encoder(config)
        self.kit_classifier = KitClassifier(dim, config.n_kits)
        self.transcriber = TranscriptionHead(dim, config.n_classes, config.head_kernel)
        self.synth = OneShotSynth(config)
        self.track_gains = TrackGains(dim, config.gain_hidden, config.n_classes)
        if config.onset_context:
            self.context = TrackContext(dim, config.n_classes, config.onset_context)
        if config.onset_spectral:
            self.spectral = SpectralOnsets(config.n_mels, config.n_classes, config.onset_spectral,
                                           added_frames(len(config.encoder_dims)), config.onset_spectral_level,
                                           config.onset_spectral_relative)

    def analyse(self, audio: torch.Tensor) -> Analysis:
        """Mixtures (B, T) -> onset logits, velocities, kit logits/probabilities and track gains."""
        features, mel = self.encoder(encoder_input(audio, self.config.n_fft), with_mel=True)
        onset_logits, velocity = self.transcriber(features)
        if self.config.onset_context:
            onset_logits = onset_logits + self.context(features)
        if self.config.onset_spectral:
            onset_logits = onset_logits + self.spectral(mel)
        kit_logits = self.kit_classifier(features)
        gains = self.track_gains(features.mean(1))
        return Analysis(onset_logits, velocity, kit_logits, torch.softmax(kit_logits, -1), gains)

    def conditioning(self, kit_probs: torch.Tensor) -> torch.Tensor:
        """(B, n_kits) -> (B*K, K + n_kits): class one-hot and kit probabilities, item-major."""
        b, k = kit_probs.shape[0], self.config.n_classes
        one_hot = torch.eye(k, device=kit_probs.device, dtype=kit_probs.dtype).expand(b, k, k)
        return torch.cat([one_hot, kit_probs.unsqueeze(1).expand(b, k, -1)], -1).reshape(b * k, -1)

    def one_shots(self, kit_probs: torch.Tensor, noise: torch.Tensor, peak=batch_peak) -> torch.Tensor:
        """Kit probabilities (B, n_kits) and noise (B*K, 1, N) -> one-shot samples (B, K, N).

        `peak(x)` gives the synthesiser's normaliser of its raw output x (default: one max |x|
        for the whole batch, as released). In float32 on the CPU (no autocast) this takes the
        fast paths, same numbers and gradients: `idm.fast_synth` without autograd,
        `idm.synth_backward` with it; elsewhere, for synthesisers narrower than
        `fast_synth.MIN_CHANNELS` or with `synth.plain` set, the definition.
        """
        cond = self.conditioning(kit_probs)
        synth = self.synth
        if (synth.plain or noise.device.type != "cpu" or noise.dtype != torch.float32
                or torch.is_autocast_enabled("cpu") or self.config.synth_channels < MIN_CHANNELS):
            samples = synth(noise, cond, peak)
        elif torch.is_grad_enabled() and (cond.requires_grad or any(p.requires_grad for p in synth.parameters())):
            samples = trained_one_shots(synth, noise, cond, peak)
        else:
            samples = fast_one_shots(synth, noise, cond, peak=peak)
        return samples.reshape(kit_probs.shape[0], self.config.n_classes, -1)

    def true_kit_one_shots(self, kit_probs: torch.Tensor, kit_id: torch.Tensor, noise: torch.Tensor,
                           peak=batch_peak) -> torch.Tensor:
        """`one_shots` conditioned on the true kits `kit_id` (B,) (one-hot; the predicted `kit_probs`
        where the kit is not one of the model's). With one noise block (K, 1, N) for the whole batch,
        the items of one kit share their one-shots, which are synthesised once."""
        b, known = kit_id.shape[0], (kit_id >= 0) & (kit_id < self.config.n_kits)
        one_hot = F.one_hot(kit_id.clamp(0, self.config.n_kits - 1), self.config.n_kits).to(kit_probs.dtype)
        kit_probs = torch.where(known.unsqueeze(-1), one_hot, kit_probs)
        if noise.shape[0] != self.config.n_classes:
            return self.one_shots(kit_probs, noise, peak)
        positions = torch.arange(b, device=kit_id.device)
        groups, inverse = torch.unique(torch.where(known, kit_id, -1 - positions), return_inverse=True)
        first = torch.full((len(groups),), b, device=kit_id.device).scatter_reduce(0, inverse, positions, "amin")
        return self.one_shots(kit_probs[first], noise.repeat(len(groups), 1, 1), peak)[inverse]

    def render(self, activations: torch.Tensor, samples: torch.Tensor, gains: torch.Tensor,
               length: int, start: int = 0) -> torch.Tensor:
        """Activations (B, K, M), one-shots (B, K, N), gains (B, K) -> stems (B, K, length - start).

        Renders samples [start, length) of the stems; only the frames that can reach that
        range are sequenced, so a long input can be rendered segment by segment.
        """
        first = max(0, -(-(start - samples.shape[-1] + 1) // HOP_LENGTH))
        last = min(activations.shape[-1], -(-length // HOP_LENGTH))
        tracks = sequence(activations[..., first:last], samples, length - first * HOP_LENGTH)
        return tracks[..., start - first * HOP_LENGTH:] * gains.unsqueeze(-1)

    def forward(self, audio: torch.Tensor, onset_grid: torch.Tensor = None, noise: torch.Tensor = None,
                sigmoid_grid: bool = True, peak=batch_peak, kit_id: torch.Tensor = None) -> dict:
        """Teacher-forced pass used in training: the decoder is driven by `onset_grid` (B, K, M).
        Without `noise`, only the analysis runs: `{"analysis": ...}` (the transcription task).

        `sigmoid_grid=True` reproduces the released training (`sigmoid(grid) * velocity`);
        False drives it with `grid * velocity`. `peak` as in `one_shots` (the trainer passes
        one that takes the maximum over every DDP rank's batch). `kit_id` (B,), when given,
        conditions the synthesiser on each example's true kit (one-hot) instead of the predicted
        probabilities, except where it is not one of the model's kits (-1: unknown).
        """
        analysis = self.analyse(audio)
        if noise is None:
            return dict(analysis=analysis)
        drive = torch.sigmoid(onset_grid) if sigmoid_grid else onset_grid
        if kit_id is None:
            samples = self.one_shots(analysis.kit_probs, noise, peak)
        else:
            samples = self.true_kit_one_shots(analysis.kit_probs, kit_id, noise, peak)
        stems = self.render(drive * analysis.velocity, samples, analysis.gains, audio.shape[-1])
        return dict(analysis=analysis, samples=samples, stems=stems, mix_estimate=stems.sum(1))
