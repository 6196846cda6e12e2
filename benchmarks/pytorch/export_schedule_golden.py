#!/usr/bin/env python3
"""Golden learning rates from torch.optim.lr_scheduler, for dl-train's LrScheduleGoldenTest.

Each case is a dl-train --schedule spec and the torch scheduler (or chain) it stands for, run the way dl-train's
trainer runs its schedule: EPOCHS epochs of STEPS_PER_EPOCH optimiser steps; per-step schedulers step after every
optimiser step, StepLR after every epoch, ReduceLROnPlateau after every epoch with that epoch's validation loss (a
fixed sequence below, with a plateau, improvements smaller than the 1e-4 relative threshold, and a NaN). The lr of
step t is param_groups[0]["lr"] when optimizer.step() runs for the t-th time. One file,
runtime/src/test/resources/golden/schedules.golden.safetensors, holds <case>.lrs (float64 would be ideal, but the
writer stores float32: the test compares at float32 resolution) and metadata: cases (JSON: case -> spec, torch),
base lr, steps per epoch, epochs, the validation losses, versions, date. Needs only torch. From the repository root:

  python3 benchmarks/pytorch/export_schedule_golden.py [--out runtime/src/test/resources/golden]
"""
import argparse
import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_golden import entry, write_safetensors  # noqa: E402

BASE_LR = 0.05
STEPS_PER_EPOCH = 5
EPOCHS = 14
VAL_LOSSES = [1.0, 0.9, 0.95, 0.9, 0.89995, 0.91, 0.5, 0.6, 0.6, 0.6, 0.6, float("nan"), 0.4, 0.45]

# case -> (dl-train spec, description of the torch side); built in schedulers() below
CASES = {
    "cosine": "cosine",
    "cosine-min": "cosine:0.001",
    "step": "step:3:0.5",
    "warmup-cosine": "warmup:7,cosine",
    "warmup-step": "warmup:12,step:4:0.1",
    "plateau": "plateau",
    "plateau-factor-patience": "plateau:0.5:1",
    "plateau-min": "plateau:0.3:0:0.004",
}


def schedulers(torch, opt, case, total):
    """(per-step scheduler or None, per-epoch scheduler or None, plateau scheduler or None, description)."""
    s = torch.optim.lr_scheduler
    if case == "cosine":
        return s.CosineAnnealingLR(opt, T_max=total), None, None, f"CosineAnnealingLR(T_max={total}), stepped per step"
    if case == "cosine-min":
        return s.CosineAnnealingLR(opt, T_max=total, eta_min=0.001), None, None, f"CosineAnnealingLR(T_max={total}, eta_min=0.001), per step"
    if case == "step":
        return None, s.StepLR(opt, step_size=3, gamma=0.5), None, "StepLR(step_size=3, gamma=0.5), stepped per epoch"
    if case == "warmup-cosine":
        w = 7
        return (s.SequentialLR(opt, [s.LinearLR(opt, start_factor=1 / w, end_factor=1.0, total_iters=w - 1),
                                     s.CosineAnnealingLR(opt, T_max=total - w)], milestones=[w]), None, None,
                f"SequentialLR([LinearLR(start_factor=1/{w}, total_iters={w - 1}), CosineAnnealingLR(T_max={total - w})], milestones=[{w}]), per step")
    if case == "warmup-step":
        w = 12  # StepLR counted in steps: every 4 epochs of 5 steps, from the end of warm-up
        return (s.SequentialLR(opt, [s.LinearLR(opt, start_factor=1 / w, end_factor=1.0, total_iters=w - 1),
                                     s.StepLR(opt, step_size=4 * STEPS_PER_EPOCH, gamma=0.1)], milestones=[w]), None, None,
                f"SequentialLR([LinearLR(start_factor=1/{w}, total_iters={w - 1}), StepLR(step_size={4 * STEPS_PER_EPOCH}, gamma=0.1)], milestones=[{w}]), per step")
    if case == "plateau":
        return None, None, s.ReduceLROnPlateau(opt), "ReduceLROnPlateau() (factor 0.1, patience 10), per epoch"
    if case == "plateau-factor-patience":
        return None, None, s.ReduceLROnPlateau(opt, factor=0.5, patience=1), "ReduceLROnPlateau(factor=0.5, patience=1), per epoch"
    if case == "plateau-min":
        return None, None, s.ReduceLROnPlateau(opt, factor=0.3, patience=0, min_lr=0.004), "ReduceLROnPlateau(factor=0.3, patience=0, min_lr=0.004), per epoch"
    raise SystemExit("unknown case " + case)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("runtime", "src", "test", "resources", "golden"))
    args = ap.parse_args()
    import torch
    import warnings
    warnings.filterwarnings("ignore")  # SequentialLR's step(0) deprecation notice
    total = EPOCHS * STEPS_PER_EPOCH
    tensors, cases = [], {}
    for case, spec in CASES.items():
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=BASE_LR)
        per_step, per_epoch, plateau, described = schedulers(torch, opt, case, total)
        lrs = []
        for e in range(EPOCHS):
            for _ in range(STEPS_PER_EPOCH):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                if per_step:
                    per_step.step()
            if per_epoch:
                per_epoch.step()
            if plateau:
                plateau.step(VAL_LOSSES[e])
        tensors.append(entry(case + ".lrs", torch.tensor(lrs, dtype=torch.float64)))
        cases[case] = {"spec": spec, "torch": "torch.optim.lr_scheduler." + described}
        print(f"{case}: {spec}: lr {lrs[0]:.4g} ... {lrs[-1]:.4g}")
    meta = {"cases": json.dumps(cases), "base_lr": repr(BASE_LR), "steps_per_epoch": STEPS_PER_EPOCH, "epochs": EPOCHS,
            "val_losses": json.dumps([v if not math.isnan(v) else "NaN" for v in VAL_LOSSES]),
            "torch_version": torch.__version__, "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    path = os.path.join(args.out, "schedules.golden.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(CASES)} cases, torch {torch.__version__}")


if __name__ == "__main__":
    main()
