#!/usr/bin/env python3
"""Golden values and gradients of torch.pow(x, p) with a constant exponent, for dl-train's Basic.pow (BasicOpsTest).

One input x (the edge cases: zeros of both signs, 1, -1, negative bases, tiny and huge values, infinities, NaN, then
seeded uniform values in [-3, 3]) and one upstream gradient dy; per exponent p in EXPONENTS (torch's exact forms 0, 1,
2, 3, -2, 0.5, -0.5, -1, and powf's 2.5, 1.5, 0.25, -1.5, 4, -3, each exact in float32), p<i>.y = torch.pow(x, p) and
p<i>.dx = x's gradient of (torch.pow(x, p) * dy).sum(), on the CPU in float32. One file,
runtime/src/test/resources/golden/pow.golden.safetensors, holds x, dy, the p<i>.y and p<i>.dx, and metadata: exponents
(JSON), versions, date. Needs only torch. From the repository root:

  /opt/venv-torch/bin/python benchmarks/pytorch/export_pow_golden.py [--out runtime/src/test/resources/golden]
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_golden import entry, write_safetensors  # noqa: E402

EXPONENTS = [0.0, 1.0, 2.0, 3.0, -2.0, 0.5, -0.5, -1.0, 2.5, 1.5, 0.25, -1.5, 4.0, -3.0]
SPECIALS = [0.0, -0.0, 1.0, -1.0, -2.0, -0.5, 2.0, 1e-30, -1e-30, 1e-5, 1e30, -1e30, 3.4e38,
            float("inf"), float("-inf"), float("nan")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("runtime", "src", "test", "resources", "golden"))
    args = ap.parse_args()
    import torch
    g = torch.Generator().manual_seed(7)
    x = torch.cat([torch.tensor(SPECIALS, dtype=torch.float32), torch.rand(48, generator=g) * 6 - 3])
    dy = torch.rand(x.numel(), generator=g) * 4 - 2
    tensors = [entry("x", x), entry("dy", dy)]
    for i, p in enumerate(EXPONENTS):
        xi = x.clone().requires_grad_(True)
        y = torch.pow(xi, p)
        (y * dy).sum().backward()
        tensors += [entry(f"p{i}.y", y), entry(f"p{i}.dx", xi.grad)]
    meta = {"exponents": json.dumps(EXPONENTS), "torch_version": torch.__version__, "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    path = os.path.join(args.out, "pow.golden.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(EXPONENTS)} exponents, {x.numel()} values, torch {torch.__version__}")


if __name__ == "__main__":
    main()
