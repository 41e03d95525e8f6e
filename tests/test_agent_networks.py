"""The agent's faster layers compute what the plain PyTorch layers compute, gradients included."""

import pytest
import torch
import torch.nn as nn

from genreward_cli.agent.networks import ThinConvTranspose2d


def _pair(bias: bool):
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(8, 3, 4, 2, 1, bias=bias).to(memory_format=torch.channels_last)
    if bias:
        nn.init.normal_(ref.bias)
    thin = ThinConvTranspose2d(8, 3, 4, 2, 1, bias=bias).to(memory_format=torch.channels_last)
    thin.load_state_dict(ref.state_dict())
    return ref, thin


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("input_grad", [True, False])
def test_thin_deconv_matches_conv_transpose_with_gradients(bias, input_grad):
    ref, thin = _pair(bias)
    x = torch.randn(5, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    target = torch.randn(5, 3, 12, 12)
    outs, grads = [], []
    for layer in (ref, thin):
        xi = x.clone().requires_grad_(input_grad)
        y = layer(xi)
        ((y - target) ** 2).sum().backward()
        outs.append(y)
        grads.append([xi.grad] + [p.grad for p in layer.parameters()])
    assert outs[1].shape == (5, 3, 12, 12)
    torch.testing.assert_close(outs[1], outs[0])
    for got, want in zip(grads[1], grads[0]):
        assert (got is None) == (want is None)
        if want is not None:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert (grads[1][0] is not None) == input_grad


def test_thin_deconv_follows_bf16_autocast():
    ref, thin = _pair(True)
    x = torch.randn(5, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want, got = ref(x), thin(x)
    assert got.dtype == want.dtype == torch.bfloat16
    torch.testing.assert_close(got, want)
    got.float().sum().backward()
    assert thin.weight.grad.dtype == torch.float32  # the parameter stays fp32
    want.float().sum().backward()
    torch.testing.assert_close(thin.weight.grad, ref.weight.grad, rtol=2e-2, atol=2e-2)
