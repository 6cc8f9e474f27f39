"""embed/int8.py: int8 linear layers with per-token ranges, against fp32 on real shapes."""

from __future__ import annotations

import pytest

from embed import int8

pytestmark = pytest.mark.skipif(int8.available() is not None, reason=str(int8.available()))


@pytest.fixture(scope="module")
def layer():
    import torch

    g = torch.Generator().manual_seed(7)
    weight = torch.randn(1536, 384, generator=g) * 0.05
    bias = torch.randn(1536, generator=g) * 0.1
    return weight, bias, int8.Int8Linear(weight, bias)


def _error(got, want) -> float:
    return float((got - want).norm() / want.norm())


def test_close_to_fp32_and_a_range_per_token_beats_one_for_the_batch(layer) -> None:
    """7-bit activations cost ~1.5% of a product on Gaussian tokens. LayerNorm's output has
    a few channels far larger than the rest: with one range for the whole batch, those set
    the grid of every token; with a range per token, only of their own."""
    import torch

    weight, bias, q = layer
    g = torch.Generator().manual_seed(8)
    x = torch.randn(3, 57, 384, generator=g)
    want = torch.nn.functional.linear(x, weight, bias)
    assert q(x).shape == want.shape == (3, 57, 1536)
    assert _error(q(x), want) < 0.02
    x[..., 11] *= 8.0  # an outlier channel
    x[1] += 3.0  # tokens whose range is far from zero (the asymmetric grid's case)
    want = torch.nn.functional.linear(x, weight, bias)
    lo, hi = x.amin(), x.amax()  # one range for the batch, the same arithmetic otherwise
    c, r = (hi + lo) / 2, (hi - lo) / 2
    flat = ((x - c) / r).reshape(-1, 384)
    op = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32
    one = op(flat, int8.SCALE, int8.ZERO_POINT, q.packed).view(3, 57, 1536) * r
    one = one + c * q.rowsum + bias
    assert _error(q(x), want) < 0.03
    assert _error(q(x), want) < 0.5 * _error(one, want)


def test_a_row_does_not_depend_on_the_others(layer) -> None:
    """The products are exact integers: the same token gives the same bits in any batch."""
    import torch

    _, _, q = layer
    x = torch.randn(40, 384)
    whole = q(x)
    assert torch.equal(whole[5:9], q(x[5:9]))
    assert torch.equal(whole[17:18], q(x[17:18]))
    assert torch.equal(whole.flip(0), q(x.flip(0)))


def test_a_constant_token_is_its_value_times_the_rounded_weights(layer) -> None:
    """A token with no range (every channel equal) is no division by zero: its product is
    exact for the weights as rounded to int8."""
    import torch

    weight, bias, q = layer
    x = torch.full((2, 384), 0.5)
    got = q(x)
    assert torch.isfinite(got).all()
    rounded = torch.ops.quantized.linear_unpack(q.packed)[0].dequantize()
    assert torch.allclose(got, torch.nn.functional.linear(x, rounded, bias), atol=1e-5)
    assert torch.allclose(got, torch.nn.functional.linear(x, weight, bias), atol=0.02)
