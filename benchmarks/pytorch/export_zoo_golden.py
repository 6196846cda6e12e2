#!/usr/bin/env python3
"""Golden forward and backward passes of torchvision's own models, for dl-train's ZooGoldenTest.

The registry's torchvision families are built to torchvision's state_dict names and shapes (ZooTest checks those);
this checks what names cannot: that the same weights give the same outputs, i.e. the wiring (branch and
concatenation order, where a stride sits, the order of norm, activation and convolution, the pooling modes). For each
case a torchvision model is built with weights=None and every state_dict entry is then overwritten by a formula both
sides compute bit for bit, so the file holds no weights:

  u(name, i)  = frac((i + 1) * 0.6180339887498949 + h(name) * 0.7548776662466927)    (IEEE double arithmetic)
  h(name)     = for each character c of the entry's name: h = (h * 31 + ord(c)) mod 2147483647, from 0
  weight (conv, linear; rank >= 2)  (2u - 1) * sqrt(3 / fan_in)    (unit variance out of unit variance in)
  bias                              (2u - 1) * 0.1
  batch norm weight                 0.8 + 0.4u          bias   (2u - 1) * 0.1
  running_mean                      (2u - 1) * 0.1      running_var   0.8 + 0.4u
  num_batches_tracked               0

each rounded once to float32 (fan_in = the product of a weight's dimensions after the first). The file,
runtime/src/test/resources/golden/zoo.golden.safetensors, holds:

  input                    [2, 3, S, S] float32 (one input for every case, S = 64), labels [2] int64
  <case>.logits            the model's output on input, from float64 arithmetic on the float32 weights and input
  <case>.logits32          the same in float32 (PyTorch's own float32 rounding, a yardstick for the test's tolerance)
  <case>.loss              cross-entropy of the logits against labels
  <case>.stats             [P, 4]: for each of P tensors (named in the metadata, cases -> stats), two numbers from the
                           float64 pass, then the same two from PyTorch's float32 pass (the yardstick again): its L2
                           norm and its dot product with v(name, i) = 2u(name + "#grad", i) - 1 (which changes when
                           elements are permuted, as a transposed weight's would be). Eval-mode cases: the gradient of
                           that loss for every parameter. Train-mode cases: every batch norm's running_mean and
                           running_var after the pass (no gradients: in train mode at this batch the last batch norms
                           normalise 8 values a channel, and PyTorch's own float32 gradients are 7% to 60% away from
                           its float64 ones; batch norm's training backward is LayerGoldenTest's)
  metadata                 cases (JSON: case -> model, mode, torchvision call, stats names), the formula, torch and torchvision
                           versions, date

Cases: googlenet, resnet50, alexnet and vgg11_bn in eval mode (dropout is random in train mode; resnet50's train mode:
see CASES), densenet121 in eval and in train mode.
Needs torch and torchvision (Debian: apt-get install python3-torchvision). From the repository root:

  /usr/bin/python3 benchmarks/pytorch/export_zoo_golden.py [--out runtime/src/test/resources/golden]
"""
import argparse
import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_golden import entry, write_safetensors  # noqa: E402

SEED = 97531
SIZE = 64
PHI, PSI = 0.6180339887498949, 0.7548776662466927

# case -> (registry name, torchvision builder call, train mode)
CASES = {
    "googlenet-eval": ("googlenet", "googlenet(weights=None, aux_logits=False, init_weights=False)", False),
    "densenet121-eval": ("densenet121", "densenet121(weights=None)", False),
    "densenet121-train": ("densenet121", "densenet121(weights=None)", True),
    "resnet50-eval": ("resnet50", "resnet50(weights=None)", False),
    # AlexNet and VGG: adaptive pooling before the classifier hides a wrong stride or padding from the state_dict's
    # shapes, so only outputs show it. Eval mode (their dropout is random in train mode).
    "alexnet-eval": ("alexnet", "alexnet(weights=None)", False),
    "vgg11_bn-eval": ("vgg11_bn", "vgg11_bn(weights=None)", False),
    # No resnet50-train: at this batch ResNet-50's train-mode forward is ill-conditioned (PyTorch's own float32 logits
    # are 3.5e-3 to 4.4e-3 from its float64 ones, differing between runs; the running statistics 6e-5 to 3e-4): too
    # noisy a yardstick. densenet121-train covers batch statistics in a deep network, resnet50-eval the wiring.
}


def name_hash(name):
    h = 0
    for c in name:
        h = (h * 31 + ord(c)) % 2147483647
    return h


def u(torch, name, n):
    """u(name, i) for i < n, float64, computed as LayerGoldenTest's Java twin does: two IEEE operations, then frac."""
    t = (torch.arange(n, dtype=torch.float64) + 1) * PHI + float(name_hash(name)) * PSI
    return t - torch.floor(t)


def formula_value(torch, name, shape):
    """The float32 value the formula gives a state_dict entry (see the module docstring)."""
    n = 1
    for d in shape:
        n *= d
    x = u(torch, name, n)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        v = 0.8 + 0.4 * x
    elif len(shape) >= 2:
        fan_in = n // shape[0]
        v = (2 * x - 1) * math.sqrt(3.0 / fan_in)
    elif leaf == "weight":  # rank 1: a batch-norm scale
        v = 0.8 + 0.4 * x
    else:  # bias, batch-norm bias, running_mean
        v = (2 * x - 1) * 0.1
    return v.to(torch.float32).reshape(shape)


def stats(torch, name, t):
    """[L2 norm, dot with v(name)] of a tensor, in float64."""
    t = t.detach().double().flatten()
    v = 2 * u(torch, name + "#grad", t.numel()) - 1
    return torch.tensor([t.norm().item(), torch.dot(t, v).item()], dtype=torch.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("runtime", "src", "test", "resources", "golden"))
    args = ap.parse_args()
    import torch
    import torchvision
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    g = torch.Generator().manual_seed(SEED)
    x32 = torch.randn(2, 3, SIZE, SIZE, generator=g)
    labels = torch.randint(0, 1000, (2,), generator=g)
    tensors = [entry("input", x32), entry("labels", labels)]
    cases = {}
    for case, (model, call, train) in CASES.items():
        built, st, names = {}, {}, []
        for dtype in (torch.float64, torch.float32):
            m = eval("torchvision.models." + call)
            with torch.no_grad():
                for k, v in m.state_dict().items():
                    if k.endswith("num_batches_tracked"):
                        v.zero_()
                    else:
                        v.copy_(formula_value(torch, k, list(v.shape)))
            m = m.to(dtype)
            m.train(train)
            x = x32.to(dtype)
            logits = m(x)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            # Gradients in eval mode only: in train mode at this batch the last batch norms normalise 8 values a
            # channel, and PyTorch's own float32 gradients are 7% (DenseNet-121) to 60% (ResNet-50) away from its
            # float64 ones, too ill-conditioned to compare (batch norm's training backward is LayerGoldenTest's).
            if not train:
                loss.backward()
            # The tensors whose [norm, dot] are compared: every parameter's gradient (eval), every running statistic (train).
            named = ([(k, p.grad) for k, p in m.named_parameters()] if not train else
                     [(k, b) for k, b in m.named_buffers() if k.endswith("running_mean") or k.endswith("running_var")])
            st[dtype] = torch.stack([stats(torch, k, v) for k, v in named])
            names = [k for k, _ in named]
            if dtype == torch.float64:
                tensors += [entry(case + ".logits", logits), entry(case + ".loss", loss.reshape(1))]
            else:
                tensors.append(entry(case + ".logits32", logits))
            built[dtype] = logits.detach().double()
        # One [P, 4] tensor a case (norm and dot from float64, then from float32; names in the metadata) instead of
        # one entry per tensor: the header would otherwise outweigh the data, and the GPU bundle carries this file.
        tensors.append(entry(case + ".stats", torch.cat([st[torch.float64], st[torch.float32]], dim=1)))
        err32 = (built[torch.float32] - built[torch.float64]).abs().max().item()
        print(f"{case}: loss {loss.item():.6f}, max |logit| {built[torch.float64].abs().max().item():.4g}, "
              f"PyTorch float32 vs float64: max |diff| {err32:.3g}")
        cases[case] = {"model": model, "train": train, "torch": "torchvision.models." + call, "stats": names}
    meta = {"cases": json.dumps(cases), "size": SIZE, "seed": SEED, "phi": repr(PHI), "psi": repr(PSI),
            "reference_dtype": "float64", "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
            "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "zoo.golden.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(CASES)} cases, torch {torch.__version__}, torchvision {torchvision.__version__}")


if __name__ == "__main__":
    main()
