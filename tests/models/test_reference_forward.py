"""The corrective repository's two networks, logit for logit.

For each, the test writes a state dict under the reference's own parameter names and
shapes (drimpossible/corrective-unlearning-bench, src/resnet.py), runs a short hand
transcription of the reference's forward in plain functional ops, loads the same tensors
into our model (renaming only the modules whose names differ) and compares the logits,
in eval mode (running statistics) and in train mode (batch statistics). Small widths:
the layout, not the size, is under test (the sizes are pinned in test_sizes.py).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unlearn_cli.models import build_model, scale_channels

NUM_CLASSES = 5
WIDTH = 1 / 8
BN_EPS = 1e-5


class Weights:
    """A state dict under construction, with values that keep activations moderate."""

    def __init__(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.state: dict[str, torch.Tensor] = {}

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen)

    def conv(self, name: str, c_in: int, c_out: int, k: int, bias: bool = True) -> None:
        self.state[f"{name}.weight"] = self._randn(c_out, c_in, k, k) * (2 / (c_in * k * k)) ** 0.5
        if bias:
            self.state[f"{name}.bias"] = 0.1 * self._randn(c_out)

    def bn(self, name: str, c: int) -> None:
        self.state[f"{name}.weight"] = 1 + 0.1 * self._randn(c)
        self.state[f"{name}.bias"] = 0.1 * self._randn(c)
        self.state[f"{name}.running_mean"] = 0.1 * self._randn(c)
        self.state[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=self.gen)
        self.state[f"{name}.num_batches_tracked"] = torch.tensor(0)

    def linear(self, name: str, c_in: int, c_out: int, bias: bool = True) -> None:
        self.state[f"{name}.weight"] = self._randn(c_out, c_in) / c_in**0.5
        if bias:
            self.state[f"{name}.bias"] = 0.1 * self._randn(c_out)


def _batch_norm(x: torch.Tensor, sd: dict[str, torch.Tensor], name: str, train: bool):
    mean, var = (None, None) if train else (sd[f"{name}.running_mean"], sd[f"{name}.running_var"])
    return F.batch_norm(
        x, mean, var, sd[f"{name}.weight"], sd[f"{name}.bias"], training=train, eps=BN_EPS
    )


def _renamed(state: dict[str, torch.Tensor], renames: dict[str, str]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        prefix = next((p for p in renames if key.startswith(p)), None)
        out[key if prefix is None else renames[prefix] + key[len(prefix) :]] = value
    return out


def _compare(name: str, reference_state, reference_forward, renames, train: bool) -> None:
    torch.manual_seed(0)
    ours = build_model(name, channels=3, image_size=32, num_classes=NUM_CLASSES, width=WIDTH)
    ours.load_state_dict(_renamed(reference_state, renames), strict=True)
    ours.train(train)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference_forward(reference_state, x, train)
        got = ours(x)
    assert expected.shape == (4, NUM_CLASSES)
    torch.testing.assert_close(got, expected)


# --- wrn28_10: src/resnet.py:112-169 (WideBasic, WideResNet) ------------------------------

WRN_GROUPS = ((160, 1), (320, 2), (640, 2))  # (channels, first block's stride)


def _wrn_reference_state() -> dict[str, torch.Tensor]:
    w = Weights(seed=2)
    c_in = scale_channels(16, WIDTH)
    w.conv("conv1", 3, c_in, 3)
    for g, (c, stride) in enumerate(WRN_GROUPS, start=1):
        c = scale_channels(c, WIDTH)
        for i in range(4):
            p = f"layer{g}.{i}"
            w.bn(f"{p}.bn1", c_in)
            w.conv(f"{p}.conv1", c_in, c, 3)
            w.bn(f"{p}.bn2", c)
            w.conv(f"{p}.conv2", c, c, 3)
            if (stride if i == 0 else 1) != 1 or c_in != c:
                w.conv(f"{p}.shortcut.0", c_in, c, 1)
                w.bn(f"{p}.shortcut.1", c)
            c_in = c
    w.linear("fc", c_in, NUM_CLASSES)
    return w.state


def _wrn_reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, train: bool):
    out = F.conv2d(x, sd["conv1.weight"], sd["conv1.bias"], padding=1)
    for g, (_, group_stride) in enumerate(WRN_GROUPS, start=1):
        for i in range(4):
            p = f"layer{g}.{i}"
            stride = group_stride if i == 0 else 1
            # out = conv1(relu(bn1(x))); out = conv2(relu(bn2(out))); out += shortcut(x)
            h = F.relu(_batch_norm(out, sd, f"{p}.bn1", train))
            h = F.conv2d(h, sd[f"{p}.conv1.weight"], sd[f"{p}.conv1.bias"], padding=1)
            h = F.relu(_batch_norm(h, sd, f"{p}.bn2", train))
            h = F.conv2d(
                h, sd[f"{p}.conv2.weight"], sd[f"{p}.conv2.bias"], stride=stride, padding=1
            )
            if f"{p}.shortcut.0.weight" in sd:
                s = F.conv2d(
                    out, sd[f"{p}.shortcut.0.weight"], sd[f"{p}.shortcut.0.bias"], stride=stride
                )
                out = h + _batch_norm(s, sd, f"{p}.shortcut.1", train)
            else:
                out = h + out
    out = F.avg_pool2d(out, 8).flatten(1)  # norm = Sequential(AvgPool2d(8), Flatten())
    return F.linear(out, sd["fc.weight"], sd["fc.bias"])


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_wrn28_10_gives_the_reference_logits(train: bool) -> None:
    _compare(
        "wrn28_10",
        _wrn_reference_state(),
        _wrn_reference_forward,
        {"conv1.": "stem.", "fc.": "head."},
        train,
    )


# --- resnet9: src/resnet.py:66-109 (conv_bn, Residual, ResNet9) ---------------------------

RESNET9_UNITS = (  # (name, c_in, c_out, kernel, stride, padding)
    ("conv1", 3, 64, 3, 1, 1),
    ("conv2", 64, 128, 5, 2, 2),
    ("res1.module.0", 128, 128, 3, 1, 1),
    ("res1.module.1", 128, 128, 3, 1, 1),
    ("conv3.0", 128, 256, 3, 1, 1),
    ("res2.module.0", 256, 256, 3, 1, 1),
    ("res2.module.1", 256, 256, 3, 1, 1),
    ("conv4.0", 256, 128, 3, 1, 0),
)


def _resnet9_reference_state() -> dict[str, torch.Tensor]:
    w = Weights(seed=3)
    for name, c_in, c_out, k, _, _ in RESNET9_UNITS:
        c_in = c_in if name == "conv1" else scale_channels(c_in, WIDTH)
        w.conv(f"{name}.0", c_in, scale_channels(c_out, WIDTH), k)
        w.bn(f"{name}.1", scale_channels(c_out, WIDTH))
    w.linear("fc", scale_channels(128, WIDTH), NUM_CLASSES, bias=False)
    return w.state


def _resnet9_reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, train: bool):
    spec = {name: (stride, padding) for name, _, _, _, stride, padding in RESNET9_UNITS}

    def conv_bn(name: str, h: torch.Tensor) -> torch.Tensor:
        stride, padding = spec[name]
        h = F.conv2d(h, sd[f"{name}.0.weight"], sd[f"{name}.0.bias"], stride, padding)
        return F.celu(_batch_norm(h, sd, f"{name}.1", train), alpha=0.075)

    out = conv_bn("conv2", conv_bn("conv1", x))
    out = out + conv_bn("res1.module.1", conv_bn("res1.module.0", out))
    out = F.max_pool2d(conv_bn("conv3.0", out), 2)
    out = out + conv_bn("res2.module.1", conv_bn("res2.module.0", out))
    out = F.adaptive_max_pool2d(conv_bn("conv4.0", out), 1).flatten(1)
    return F.linear(out, sd["fc.weight"])


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_resnet9_gives_the_reference_logits(train: bool) -> None:
    _compare(
        "resnet9",
        _resnet9_reference_state(),
        _resnet9_reference_forward,
        {
            "conv1.": "prep.",
            "conv2.": "layer1.",
            "res1.module.": "res1.body.",
            "conv3.0.": "layer2.",
            "res2.module.": "res2.body.",
            "conv4.0.": "layer3.",
            "fc.": "head.",
        },
        train,
    )
