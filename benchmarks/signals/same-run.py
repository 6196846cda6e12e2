#!/usr/bin/env python3
"""same-run.py BASE RUN: whether two run directories hold the same run: metrics.jsonl equal but for the timing fields and each line's writer,
summary.json's test metrics equal, model/model.safetensors byte for byte (a resumed run against an uninterrupted one)."""
import json, sys, hashlib, os
# timings, and the writer of each line (a resume by another build writes its own; lines before 2026-12-08 have none)
T = {"seconds", "train_seconds", "images_per_sec", "data_wait_seconds", "format_version", "dl_train_version", "dl_train_build"}
def rows(d):
    return [{k: v for k, v in json.loads(l).items() if k not in T} for l in open(os.path.join(d, "metrics.jsonl")) if l.strip()]
a, b = sys.argv[1], sys.argv[2]
ra, rb = rows(a), rows(b)
ok = ra == rb
print("metrics.jsonl", "IDENTICAL" if ok else "DIFFER", len(ra), len(rb))
if not ok:
    for x, y in zip(ra, rb):
        if x != y: print("  base", x, "\n  run ", y)
sa, sb = (json.load(open(os.path.join(d, "summary.json"))) for d in (a, b))
for k in ("epochs", "test_loss", "test_acc", "test_top5", "best_epoch", "stopped_early"):
    print(" ", k, sa.get(k), sb.get(k), "ok" if sa.get(k) == sb.get(k) else "DIFF")
h = lambda d: hashlib.sha256(open(os.path.join(d, "model/model.safetensors"), "rb").read()).hexdigest()[:16]
print("  model.safetensors", h(a), h(b), "ok" if h(a) == h(b) else "DIFF")
