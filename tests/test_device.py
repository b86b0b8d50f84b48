"""The one autocast choice (mmempathy.device)."""

import pytest
import torch

from mmempathy.device import autocast, autocast_dtype


@pytest.mark.parametrize(
    ("device", "precision", "expected"),
    [
        ("cpu", "auto", None),
        ("cuda", "auto", torch.bfloat16),
        ("cuda:1", "auto", torch.bfloat16),
        ("cpu", "bf16", torch.bfloat16),
        ("cuda", "fp32", None),
    ],
)
def test_autocast_dtype(device, precision, expected):
    assert autocast_dtype(torch.device(device), precision) == expected


def test_autocast_context_changes_matmul_precision_only_when_asked():
    a = torch.randn(4, 4)
    with autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("cpu"):
        assert (a @ a).dtype == torch.float32


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast_dtype("cpu", "fp16")
