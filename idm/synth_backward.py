"""Training path of the one-shot synthesiser: the fast forward with a hand-written backward.

`trained_one_shots` gives the numbers of `OneShotSynth.forward` and, through autograd, the
gradients of its definition (tests compare the two per parameter). The TCN is one autograd
function. Its forward is `idm.fast_synth.tcn_forward` and keeps nothing: the rows (item,
class) are independent, so backward recomputes one row at a time with `keep=True` (its
pre-activations and centred inputs, ~25 (N, C) buffers) and walks its blocks from the last
to the first, each in one pass over time chunks, last chunk first (docs/speed.md):

* the gradient at the block's output gets the next block's deferred norm correction,
  then the GELU derivative (written over the kept pre-activation) and the residual's
  weight gradient;
* the conv's input gradient (one GEMM per tap; it reads later times, done already) and
  its per-row weight correlations (one batched GEMM over the taps), from which the conv
  weights' and FiLM scale's gradients follow; with the taps folded as in the forward,
  the input gradient is already the norm's input gradient less two terms that need sums
  over all times: they are applied when the next block reads the chunk.

Block 0 reads one noise channel: its conv and weight gradients go through the (K, C)
correlations of that channel with the pre-activation gradient, and the in projection's
gradient through the norm's closed form. The forward's GEMMs run twice (once for the
output, once per row in backward), which is what keeps memory at one row's activations.
"""

import torch
import torch.nn.functional as F

from .fast_synth import (CHUNK, EPS, TCNWeights, Workspace, anticausal_conv, block_taps, chunks, film,
                         rank1_input, row_forward, tap_columns, tcn_forward, tcn_weights)
from .synth import OneShotSynth, batch_peak


def weight_correlations(g: torch.Tensor, y: torch.Tensor, d: int, t0: int, tc: int, out: torch.Tensor) -> None:
    """out[k] (K, Ci, Co) += sum over t in [t0, t0 + tc) of y[t - (K-1-k) d]^T g[t]: a causal conv's
    weight gradient from its input y (N, Ci) and output gradient g (N, Co). One batched GEMM over
    the taps where all of them reach t >= 0."""
    k, c = out.shape[0], y.shape[1]
    span = (k - 1) * d
    gc = g[t0:t0 + tc]
    if t0 >= span:
        taps = y.as_strided((k, c, tc), (d * c, 1, c), y.storage_offset() + (t0 - span) * c)
        out.baddbmm_(taps, gc.expand(k, tc, gc.shape[1]))
        return
    for j in range(k):
        o = (k - 1 - j) * d
        s = max(0, o - t0)
        if s < tc:
            out[j].addmm_(y[t0 + s - o:t0 + tc - o].t(), gc[s:])


class _Grads:
    """The TCN's gradients, summed over rows (FiLM's per row), as `_TCN.backward` returns them."""

    def __init__(self, w: TCNWeights, gamma: torch.Tensor):
        self.gamma, self.beta = torch.empty_like(gamma), torch.empty_like(gamma)
        self.in_w, self.in_b = torch.zeros_like(w.in_w), torch.zeros_like(w.in_b)
        self.conv_w, self.conv_b = torch.zeros_like(w.conv_w), torch.zeros_like(w.conv_b)
        self.res_w, self.res_b = torch.zeros_like(w.res_w), torch.zeros_like(w.res_b)
        self.out_w = torch.zeros_like(w.out_w)


def _row_backward(w: TCNWeights, z: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, g_out: torch.Tensor,
                  r: int, space: Workspace, chunk: int, grads: _Grads) -> None:
    """Backward of one row: noise z (N,), FiLM (L, C), the output's gradient g_out (N,); adds into
    `grads` (FiLM's at row r). Its buffers come from `space`."""
    space.reset()
    _, kept = row_forward(w, z, gamma, beta, space, chunk, keep=True)
    n, c, blocks = z.shape[0], w.in_w.shape[0], len(w.dilations)
    k = w.conv_w.shape[-1]
    grads.out_w += kept.last.t() @ g_out + kept.last_bias * g_out.sum()
    # the gradient's sum over time, carried exactly: summing g itself would cancel in float32 (the
    # norms' gradients sum to zero over time, so the bias gradients are small against |g|)
    g_sum = g_out.double().sum() * w.out_w.double()
    g, spare, late = None, None, None
    scratch, product = z.new_empty(chunk, c), z.new_empty(chunk, c)
    for i in range(blocks - 1, 0, -1):
        y, pre, std, mean = kept.centred.pop(), kept.pre.pop(), kept.std.pop(), kept.mean.pop()
        d, res_w = w.dilations[i], w.res_w[i]
        taps = block_taps(w, i, gamma[i], std)
        taps_t, res_t = taps.transpose(1, 2).contiguous(), res_w.t().contiguous()
        g_in = space.take() if spare is None else spare
        corr, d_res = torch.zeros(k, c, c), torch.zeros(c, c)
        d_shift, s1, s2 = (torch.zeros(c, dtype=torch.float64) for _ in range(3))
        for t0, tc in chunks(n, chunk, reverse=True):
            gc = _output_gradient(g, g_out, w.out_w, late, t0, tc, scratch)
            d_res.addmm_(y[t0:t0 + tc].t(), gc)
            gp = pre[t0:t0 + tc]
            torch.ops.aten.gelu_backward.grad_input(gc, gp, approximate="none", grad_input=gp)
            d_shift += gp.sum(0)
            gy = g_in[t0:t0 + tc]
            anticausal_conv(pre, taps_t, d, t0, tc, gy)
            weight_correlations(pre, y, d, t0, tc, corr)
            s1 += gy.sum(0)
            s2 += torch.mul(gy, y[t0:t0 + tc], out=product[:tc]).sum(0)
            gy.addmm_(gc, res_t)
        d_shift, inv = d_shift.float(), 1 / std
        grads.gamma[i, r] = torch.einsum("kio,oik,i->o", corr, w.conv_w[i], inv) + d_shift * w.conv_b[i]
        grads.beta[i, r] = d_shift
        grads.conv_b[i] += d_shift * gamma[i]
        grads.conv_w[i] += torch.einsum("kio,o,i->oik", corr, gamma[i], inv)
        grads.res_w[i] += d_res + (mean.double().outer(g_sum)).float()
        grads.res_b[i] += g_sum.float()
        # the norm's terms that need whole-time sums, applied as block i-1 reads its gradient
        late = (y, (s1 / n).float(), (s2 / n).float() * inv * inv)
        g_sum = g_sum @ res_t.double()  # the norm's input gradient sums to zero over time
        spare, g = g, g_in
    _block0_backward(w, z, gamma[0], g, g_out, late, g_sum, kept.pre.pop(), chunk, scratch, grads, r)


def _output_gradient(g, g_out, out_w, late, t0, tc, scratch):
    """The gradient at a block's output for times [t0, t0 + tc): the out projection's, for the last
    block (g None), else g with the next block's deferred norm terms applied in place."""
    if g is None:
        return torch.outer(g_out[t0:t0 + tc], out_w, out=scratch[:tc])
    gc = g[t0:t0 + tc]
    y, a1, a2 = late
    return gc.sub_(a1).addcmul_(y[t0:t0 + tc], a2, value=-1)


def _block0_backward(w: TCNWeights, z: torch.Tensor, gamma: torch.Tensor, g, g_out, late,
                     g_sum: torch.Tensor, pre: torch.Tensor, chunk: int, scratch: torch.Tensor, grads: _Grads,
                     r: int) -> None:
    """Backward of block 0 (input `in_w * z + in_b`, rank 1) for one row."""
    n, c = pre.shape
    kappa, centred, var = rank1_input(w, z)
    d, k = w.dilations[0], w.conv_w.shape[-1]
    padded = F.pad(centred, ((k - 1) * d, 0))
    corr = torch.zeros(k, c)  # corr[k, o] = sum_t centred[t - (K-1-k) d] g_pre[t, o]
    d_shift = torch.zeros(c, dtype=torch.float64)
    z_g = torch.zeros(c)  # sum_t z[t] g[t, o]
    for t0, tc in chunks(n, chunk):
        gc = _output_gradient(g, g_out, w.out_w, late, t0, tc, scratch)
        z_g.addmv_(gc.t(), z[t0:t0 + tc])
        gp = pre[t0:t0 + tc]
        torch.ops.aten.gelu_backward.grad_input(gc, gp, approximate="none", grad_input=gp)
        d_shift += gp.sum(0)
        corr.addmm_(tap_columns(padded, d, k, t0, tc).t(), gp)
    d_shift, g_total, conv_w = d_shift.float(), g_sum.float(), w.conv_w[0]
    grads.gamma[0, r] = torch.einsum("ko,oik,i->o", corr, conv_w, kappa) + d_shift * w.conv_b[0]
    grads.beta[0, r] = d_shift
    grads.conv_b[0] += d_shift * gamma
    grads.conv_w[0] += torch.einsum("ko,o,i->oik", corr, gamma, kappa)
    d_kappa = torch.einsum("ko,o,oik->i", corr, gamma, conv_w)
    d_norm = EPS * (w.in_w * w.in_w * var + EPS) ** -1.5  # d kappa / d in_w
    grads.in_w += d_kappa * d_norm + w.res_w[0] @ z_g
    grads.in_b += w.res_w[0] @ g_total
    grads.res_w[0] += torch.outer(w.in_w, z_g) + torch.outer(w.in_b, g_total)
    grads.res_b[0] += g_total


class _TCN(torch.autograd.Function):
    """The TCN (noise (R, N), FiLM (L, R, C) twice, `TCNWeights`) -> raw output (R, N)."""

    @staticmethod
    def forward(ctx, z, gamma, beta, in_w, in_b, conv_w, conv_b, res_w, res_b, out_w, out_b, dilations, chunk):
        w = TCNWeights(in_w, in_b, conv_w, conv_b, res_w, res_b, out_w, out_b, dilations)
        ctx.save_for_backward(z, gamma, beta, in_w, in_b, conv_w, conv_b, res_w, res_b, out_w, out_b)
        ctx.dilations, ctx.chunk = dilations, chunk
        return tcn_forward(w, z, gamma, beta, chunk)

    @staticmethod
    def backward(ctx, out_grad):
        z, gamma, beta, *tensors = ctx.saved_tensors
        w = TCNWeights(*tensors, ctx.dilations)
        grads, space = _Grads(w, gamma), Workspace(z.shape[1], w.in_w.shape[0], z)
        for r in range(z.shape[0]):
            _row_backward(w, z[r], gamma[:, r], beta[:, r], out_grad[r].contiguous(), r, space, ctx.chunk, grads)
        return (None, grads.gamma, grads.beta, grads.in_w, grads.in_b, grads.conv_w, grads.conv_b, grads.res_w,
                grads.res_b, grads.out_w, out_grad.sum(), None, None)


@torch.compiler.disable  # eager under train.compile: tracing would unroll every row's loops
def trained_one_shots(synth: OneShotSynth, noise: torch.Tensor, cond: torch.Tensor, peak=batch_peak,
                      chunk: int = CHUNK) -> torch.Tensor:
    """`synth(noise, cond, peak)` (R, N) on the fast path, differentiable: gradients reach every
    parameter of `synth` and `cond` as through the definition. CPU, float32."""
    gamma, beta = film(synth, cond)
    w = tcn_weights(synth)
    return synth.finish(_TCN.apply(noise[:, 0, :], gamma, beta, *w[:-1], w.dilations, chunk), cond, peak)
