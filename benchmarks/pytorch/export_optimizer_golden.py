#!/usr/bin/env python3
"""Golden optimiser updates from torch.optim, for dl-train's replay test (OptimizerGoldenTest).

Every optimiser dl-train offers, with the hyperparameters the CLI passes (Optimizers.create: name, lr, momentum,
weight decay), updates the same two parameters ("w" [7, 5], "b" [5]) with the same gradients for STEPS steps, the
learning rate changing every step as a schedule changes it (param_group["lr"] set before each step, as dl-train's
trainer calls setLr). One file, runtime/src/test/resources/golden/optimizers.golden.safetensors, holds:

  init.w, init.b               the initial values (float32)
  grad.<t>.w, grad.<t>.b       the gradient of step t (t = 0 .. STEPS-1, float32); a config with a grad_scale uses
                               them times it, rounded to float32 (tiny gradients, where the eps terms matter)
  <config>.final.w / .b        the parameters after STEPS steps, from torch.optim in float64 on the float32 values
  metadata                     lrs (per step, a comma list), configs (JSON: config -> optimizer, lr, momentum,
                               weight_decay, and the torch class and arguments used), torch_version, python, date

The configs cover each update rule with and without its options: L2 weight decay (coupled, added to the gradient) for
all but AdamW, whose decay is decoupled; momentum and Nesterov for SGD; momentum for RMSprop. Needs only torch (the
safetensors writer is export_golden.py's). From the repository root:

  python3 benchmarks/pytorch/export_optimizer_golden.py [--out runtime/src/test/resources/golden]
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_golden import entry, write_safetensors  # noqa: E402

SEED = 4321
STEPS = 8
LR_FACTORS = [1.0, 0.9, 1.1, 0.7, 0.5, 0.8, 0.3, 0.6]  # lr of step t = base lr * LR_FACTORS[t]

# config -> (dl-train optimizer name, base lr, momentum, weight decay[, gradient scale]); momentum 0 where the optimiser
# has none; the gradients of a config with a scale are the stored ones times it
CONFIGS = {
    "sgd": ("sgd", 0.1, 0.0, 0.0),
    "sgd-momentum-wd": ("sgd", 0.05, 0.9, 5e-4),
    "sgd-nesterov-wd": ("sgd-nesterov", 0.05, 0.9, 5e-4),
    "adagrad": ("adagrad", 0.01, 0.0, 0.0),
    "adagrad-wd": ("adagrad", 0.01, 0.0, 1e-2),
    "adadelta": ("adadelta", 1.0, 0.0, 0.0),
    "adadelta-wd": ("adadelta", 1.0, 0.0, 1e-2),
    "rmsprop": ("rmsprop", 0.01, 0.0, 0.0),
    "rmsprop-momentum-wd": ("rmsprop", 0.01, 0.9, 1e-2),
    "adam": ("adam", 1e-3, 0.0, 0.0),
    "adam-wd": ("adam", 1e-3, 0.0, 1e-2),
    "adamw": ("adamw", 1e-3, 0.0, 1e-2),
    "adamw-strong": ("adamw", 1e-2, 0.0, 0.5),
    # gradients scaled down to where each rule's eps matters (its place: inside or outside the square root, added to
    # what): Adam/AdamW/RMSprop eps 1e-8, Adagrad 1e-10, Adadelta 1e-6
    "adam-tiny-grads": ("adam", 1e-3, 0.0, 0.0, 1e-8),
    "adamw-tiny-grads": ("adamw", 1e-3, 0.0, 1e-2, 1e-8),
    "rmsprop-tiny-grads": ("rmsprop", 0.01, 0.0, 0.0, 1e-8),
    "adagrad-tiny-grads": ("adagrad", 0.01, 0.0, 0.0, 1e-10),
    "adadelta-tiny-grads": ("adadelta", 1.0, 0.0, 0.0, 1e-4),
}


def torch_optimizer(torch, params, name, lr, momentum, wd):
    """The torch.optim optimiser dl-train's name stands for, with PyTorch's defaults for everything else."""
    o = torch.optim
    if name == "sgd":
        return o.SGD(params, lr=lr, momentum=momentum, weight_decay=wd), f"SGD(lr={lr}, momentum={momentum}, weight_decay={wd})"
    if name == "sgd-nesterov":
        return (o.SGD(params, lr=lr, momentum=momentum, weight_decay=wd, nesterov=True),
                f"SGD(lr={lr}, momentum={momentum}, weight_decay={wd}, nesterov=True)")
    if name == "adagrad":
        return o.Adagrad(params, lr=lr, weight_decay=wd), f"Adagrad(lr={lr}, weight_decay={wd})"
    if name == "adadelta":
        return o.Adadelta(params, lr=lr, weight_decay=wd), f"Adadelta(lr={lr}, weight_decay={wd})"
    if name == "rmsprop":
        return o.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd), f"RMSprop(lr={lr}, momentum={momentum}, weight_decay={wd})"
    if name == "adam":
        return o.Adam(params, lr=lr, weight_decay=wd), f"Adam(lr={lr}, weight_decay={wd})"
    if name == "adamw":
        return o.AdamW(params, lr=lr, weight_decay=wd), f"AdamW(lr={lr}, weight_decay={wd})"
    raise SystemExit("unknown optimizer " + name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("runtime", "src", "test", "resources", "golden"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(SEED)
    init = {"w": torch.rand(7, 5, generator=g, dtype=torch.float32) * 2 - 1,
            "b": torch.rand(5, generator=g, dtype=torch.float32) * 2 - 1}
    grads = [{k: torch.randn(v.shape, generator=g, dtype=torch.float32) for k, v in init.items()} for _ in range(STEPS)]

    tensors = [entry("init." + k, v) for k, v in init.items()]
    for t, gt in enumerate(grads):
        tensors += [entry(f"grad.{t}.{k}", v) for k, v in gt.items()]
    configs = {}
    for cname, (name, lr, momentum, wd, *scale) in CONFIGS.items():
        scale = scale[0] if scale else 1.0
        params = {k: v.double().clone().requires_grad_(True) for k, v in init.items()}  # float32 values, float64 math
        opt, described = torch_optimizer(torch, list(params.values()), name, lr, momentum, wd)
        for t in range(STEPS):
            for k, p in params.items():
                # the float32 value dl-train's gradient will hold: the stored gradient times the scale, rounded to float32
                p.grad = (grads[t][k] * torch.tensor(scale, dtype=torch.float32)).double()
            for group in opt.param_groups:
                group["lr"] = lr * LR_FACTORS[t]
            opt.step()
        tensors += [entry(f"{cname}.final.{k}", p) for k, p in params.items()]
        configs[cname] = {"optimizer": name, "lr": lr, "momentum": momentum, "weight_decay": wd, "grad_scale": scale,
                          "torch": "torch.optim." + described}
    meta = {"steps": STEPS, "lrs_factors": ",".join(repr(f) for f in LR_FACTORS), "configs": json.dumps(configs, sort_keys=True),
            "seed": SEED, "reference_dtype": "float64", "torch_version": torch.__version__, "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "optimizers.golden.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(CONFIGS)} configs x {STEPS} steps, torch {torch.__version__}")


if __name__ == "__main__":
    main()
