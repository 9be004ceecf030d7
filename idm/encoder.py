"""Encoder: log-mel -> ConvNeXt (frequency downsampled, time kept) -> frame features.

Also the heads that read the frame features: the kit classifier, the transcription head
(onset logits and velocities) and the optional track context (onset logit offsets).
"""

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .mel import LogMel


def exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`2 * sigmoid(x) ** ln(10) + 1e-7`, the positive activation used for gains and velocities."""
    return 2.0 * torch.sigmoid(x) ** 2.302585092994046 + 1e-7


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a (B, C, H, W) tensor, with per-channel affine."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv -> LayerNorm -> MLP (4x, GELU) -> layer scale -> residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.depthwise = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.expand = nn.Linear(dim, 4 * dim)
        self.project = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(x).permute(0, 2, 3, 1)
        y = self.project(F.gelu(self.expand(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


def added_frames(n_stages: int) -> int:
    """Frames the backbone adds in time: each of its n_stages - 1 downsample convs adds 4."""
    return 4 * (n_stages - 1)


class Downsample(nn.Module):
    """Channels-first LayerNorm then a 3x3 conv that halves frequency and adds 4 frames in time.

    The time padding of 3 with a kernel of 3 is the released model's quirk: keep it.
    """

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.norm = ChannelsFirstLayerNorm(dim_in)
        self.conv = nn.Conv2d(dim_in, dim_out, kernel_size=3, stride=(2, 1), padding=(0, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x))


class Stem(nn.Module):
    """7x7 conv, frequency stride 4, then a channels-first LayerNorm."""

    def __init__(self, dim_out: int):
        super().__init__()
        self.conv = nn.Conv2d(1, dim_out, kernel_size=7, stride=(4, 1), padding=(0, 3))
        self.norm = ChannelsFirstLayerNorm(dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class ConvNeXt(nn.Module):
    """ConvNeXt on a (B, 1, n_mels, F) log-mel image -> (B, M, D) frame features, M = F + 12.

    Every layer is local in time, so long inputs are processed `chunk_frames` frames at a
    time with `CONTEXT` frames of context on each side (more than the receptive radius
    of about 63 frames): the kept frames are the same as in one piece.
    """

    CONTEXT = 96

    def __init__(self, dims, depths):
        super().__init__()
        self.stem = Stem(dims[0])
        self.downsample = nn.ModuleList(Downsample(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(depth))) for dim, depth in zip(dims, depths)
        )
        self.out_norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.extra_frames = added_frames(len(dims))

    def _whole(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages[0](self.stem(x))
        for down, stage in zip(self.downsample, self.stages[1:]):
            x = stage(down(x))
        return self.out_norm(x.mean(2).transpose(1, 2))

    def forward(self, x: torch.Tensor, chunk_frames: int = 8192) -> torch.Tensor:
        n = x.shape[-1]
        if n <= chunk_frames + 2 * self.CONTEXT:
            return self._whole(x)
        parts = []
        for a in range(0, n, chunk_frames):
            b = min(n, a + chunk_frames)
            a0, b0 = max(0, a - self.CONTEXT), min(n, b + self.CONTEXT)
            y = self._whole(x[..., a0:b0])  # local frame i is global frame a0 + i
            parts.append(y[:, a - a0: b - a0 + (self.extra_frames if b == n else 0)])
        return torch.cat(parts, 1)


class Encoder(nn.Module):
    """Waveform (B, T) -> frame features (B, M, D)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.mel = LogMel(config.n_fft, config.n_mels)
        self.backbone = ConvNeXt(config.encoder_dims, config.encoder_depths)

    def forward(self, audio: torch.Tensor, chunk_frames: int = 8192, with_mel: bool = False):
        """Frame features (B, M, D), and the log-mel (B, n_mels, F) they were read from where `with_mel`."""
        mel = self.mel(audio, chunk_frames)
        features = self.backbone(mel.unsqueeze(1), chunk_frames)
        return (features, mel) if with_mel else features


class KitClassifier(nn.Module):
    """Frame features (B, M, D) -> kit logits (B, n_kits), from the time average."""

    def __init__(self, dim: int, n_kits: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.hidden = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, n_kits)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.norm(features).mean(1)
        return self.out(torch.relu(self.hidden(pooled)))


class TranscriptionHead(nn.Module):
    """Frame features (B, M, D) -> onset logits and velocities, each (B, K, M)."""

    def __init__(self, dim: int, n_classes: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding="same")
        self.onset = nn.Linear(dim, n_classes)
        self.velocity = nn.Linear(dim, n_classes)

    def forward(self, features: torch.Tensor):
        h = torch.relu(self.conv(features.transpose(1, 2))).transpose(1, 2)
        return self.onset(h).transpose(1, 2), exp_sigmoid(self.velocity(h)).transpose(1, 2)


class TrackContext(nn.Module):
    """Frame features (B, M, D) -> onset logit offsets (B, K, M) read with the whole track in view.

    The transcription head hears about 0.4 s around a frame, too little to tell a kit's mid tom
    from its high tom by their pitches relative to each other. Here `heads` learned queries pool
    every frame of the track by attention (linear in its length, the same summary for a crop as
    for a whole song), and a small MLP reads each frame's features beside that summary. Its last
    layer starts at zero, so a model that gains it transcribes as before until it trains.
    """

    def __init__(self, dim: int, n_classes: int, width: int, heads: int = 4):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.keys = nn.Linear(dim, width)
        self.values = nn.Linear(dim, width)
        self.queries = nn.Parameter(torch.randn(heads, width) / width ** 0.5)
        self.hidden = nn.Linear(dim + heads * width, 2 * width)
        self.out = nn.Linear(2 * width, n_classes)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.norm(features)
        scores = torch.einsum("bmc,hc->bhm", self.keys(x), self.queries) / self.queries.shape[1] ** 0.5
        summary = (torch.softmax(scores, -1) @ self.values(x)).flatten(1)
        h = torch.relu(self.hidden(torch.cat([x, summary[:, None].expand(-1, x.shape[1], -1)], -1)))
        return self.out(h).transpose(1, 2)


class SpectralOnsets(nn.Module):
    """Log-mel (B, n_mels, F) -> onset logit offsets (B, K, F + frames_added) on the onset grid.

    The backbone averages frequency away and hands the heads 32 values a frame, little to tell a
    mid tom from a high tom or an open hi-hat from a closed one. This branch reads every mel band
    and its rise (the positive frame-to-frame difference), each normalised over the bands, through
    four dilated convolutions in time (15 frames, 87 ms, each side); with `level` False, the rise
    alone; with `relative`, each band's level less its mean over the input's frames. Grid frame m
    is the time of mel frame m (the backbone's features lag it by half its `frames_added`, which
    its wide receptive field absorbs; this branch's is too short to), so the frames the grid has
    beyond the mel's are padded at the end. Its last layer starts at zero, so a
    model that gains it transcribes as before until it trains.
    """

    def __init__(self, n_mels: int, n_classes: int, width: int, frames_added: int, level: bool = True,
                 relative: bool = False):
        super().__init__()
        self.frames_added, self.relative = frames_added, relative
        self.level_norm = nn.LayerNorm(n_mels) if level else None
        self.rise_norm = nn.LayerNorm(n_mels)
        self.convs = nn.ModuleList([nn.Conv1d((2 if level else 1) * n_mels, width, 3, padding="same")]
                                   + [nn.Conv1d(width, width, 3, padding="same", dilation=d) for d in (2, 4, 8)])
        self.out = nn.Linear(width, n_classes)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.transpose(1, 2)
        rise = torch.relu(torch.diff(x, dim=1, prepend=x[:, :1]))
        parts = [self.rise_norm(rise)]
        if self.level_norm is not None:
            parts.insert(0, self.level_norm(x - x.mean(1, keepdim=True) if self.relative else x))
        h = torch.cat(parts, -1).transpose(1, 2)
        for conv in self.convs:
            h = torch.relu(conv(h))
        return F.pad(self.out(h.transpose(1, 2)).transpose(1, 2), (0, self.frames_added))
