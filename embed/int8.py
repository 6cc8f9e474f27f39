"""Int8 linear layers for CPUs without native bf16: fbgemm's u8 x s8 matrix product, weights
per output channel, activations per token.

Why: on a CPU with AVX2 and no native bf16 (bf16 is emulated there, ~15 GFLOP/s), the
linear layers run in fp32; fbgemm's int8 product runs ~2x fp32 on the model's shapes
(scripts/bench_encode.py measures both in the same process).

Why per token: one static range per layer (measured on calibration texts) put unseen
texts' vectors at cosine 0.86 of fp32, because a few channels of LayerNorm's output run to
20-30 while the rest stay near 1. A range of its own for every token (its min and max, an
asymmetric grid) keeps them at 0.996 or more (the lowest of 328 NTREX, ANS and FarExStance
texts); a symmetric grid per token gave 0.990. The token's range is taken out before the
product and put back after it: y = r * (W q) + c * sum(W) + b, where q = (x - c) / r lies
in [-1, 1], c is the token's midpoint and r its half-range.

Why 7 bits: fbgemm on AVX2 adds pairs of u8 x s8 products in int16 (vpmaddubsw), which
saturates unless activations stay within 0..127; so q is quantised to 128 levels over
[-1, 1] (scale 1/63.5, zero point 64) and the weights to -127..127.

Why a vector still depends on its text alone: the product accumulates in int32, exactly,
so a row's output does not depend on the other rows of its batch or on the threads; every
other step is elementwise per row (tests/test_model.py checks vectors bit for bit across
batches).
"""

from __future__ import annotations

import warnings

SCALE = 1 / 63.5  # q in [-1, 1] -> 0..127 (see the module docstring)
ZERO_POINT = 64
# fbgemm's dynamic product takes its grid from its input's min and max: two rows at the ends
# of [-1, 1] (a hair beyond, for q's own rounding) fix that grid for every batch, so a row's
# result never depends on the rows beside it. Faster here than the product that takes a
# grid as arguments (linear_with_input_q_dq_qweight_dq_output_fp32: 1.71 s against 1.46 s
# of 20 NTREX stories), which gives the same products. SCALE and ZERO_POINT are the grid
# this makes (reduce_range: 0..127), for a reader and for scripts/bench_encode.py.
EDGE = 1 + 1e-5


def available() -> str | None:
    """None when this torch can run int8 linear layers here, else why not."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        return f"torch is not importable ({exc})"
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        return "this torch build has no fbgemm engine"
    from embed.encoder import cpu_flags

    if "avx2" not in cpu_flags():
        return "fbgemm's int8 products need AVX2, which this CPU does not report"
    for op in ("linear_dynamic", "linear_with_input_q_dq_qweight_dq_output_fp32"):
        # the product the layers run, and the one with an explicit grid that checks them
        if not hasattr(torch.ops.quantized, op):
            return f"this torch has no fbgemm {op}"
    return None


class Int8Linear:
    """A linear layer y = x W^T + b on int8, from fp32 weights [out x in] and bias [out]."""

    def __init__(self, weight, bias):
        import torch

        w = weight.float()
        scales = (w.abs().amax(1) / 127).clamp(min=1e-12)
        with warnings.catch_warnings():
            # torch 2.13 warns that quantized tensors are deprecated; they are still how
            # fbgemm's packed weights are made (torch is pinned, see pyproject.toml).
            warnings.simplefilter("ignore", UserWarning)
            q = torch.quantize_per_channel(
                w, scales.double(), torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8
            )
            self.packed = torch.ops.quantized.linear_prepack(q, None)
        # sum(W) as multiplied, not the exact sum: then the weights' rounding multiplies x
        # itself, not x - c (large in every channel when an outlier pulls the midpoint c
        # away from zero): 0.9957 against 0.981 the lowest of 34 headlines' cosines to fp32.
        self.rowsum = q.dequantize().sum(1)
        self.bias = bias.float()
        self.out_features = w.shape[0]
        self._dynamic = torch.ops.quantized.linear_dynamic
        self._torch = torch

    def __call__(self, x):
        torch = self._torch
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        m = x2.shape[0]
        hi = x2.amax(1, keepdim=True)  # two passes: aminmax over a dim ran 10x slower here
        lo = x2.amin(1, keepdim=True)
        c = (hi + lo) * 0.5
        r = ((hi - lo) * 0.5).clamp_(min=1e-12)
        inv = r.reciprocal()
        q = torch.empty((m + 2, shape[-1]), dtype=torch.float32)
        torch.addcmul(-c * inv, x2, inv, out=q[:m])  # (x - c) / r, in [-1, 1]
        q[m] = EDGE  # the grid's ends (see EDGE)
        q[m + 1] = -EDGE
        y = self._dynamic(q, self.packed, True)[:m]
        y.mul_(r).addr_(c[:, 0], self.rowsum).add_(self.bias)
        return y.view(*shape[:-1], self.out_features)
