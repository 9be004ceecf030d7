"""Fast inference path of the one-shot synthesiser, numerically equal to `OneShotSynth`.

The plain definition costs 12 dilated convolutions of 48x48 channels, 15 taps, over
44100 samples per (item, class): ~27 GFLOP each. This path does the same arithmetic
with every pass over memory that is not a matrix product taken out (docs/speed.md):

* activations are time-major (time, R, C), so one time chunk of all rows is a
  contiguous matrix and each tap is a single 2D GEMM with the shared conv weights,
  accumulated in place into a cache-sized chunk;
* FiLM, GELU, the 1x1 residual and the next block's mean are applied to the chunk while
  it is in cache, into preallocated buffers (fresh allocations page-fault);
* the instance norm is applied in place: subtract the mean, then take the sum of
  squares of the centred values, then divide. Block inputs have means up to ~100
  standard deviations, so a one-pass variance or folding the mean into the weights
  would cancel. The residual reads the normalised input and undoes the norm in its
  weights and bias;
* block 0's input is an affine map of one noise channel, so its conv collapses to a
  single-channel conv with 48 outputs (exactly, up to rounding).
"""

import torch
import torch.nn.functional as F

from .synth import OneShotSynth, batch_peak, normalize_batch

_EPS = 1e-5  # F.instance_norm's default


def _block0(synth: OneShotSynth, z: torch.Tensor, cond: torch.Tensor, out: torch.Tensor, chunk: int) -> None:
    """Block 0 on the rank-1 input `a_c * z + b_c`, written time-major into `out` (N, R, C)."""
    block = synth.blocks[0]
    a = synth.in_proj.weight[:, 0, 0]
    b = synth.in_proj.bias
    mu = z.mean(1, keepdim=True)
    var = z.var(1, unbiased=False, keepdim=True)
    kappa = a / torch.sqrt(a * a * var + _EPS)  # (R, C): normalised input = kappa * (z - mu)
    gamma, beta = block.film(cond).chunk(2, dim=1)
    w = block.conv.weight  # (Co, Ci, K)
    taps = torch.einsum("oik,ri->rko", w, kappa) * gamma.unsqueeze(1)  # (R, K, Co)
    bias = (block.conv.bias * gamma + beta).unsqueeze(1)  # (R, 1, Co)
    wres = block.residual.weight[:, :, 0]
    res_a, res_b = wres @ a, wres @ b + block.residual.bias
    k, d, n = w.shape[-1], block.conv.dilation[0], z.shape[1]
    zp = F.pad(z - mu, (block.causal_pad, 0))
    for t0 in range(0, n, chunk):
        tc = min(chunk, n - t0)
        cols = torch.stack([zp[:, t0 + i * d: t0 + i * d + tc] for i in range(k)], dim=-1)  # (R, tc, K)
        y = F.gelu(torch.baddbmm(bias, cols, taps))
        y += z[:, t0:t0 + tc, None] * res_a + res_b
        out[t0:t0 + tc] = y.transpose(0, 1)


def _normalize_(x: torch.Tensor, mean: torch.Tensor, chunk: int, scratch: torch.Tensor) -> torch.Tensor:
    """Instance-normalise time-major `x` (N, R, C) in place; returns the std (R, C).

    Two passes (centre, then sum of squares), so a mean that is large against the
    spread does not cancel the variance.
    """
    x.sub_(mean)
    sumsq = torch.zeros_like(mean, dtype=torch.float64)
    for t0 in range(0, x.shape[0], chunk):
        part = x[t0:t0 + chunk]
        sq = scratch[:part.numel()].view_as(part)
        torch.mul(part, part, out=sq)
        sumsq += sq.sum(0)
    std = torch.sqrt((sumsq / x.shape[0]).float() + _EPS)
    x.div_(std)
    return std


@torch.no_grad()
def fast_one_shots(synth: OneShotSynth, noise: torch.Tensor, cond: torch.Tensor,
                   chunk: int = 1024, peak=batch_peak) -> torch.Tensor:
    """Same result as `synth(noise, cond, peak)` (R, N), computed with the optimisations above."""
    z = noise[:, 0, :]
    r, n = z.shape
    c = synth.in_proj.out_channels
    pads = [blk.causal_pad for blk in synth.blocks]
    room = max(pads[1:], default=0)
    bufs = [z.new_empty(room + n, r, c), z.new_empty(room + n, r, c)]
    acc, scaled = z.new_empty(chunk * r, c), z.new_empty(chunk * r, c)
    _block0(synth, z, cond, bufs[0][room:], chunk)
    total = bufs[0][room:].sum(0, dtype=torch.float64)
    for i, block in enumerate(synth.blocks[1:], start=1):
        src, dst = bufs[(i - 1) % 2], bufs[i % 2]
        mean = (total / n).float()  # (R, C)
        u = src[room:]
        std = _normalize_(u, mean, chunk, scaled.view(-1))
        p, d = pads[i], block.conv.dilation[0]
        src[room - p:room].zero_()
        gamma, beta = block.film(cond).chunk(2, dim=1)  # (R, C)
        shift = block.conv.bias * gamma + beta  # FiLM of the conv bias
        taps = block.conv.weight.permute(2, 1, 0)  # (K, Ci, Co)
        res_w = block.residual.weight[:, :, 0].t()
        res_bias = mean @ res_w + block.residual.bias  # (R, C): the mean removed from u
        flat = src.view(-1, c)
        total = torch.zeros_like(mean, dtype=torch.float64)
        for t0 in range(0, n, chunk):
            tc = min(chunk, n - t0)
            rows = tc * r
            base = (room - p + t0) * r
            a = acc[:rows]
            torch.mm(flat[base: base + rows], taps[0], out=a)
            for k in range(1, taps.shape[0]):
                row = base + k * d * r
                a.addmm_(flat[row: row + rows], taps[k])
            a3 = a.view(tc, r, c)
            torch.addcmul(shift, a3, gamma, out=a3)
            o = dst[room + t0: room + t0 + tc]
            o2 = o.view(rows, c)
            torch.ops.aten.gelu.out(a, out=o2)
            torch.mul(u[t0:t0 + tc], std, out=scaled[:rows].view(tc, r, c))
            o2.addmm_(scaled[:rows], res_w)
            o += res_bias
            total += o.sum(0)
    h = bufs[(len(synth.blocks) - 1) % 2][room:]  # output of the last block (N, R, C)
    out = (h @ synth.out_proj.weight[0, :, 0]).t() + synth.out_proj.bias
    return normalize_batch(out, peak) * synth.envelope(cond).squeeze(1)
