#!/usr/bin/env python3
"""Compares two directories of golden files (safetensors) tensor by tensor: which are bit-identical, and the largest
difference of those that are not. For checking a re-export (another PyTorch version, the GPU machine's) against the
committed files before replacing them.

  python3 benchmarks/pytorch/compare_golden.py runtime/src/test/resources/golden /tmp/new-golden
"""
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def main(old_dir, new_dir):
    names = sorted(f for f in os.listdir(new_dir) if f.endswith(".safetensors"))
    if not names:
        sys.exit(f"no .safetensors files in {new_dir}")
    for name in names:
        old_path, new_path = os.path.join(old_dir, name), os.path.join(new_dir, name)
        if not os.path.exists(old_path):
            print(f"{name}: new (no committed file)")
            continue
        a, b = load_file(old_path), load_file(new_path)
        with safe_open(old_path, "np") as fa, safe_open(new_path, "np") as fb:
            meta = (fa.metadata() or {}).get("torch_version"), (fb.metadata() or {}).get("torch_version")
        if set(a) != set(b):
            print(f"{name}: tensor names differ: {sorted(set(a) ^ set(b))}")
            continue
        same = [k for k in a if a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k])]
        print(f"{name}: {len(same)} of {len(a)} tensors bit-identical (torch {meta[0]} -> {meta[1]})")
        for k in sorted(set(a) - set(same)):
            x, y = a[k].astype(np.float64), b[k].astype(np.float64)
            if x.shape != y.shape:
                print(f"  {k}: shape {x.shape} -> {y.shape}")
                continue
            d = np.abs(x - y).max()
            print(f"  {k}: max |diff| {d:.3g}, max |value| {np.abs(x).max():.3g}, relative to it {d / max(np.abs(x).max(), 1e-30):.3g}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
