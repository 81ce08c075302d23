"""BatchNorm folding for eval-mode passes: every registered model keeps its function (up to
float rounding), the original model is untouched, and a BatchNorm that is not fed by a
convolution alone stays."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearn_cli.models import MODELS, build_model
from unlearn_cli.train.fold import count_batchnorms, fold_batchnorm


def _randomise_batchnorms(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_keeps_its_function(name):
    torch.manual_seed(0)
    size = 32
    model = build_model(name, channels=3, image_size=size, num_classes=10, width=0.125)
    _randomise_batchnorms(model)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-4, rtol=1e-4)
    assert count_batchnorms(folded) <= count_batchnorms(model)


def test_resnet18_loses_every_batchnorm():
    model = build_model("resnet18", channels=3, image_size=32, num_classes=10, width=0.125)
    assert count_batchnorms(model) == 20 and count_batchnorms(fold_batchnorm(model)) == 0


def test_a_batchnorm_whose_convolution_output_is_also_used_elsewhere_stays():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y  # folding would change the second use of y

    model = Shared().eval()
    _randomise_batchnorms(model)
    folded = fold_batchnorm(model)
    assert count_batchnorms(folded) == 1
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x))


def test_an_untraceable_model_is_returned_unfolded_in_eval_mode():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            if x.sum() > 0:  # fx cannot trace a branch on a tensor's value
                return self.bn(self.conv(x))
            return x

    model = DataDependent().train()
    folded = fold_batchnorm(model)
    assert folded is not model and not folded.training and model.training
    assert count_batchnorms(folded) == 1
