#!/usr/bin/env python3
"""Compares two directories of golden files (safetensors) tensor by tensor: which are bit-identical, and the largest
difference of those that are not. For checking a re-export (another PyTorch version, the GPU machine's) against the
committed files before replacing them. Needs only the Python standard library (the export scripts need only torch).

  python3 benchmarks/pytorch/compare_golden.py runtime/src/test/resources/golden /tmp/new-golden
"""
import array
import json
import os
import struct
import sys

TYPECODES = {"F32": "f", "F64": "d", "I64": "q", "I32": "i"}


def read(path):
    """(metadata, {name: (dtype, shape, raw bytes)}) of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {}) or {}
    return meta, {k: (v["dtype"], tuple(v["shape"]), data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


def values(dtype, raw):
    a = array.array(TYPECODES[dtype], raw)
    if sys.byteorder != "little":
        a.byteswap()
    return a


def main(old_dir, new_dir):
    names = sorted(f for f in os.listdir(new_dir) if f.endswith(".safetensors"))
    if not names:
        sys.exit(f"no .safetensors files in {new_dir}")
    for name in names:
        old_path, new_path = os.path.join(old_dir, name), os.path.join(new_dir, name)
        if not os.path.exists(old_path):
            print(f"{name}: new (no committed file)")
            continue
        (ma, a), (mb, b) = read(old_path), read(new_path)
        # Names in one file only (a case added to or removed from CASES) are listed; the tensors both files hold are
        # compared all the same: a case inserted mid-list changes the data of every later case.
        if set(b) - set(a):
            print(f"{name}: only in the new file: {sorted(set(b) - set(a))}")
        if set(a) - set(b):
            print(f"{name}: only in the committed file: {sorted(set(a) - set(b))}")
        common = [k for k in a if k in b]
        same = [k for k in common if a[k] == b[k]]
        print(f"{name}: {len(same)} of {len(common)} tensors bit-identical (torch {ma.get('torch_version')} -> {mb.get('torch_version')})")
        for k in sorted(set(common) - set(same)):
            (ta, sa, ra), (tb, sb, rb) = a[k], b[k]
            if (ta, sa) != (tb, sb) or ta not in TYPECODES:
                print(f"  {k}: {ta} {list(sa)} -> {tb} {list(sb)}")
                continue
            x, y = values(ta, ra), values(tb, rb)
            d = max(abs(p - q) for p, q in zip(x, y))
            big = max(abs(p) for p in x) or 1e-30
            print(f"  {k}: max |diff| {d:.3g}, max |value| {big:.3g}, relative to it {d / big:.3g}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
