#!/usr/bin/env python3
"""Golden forward and backward passes of single layers and losses from torch.nn, for dl-train's LayerGoldenTest.

Each case is one torch.nn module (or one torch.nn.functional loss) with the arguments dl-train's matching layer
takes, on a random input, in train or eval mode. The reference runs in float64 on the float32 values (so it is exact
to float32's resolution) and backpropagates a random upstream gradient gy (a loss: its scalar gy). One file,
runtime/src/test/resources/golden/layers.golden.safetensors, holds per case:

  <case>.x                 the input (float32)
  <case>.target            a loss's target (int64 class indices for cross-entropy, float32 otherwise)
  <case>.gy                the upstream gradient, the output's shape (float32)
  <case>.state.<name>      the module's state_dict before the pass (float32; num_batches_tracked int64): parameters
                           drawn by torch's own initialisation, batch-norm's affine parameters and running statistics
                           randomised so that each matters
  <case>.y                 the output
  <case>.gx                the gradient of the input
  <case>.grad.<name>       the gradient of each parameter
  <case>.after.<name>      batch-norm in train mode: running_mean and running_var after the pass
  metadata                 cases (JSON: case -> kind, args, train, the torch call), seed, reference_dtype,
                           torch_version, python, date

The kinds and their arguments are dl-train's layer constructors' (LayerGoldenTest builds each layer from them); the
cases pick the settings where a reading of PyTorch's documentation could go wrong: ceil-mode pooling whose last
window starts in the padding, count_include_pad, adaptive pooling of sizes that do not divide, grouped, dilated and
rectangular convolutions and transposed convolutions with output_padding, batch-norm's unbiased running variance,
Softplus beyond its threshold, label smoothing, a two-layer LSTM's gate order. Needs only torch (the safetensors
writer is export_golden.py's). From the repository root:

  python3 benchmarks/pytorch/export_layer_golden.py [--out runtime/src/test/resources/golden]
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_golden import entry, write_safetensors  # noqa: E402

SEED = 2468

# case -> (kind, args, input shape, train, input scale). args are dl-train's constructor arguments, in its order.
CASES = {
    "linear": ("linear", [7, 5, True], [4, 7], True, 1.0),
    "linear-nobias": ("linear", [6, 3, False], [5, 6], True, 1.0),
    "conv": ("conv2d", [3, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, True], [2, 3, 9, 9], True, 1.0),
    "conv-rect-dilated-grouped": ("conv2d", [4, 6, 3, 2, 2, 1, 1, 0, 2, 1, 2, False], [2, 4, 10, 8], True, 1.0),
    "conv-transpose": ("conv_transpose2d", [4, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, True], [2, 4, 5, 5], True, 1.0),
    "conv-transpose-rect-dilated-grouped": ("conv_transpose2d", [4, 6, 3, 2, 2, 3, 1, 0, 1, 2, 2, 1, 2, False],
                                            [2, 4, 4, 3], True, 1.0),
    "max-pool-ceil": ("max_pool2d", [3, 2, 0, True], [2, 3, 10, 10], True, 1.0),
    "max-pool-pad-ceil": ("max_pool2d", [3, 2, 1, True], [2, 2, 8, 8], True, 1.0),
    "max-pool-pad": ("max_pool2d", [3, 2, 1, False], [2, 2, 7, 7], True, 1.0),
    "avg-pool-pad-include": ("avg_pool2d", [3, 2, 1, False, True], [2, 2, 7, 7], True, 1.0),
    "avg-pool-pad-exclude-ceil": ("avg_pool2d", [3, 2, 1, True, False], [2, 2, 8, 8], True, 1.0),
    "adaptive-avg-pool": ("adaptive_avg_pool2d", [3, 2], [2, 3, 7, 5], True, 1.0),
    "batch-norm2d-train": ("batch_norm2d", [3, 1e-5, 0.1], [4, 3, 5, 5], True, 1.0),
    "batch-norm2d-eval": ("batch_norm2d", [3, 1e-5, 0.1], [4, 3, 5, 5], False, 1.0),
    "batch-norm2d-train-momentum": ("batch_norm2d", [2, 1e-3, 0.3], [3, 2, 2, 3], True, 1.0),
    "batch-norm1d-train": ("batch_norm1d", [6, 1e-5, 0.1], [8, 6], True, 1.0),
    "batch-norm1d-eval": ("batch_norm1d", [6, 1e-5, 0.1], [8, 6], False, 1.0),
    "relu": ("relu", [], [3, 10], True, 1.0),
    "leaky-relu": ("leaky_relu", [0.1], [3, 10], True, 1.0),
    "elu": ("elu", [0.7], [3, 10], True, 2.0),
    "gelu": ("gelu", [], [3, 10], True, 2.0),
    "sigmoid": ("sigmoid", [], [3, 10], True, 3.0),
    "tanh": ("tanh", [], [3, 10], True, 2.0),
    "softplus-threshold": ("softplus", [2.0], [3, 10], True, 6.0),
    "softmax": ("softmax", [], [4, 7], True, 2.0),
    "log-softmax": ("log_softmax", [], [4, 7], True, 2.0),
    "lstm": ("lstm", [5, 6, 2], [3, 4, 5], True, 1.0),
    "cross-entropy": ("cross_entropy", [0.0], [6, 5], True, 2.0),
    "cross-entropy-smoothing": ("cross_entropy", [0.1], [6, 5], True, 2.0),
    "mse": ("mse", [], [4, 5], True, 1.0),
    "l1": ("l1", [], [4, 5], True, 1.0),
    "bce-with-logits": ("bce_with_logits", [], [4, 5], True, 3.0),
}

LOSSES = {"cross_entropy", "mse", "l1", "bce_with_logits"}


def module(torch, kind, a):
    """The torch.nn module of dl-train's kind and constructor arguments, and how it was called."""
    nn = torch.nn
    if kind == "linear":
        return nn.Linear(a[0], a[1], bias=a[2]), f"nn.Linear({a[0]}, {a[1]}, bias={a[2]})"
    if kind == "conv2d":
        i, o, kh, kw, sh, sw, ph, pw, dh, dw, g, b = a
        return (nn.Conv2d(i, o, (kh, kw), (sh, sw), (ph, pw), (dh, dw), g, b),
                f"nn.Conv2d({i}, {o}, kernel_size=({kh}, {kw}), stride=({sh}, {sw}), padding=({ph}, {pw}), "
                f"dilation=({dh}, {dw}), groups={g}, bias={b})")
    if kind == "conv_transpose2d":
        i, o, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, g, b = a
        return (nn.ConvTranspose2d(i, o, (kh, kw), (sh, sw), (ph, pw), (oph, opw), g, b, (dh, dw)),
                f"nn.ConvTranspose2d({i}, {o}, kernel_size=({kh}, {kw}), stride=({sh}, {sw}), padding=({ph}, {pw}), "
                f"output_padding=({oph}, {opw}), groups={g}, bias={b}, dilation=({dh}, {dw}))")
    if kind == "max_pool2d":
        k, s, p, ceil = a
        return nn.MaxPool2d(k, s, p, ceil_mode=ceil), f"nn.MaxPool2d({k}, {s}, {p}, ceil_mode={ceil})"
    if kind == "avg_pool2d":
        k, s, p, ceil, inc = a
        return (nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=inc),
                f"nn.AvgPool2d({k}, {s}, {p}, ceil_mode={ceil}, count_include_pad={inc})")
    if kind == "adaptive_avg_pool2d":
        return nn.AdaptiveAvgPool2d((a[0], a[1])), f"nn.AdaptiveAvgPool2d(({a[0]}, {a[1]}))"
    if kind == "batch_norm2d":
        return nn.BatchNorm2d(a[0], eps=a[1], momentum=a[2]), f"nn.BatchNorm2d({a[0]}, eps={a[1]}, momentum={a[2]})"
    if kind == "batch_norm1d":
        return nn.BatchNorm1d(a[0], eps=a[1], momentum=a[2]), f"nn.BatchNorm1d({a[0]}, eps={a[1]}, momentum={a[2]})"
    if kind == "relu":
        return nn.ReLU(), "nn.ReLU()"
    if kind == "leaky_relu":
        return nn.LeakyReLU(a[0]), f"nn.LeakyReLU({a[0]})"
    if kind == "elu":
        return nn.ELU(a[0]), f"nn.ELU({a[0]})"
    if kind == "gelu":
        return nn.GELU(), "nn.GELU()"
    if kind == "sigmoid":
        return nn.Sigmoid(), "nn.Sigmoid()"
    if kind == "tanh":
        return nn.Tanh(), "nn.Tanh()"
    if kind == "softplus":
        return nn.Softplus(beta=a[0]), f"nn.Softplus(beta={a[0]})"
    if kind == "softmax":
        return nn.Softmax(dim=-1), "nn.Softmax(dim=-1)"
    if kind == "log_softmax":
        return nn.LogSoftmax(dim=-1), "nn.LogSoftmax(dim=-1)"
    if kind == "lstm":
        return nn.LSTM(a[0], a[1], a[2], batch_first=True), f"nn.LSTM({a[0]}, {a[1]}, {a[2]}, batch_first=True) (output[0])"
    raise SystemExit("unknown kind " + kind)


def loss(torch, kind, a, x, target):
    """The torch.nn.functional loss of dl-train's kind (mean reduction), and how it was called."""
    F = torch.nn.functional
    if kind == "cross_entropy":
        return F.cross_entropy(x, target, label_smoothing=a[0]), f"F.cross_entropy(x, target, label_smoothing={a[0]})"
    if kind == "mse":
        return F.mse_loss(x, target), "F.mse_loss(x, target)"
    if kind == "l1":
        return F.l1_loss(x, target), "F.l1_loss(x, target)"
    if kind == "bce_with_logits":
        return F.binary_cross_entropy_with_logits(x, target), "F.binary_cross_entropy_with_logits(x, target)"
    raise SystemExit("unknown loss " + kind)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("runtime", "src", "test", "resources", "golden"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(SEED)  # module initialisation draws from the global generator
    g = torch.Generator().manual_seed(SEED)
    tensors, cases = [], {}
    for name, (kind, a, shape, train, scale) in CASES.items():
        x32 = torch.randn(shape, generator=g) * scale
        tensors.append(entry(name + ".x", x32))
        x = x32.double().requires_grad_(True)
        if kind in LOSSES:
            if kind == "cross_entropy":
                target = torch.randint(0, shape[1], (shape[0],), generator=g)
                target_ref = target
            elif kind == "bce_with_logits":
                target = torch.rand(shape, generator=g)  # probabilities, not only 0/1
                target_ref = target.double()
            else:
                target = torch.randn(shape, generator=g)
                target_ref = target.double()
            tensors.append(entry(name + ".target", target))
            y, described = loss(torch, kind, a, x, target_ref)
            gy32 = torch.rand((), generator=g) + 0.5
        else:
            m, described = module(torch, kind, a)
            if kind.startswith("batch_norm"):
                c = a[0]
                with torch.no_grad():
                    m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=g))
                    m.running_mean.copy_(torch.randn(c, generator=g))
                    m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            tensors += [entry(name + ".state." + k, v) for k, v in m.state_dict().items()]
            m = m.double()
            m.train(train)
            y = m(x)
            if kind == "lstm":
                y = y[0]
            gy32 = torch.randn(y.shape, generator=g)
        y.backward(gy32.double())
        tensors += [entry(name + ".gy", gy32), entry(name + ".y", y), entry(name + ".gx", x.grad)]
        if kind not in LOSSES:
            tensors += [entry(name + ".grad." + k, p.grad) for k, p in m.named_parameters()]
            if kind.startswith("batch_norm") and train:
                tensors += [entry(name + ".after." + k, getattr(m, k)) for k in ("running_mean", "running_var")]
        cases[name] = {"kind": kind, "args": a, "train": train, "torch": "torch." + described}
    meta = {"cases": json.dumps(cases), "seed": SEED, "reference_dtype": "float64", "torch_version": torch.__version__,
            "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "layers.golden.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(CASES)} cases, torch {torch.__version__}")


if __name__ == "__main__":
    main()
