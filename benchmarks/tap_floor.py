"""The CPU floor of a training step's synthesiser: its C x C tap GEMMs at the rate torch reaches on them.

A block's dilated conv is K GEMMs of (time, C) x (C, C) per row (item x class). Training needs
each three times: the forward, the input gradient and the weight gradient. The floor is those
FLOPs at the best rate this machine reaches on that shape (accumulated in place, as the fast
path runs them), over a few chunk lengths.
"""

import statistics
import time

import torch

CHUNKS = (2048, 4096, 8192, 16384)


def synth_gemm_flops(model_config, rows: int) -> float:
    """FLOPs of the synthesiser's tap GEMMs in one training step of `rows` one-shots."""
    c, k = model_config.synth_channels, model_config.synth_kernel
    return 3 * 2 * c * c * k * model_config.one_shot_length * rows * model_config.synth_layers


def tap_gemm_rate(c: int, k: int, n: int = 44100, repeats: int = 3) -> float:
    """FLOP/s of K accumulated (chunk, C) x (C, C) GEMMs over n time steps: the median of `repeats`
    passes, at the best chunk length of CHUNKS."""
    x, w, out = torch.randn(n, c), torch.randn(k, c, c), torch.empty(n, c)
    best = 0.0
    for chunk in CHUNKS:
        rates = []
        for _ in range(repeats):
            start, flops = time.perf_counter(), 0
            for t0 in range(0, n - chunk + 1, chunk):
                o = out[t0:t0 + chunk]
                torch.mm(x[t0:t0 + chunk], w[0], out=o)
                for j in range(1, k):
                    o.addmm_(x[t0:t0 + chunk], w[j])
                flops += 2 * chunk * c * c * k
            rates.append(flops / (time.perf_counter() - start))
        best = max(best, statistics.median(rates))
    return best
