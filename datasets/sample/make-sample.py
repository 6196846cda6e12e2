#!/usr/bin/env python3
"""Builds the bundled Fashion-MNIST sample: the first 10,000 training and first 2,000 test images/labels of the real
IDX files, written as gzip'd IDX files with the standard names, so `dl-train` can train on a machine without the
Debian package dataset-fashion-mnist. Standard library only. Output is byte-for-byte reproducible (gzip mtime 0,
no file name in the gzip header).

Usage: python3 datasets/sample/make-sample.py [--src /usr/share/datasets/fashion-mnist] [--out DIR]
"""
import argparse
import gzip
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "src", "main", "resources", "io", "dltrain", "datasets", "sample", "fashion-mnist"))
MAX_FILE_BYTES = 5 * 1024 * 1024

# (file name, expected magic, samples to keep)
FILES = [
    ("train-images-idx3-ubyte.gz", 0x00000803, 10000),
    ("train-labels-idx1-ubyte.gz", 0x00000801, 10000),
    ("t10k-images-idx3-ubyte.gz", 0x00000803, 2000),
    ("t10k-labels-idx1-ubyte.gz", 0x00000801, 2000),
]


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        sys.exit(f"{path}: magic 0x{got:08X}, expected 0x{magic:08X}")
    ndim = magic & 0xFF
    dims = list(struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim]))
    body = data[4 + 4 * ndim:]
    per_sample = 1
    for d in dims[1:]:
        per_sample *= d
    if len(body) != dims[0] * per_sample:
        sys.exit(f"{path}: {len(body)} data bytes, header declares {dims[0] * per_sample}")
    return dims, per_sample, body


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, magic, keep in FILES:
        dims, per_sample, body = read_idx(os.path.join(args.src, name), magic)
        if dims[0] < keep:
            sys.exit(f"{name}: only {dims[0]} samples, need {keep}")
        header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), keep, *dims[1:])
        out = os.path.join(args.out, name)
        with open(out, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
                gz.write(header + body[:keep * per_sample])
        size = os.path.getsize(out)
        if size >= MAX_FILE_BYTES:
            sys.exit(f"{out}: {size} bytes, over the 5 MiB limit for bundled files")
        print(f"{out}: {keep} of {dims[0]} samples, dims {[keep] + dims[1:]}, {size} bytes")


if __name__ == "__main__":
    main()
