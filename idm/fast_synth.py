"""Fast forward pass of the one-shot synthesiser, numerically equal to `OneShotSynth`.

The plain definition costs 12 dilated convolutions of 48x48 channels, 15 taps, over
44100 samples per (item, class): ~27 GFLOP each. This path does the same arithmetic
with every pass over memory that is not a matrix product taken out (docs/speed.md):

* the rows (item, class) are independent until the peak normaliser, so they run one
  at a time: every per-row constant folds into the weights, and a row's activations
  (time, C) are small;
* activations are time-major, so one time chunk is a contiguous matrix and each tap
  is a single 2D GEMM with the conv weights, accumulated in place into the chunk; the
  causal zero padding is never stored: a tap whose source lies before the start
  covers fewer rows;
* the instance norm is a centring in place, then a sum of squares of the centred
  values (block inputs have means up to ~100 standard deviations, so a one-pass
  variance would cancel); its 1/std and FiLM's scale fold into the conv's taps, FiLM's
  shift into the GEMM's bias, and the residual reads the centred input, its mean
  carried in the bias. A constant over time does not change a normalised input, so
  those biases are never added to the activations, only to the means;
* block 0's input is an affine map of one noise channel, so its conv collapses to a
  single-channel conv with 48 outputs (exactly, up to rounding);
* the last block's output is projected to one channel chunk by chunk.

Inference calls `fast_one_shots`. Training (`idm.synth_backward`) runs `row_forward` again
in backward with `keep=True`, which keeps each block's pre-activation for a hand-written
backward.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .synth import OneShotSynth, batch_peak

EPS = 1e-5  # F.instance_norm's default
CHUNK = 8192
"""Time steps per chunk: big GEMMs, few calls, and a chunk of 48 channels still in cache."""
MIN_CHANNELS = 32
"""Below this width the per-row GEMMs are too small to pay: the definition's batched conv is faster
(configs/tiny.yaml's 8 channels, benchmarks/train_paths.py)."""


class TCNWeights(NamedTuple):
    """The TCN's tensors in the layouts the fast path reads; per-block tensors stacked (L, ...)."""

    in_w: torch.Tensor  # (C,): in projection, one input channel
    in_b: torch.Tensor  # (C,)
    conv_w: torch.Tensor  # (L, Co, Ci, K)
    conv_b: torch.Tensor  # (L, C)
    res_w: torch.Tensor  # (L, Ci, Co): the 1x1 residual, transposed for `x @ res_w`
    res_b: torch.Tensor  # (L, C)
    out_w: torch.Tensor  # (C,): out projection
    out_b: torch.Tensor  # ()
    dilations: tuple


def tcn_weights(synth: OneShotSynth) -> TCNWeights:
    """`synth`'s tensors as `TCNWeights` (views and stacks of its parameters; differentiable)."""
    blocks = synth.blocks
    return TCNWeights(
        synth.in_proj.weight[:, 0, 0], synth.in_proj.bias,
        torch.stack([b.conv.weight for b in blocks]), torch.stack([b.conv.bias for b in blocks]),
        torch.stack([b.residual.weight[:, :, 0].t() for b in blocks]), torch.stack([b.residual.bias for b in blocks]),
        synth.out_proj.weight[0, :, 0], synth.out_proj.bias[0], tuple(b.conv.dilation[0] for b in blocks))


def film(synth: OneShotSynth, cond: torch.Tensor) -> tuple:
    """Every block's FiLM scale and shift for conditioning (R, C'): two (L, R, C) tensors."""
    gamma, beta = torch.stack([block.film(cond) for block in synth.blocks]).chunk(2, dim=-1)
    return gamma, beta


def chunks(n: int, chunk: int, reverse: bool = False):
    """(t0, tc): the time chunks of [0, n), last first when `reverse`."""
    starts = range(0, n, chunk)
    for t0 in reversed(starts) if reverse else starts:
        yield t0, min(chunk, n - t0)


def causal_conv(src: torch.Tensor, taps: torch.Tensor, d: int, t0: int, tc: int, out: torch.Tensor,
                bias: torch.Tensor) -> None:
    """out = bias + sum_k src[t - (K-1-k) d] @ taps[k] for t in [t0, t0 + tc); src (N, Ci), taps
    (K, Ci, Co); zero before time 0."""
    last = taps.shape[0] - 1
    torch.addmm(bias, src[t0:t0 + tc], taps[last], out=out)
    for k in range(last):
        o = (last - k) * d
        s = max(0, o - t0)
        if s < tc:
            out[s:].addmm_(src[t0 + s - o:t0 + tc - o], taps[k])


def anticausal_conv(src: torch.Tensor, taps_t: torch.Tensor, d: int, t0: int, tc: int, out: torch.Tensor) -> None:
    """out = sum_k src[t + (K-1-k) d] @ taps_t[k] for t in [t0, t0 + tc): the input gradient of
    `causal_conv` for output gradient `src`, with taps_t (K, Co, Ci); zero after time N."""
    last = taps_t.shape[0] - 1
    torch.mm(src[t0:t0 + tc], taps_t[last], out=out)
    for k in range(last):
        o = (last - k) * d
        e = min(tc, src.shape[0] - o - t0)
        if e > 0:
            out[:e].addmm_(src[t0 + o:t0 + o + e], taps_t[k])


def rank1_input(w: TCNWeights, z: torch.Tensor) -> tuple:
    """Block 0's normalised input for noise z (N,) is kappa * (z - mean(z)): kappa (C,), the
    centred noise (N,) and its variance ()."""
    centred = z - z.mean()
    var = centred.square().mean()
    return w.in_w / torch.sqrt(w.in_w * w.in_w * var + EPS), centred, var


def tap_columns(padded: torch.Tensor, d: int, k: int, t0: int, tc: int) -> torch.Tensor:
    """(tc, K) view: the K dilated taps of the left-padded centred noise for times [t0, t0 + tc)."""
    return padded.as_strided((tc, k), (1, d), t0)


def block0_taps(w: TCNWeights, kappa: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """(K, Co): block 0's conv of the rank-1 input kappa * centred noise, with FiLM's scale."""
    return torch.einsum("oik,i->ko", w.conv_w[0], kappa) * gamma


def block_taps(w: TCNWeights, i: int, gamma: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(K, Ci, Co): block i's conv taps with FiLM's scale and the input norm's 1/std folded in."""
    return (w.conv_w[i].permute(2, 1, 0) * (gamma / std.unsqueeze(-1))).contiguous()


def centre_(x: torch.Tensor, mean: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    """Subtract `mean` (C,) from x (N, C) in place, a chunk of `scratch`'s length at a time;
    returns the std (C,) of x."""
    sumsq = torch.zeros(x.shape[1], dtype=torch.float64)
    for t0, tc in chunks(x.shape[0], scratch.shape[0]):
        part = x[t0:t0 + tc].sub_(mean)
        sumsq += torch.mul(part, part, out=scratch[:tc]).sum(0)
    return torch.sqrt((sumsq / x.shape[0]).float() + EPS)


class Kept(NamedTuple):
    """One row's activations kept for backward: block i's pre-activation (blocks 0..L-1), the
    centred input, its std and mean (blocks 1..L-1), and the last block's output, less its bias."""

    pre: list
    centred: list
    std: list
    mean: list
    last: torch.Tensor
    last_bias: torch.Tensor


class Workspace:
    """(N, C) buffers lent in turn, allocated once and reused by every row: a fresh buffer of this
    size is mapped anew by the allocator and page-faults on first write."""

    def __init__(self, n: int, c: int, like: torch.Tensor):
        self.n, self.c, self.like, self.buffers, self.lent = n, c, like, [], 0

    def take(self) -> torch.Tensor:
        if self.lent == len(self.buffers):
            self.buffers.append(self.like.new_empty(self.n, self.c))
        self.lent += 1
        return self.buffers[self.lent - 1]

    def reset(self) -> None:
        """Every buffer is free again (the next row)."""
        self.lent = 0


def row_forward(w: TCNWeights, z: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, space: Workspace,
                chunk: int = CHUNK, keep: bool = False) -> tuple:
    """One row of the TCN: noise z (N,), FiLM gamma, beta (L, C) -> (un-normalised output (N,),
    `Kept` or None), in buffers of `space`: two without `keep`, 2L with it."""
    n, c, blocks = z.shape[0], w.in_w.shape[0], len(w.dilations)
    kept = Kept([], [], [], [], None, None) if keep else None
    scratch = z.new_empty(chunk, c)
    buffers = [space.take() for _ in range(1 if keep else 2)]

    def pre_buffer():
        if keep:
            kept.pre.append(space.take())
        return kept.pre[-1] if keep else None

    kappa, centred, _ = rank1_input(w, z)
    d, k = w.dilations[0], w.conv_w.shape[-1]
    taps, shift = block0_taps(w, kappa, gamma[0]), w.conv_b[0] * gamma[0] + beta[0]
    res_a = w.in_w @ w.res_w[0]
    padded, h, pre_all = F.pad(centred, ((k - 1) * d, 0)), buffers[0], pre_buffer()
    total = torch.zeros(c, dtype=torch.float64)
    for t0, tc in chunks(n, chunk):
        pre = pre_all[t0:t0 + tc] if keep else scratch[:tc]
        torch.addmm(shift, tap_columns(padded, d, k, t0, tc), taps, out=pre)
        hc = h[t0:t0 + tc]
        torch.ops.aten.gelu.out(pre, out=hc)
        hc.addr_(z[t0:t0 + tc], res_a)
        total += hc.sum(0)
    bias = w.in_b @ w.res_w[0] + w.res_b[0]  # the block's output is h + bias
    for i in range(1, blocks):
        y, h_mean = h, (total / n).float()
        mean = h_mean + bias  # of the block's input h + bias
        std = centre_(y, h_mean, scratch)
        if keep:
            kept.centred.append(y)
            kept.std.append(std)
            kept.mean.append(mean)
            h = space.take()
        else:
            h = buffers[i % 2]
        taps, shift, res_w = block_taps(w, i, gamma[i], std), w.conv_b[i] * gamma[i] + beta[i], w.res_w[i]
        d, pre_all = w.dilations[i], pre_buffer()
        total = torch.zeros(c, dtype=torch.float64)
        for t0, tc in chunks(n, chunk):
            pre = pre_all[t0:t0 + tc] if keep else scratch[:tc]
            causal_conv(y, taps, d, t0, tc, pre, shift)
            hc = h[t0:t0 + tc]
            torch.ops.aten.gelu.out(pre, out=hc)
            hc.addmm_(y[t0:t0 + tc], res_w)
            if i < blocks - 1:
                total += hc.sum(0)
        bias = mean @ res_w + w.res_b[i]
    if keep:
        kept = kept._replace(last=h, last_bias=bias)
    return h @ w.out_w + (bias @ w.out_w + w.out_b), kept


def tcn_forward(w: TCNWeights, z: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                chunk: int = CHUNK) -> torch.Tensor:
    """The un-normalised TCN output (R, N) for noise z (R, N) and FiLM gamma, beta (L, R, C)."""
    space, rows = Workspace(z.shape[1], w.in_w.shape[0], z), []
    for r in range(z.shape[0]):
        space.reset()
        rows.append(row_forward(w, z[r], gamma[:, r], beta[:, r], space, chunk)[0])
    return torch.stack(rows)


@torch.compiler.disable  # eager under torch.compile: tracing would unroll every row's loops
@torch.no_grad()
def fast_one_shots(synth: OneShotSynth, noise: torch.Tensor, cond: torch.Tensor,
                   chunk: int = CHUNK, peak=batch_peak) -> torch.Tensor:
    """Same result as `synth(noise, cond, peak)` (R, N), computed with the optimisations above."""
    gamma, beta = film(synth, cond)
    return synth.finish(tcn_forward(tcn_weights(synth), noise[:, 0, :], gamma, beta, chunk), cond, peak)
