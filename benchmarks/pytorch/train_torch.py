#!/usr/bin/env python3
"""Trains mlp or lenet5 on Fashion-MNIST in PyTorch with dl-train's default recipe, as a yardstick for dl-train's
accuracy: the same model (bench_torch.py's twins of ModelRegistry), SGD with Nesterov momentum 0.9, lr 0.05, weight
decay 5e-4 (coupled, torch.optim.SGD's), cosine annealing to 0 over every step of the run (the rate set before each
step, as dl-train's Cosine schedule), batch 128 with reshuffling each epoch and the last partial batch kept, 10% of the
training set held out for validation, inputs normalised with mean 0.286 and std 0.353, PyTorch's default
initialisation. Seeds differ from dl-train's (other random streams), so only the accuracy is comparable, not the bits.
Prints one line per epoch and the test accuracy; needs only torch.

  python3 benchmarks/pytorch/train_torch.py --model lenet5 --epochs 10 --seed 42
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import LOCAL_MODELS  # noqa: E402
from load_in_pytorch import read_idx  # noqa: E402

MEAN, STD = 0.286, 0.353


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lenet5", choices=sorted(LOCAL_MODELS))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 leaves PyTorch's default")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    def load(images, labels):
        x = (read_idx(os.path.join(a.data_dir, images)).float().unsqueeze(1) / 255 - MEAN) / STD
        return x, read_idx(os.path.join(a.data_dir, labels)).long()

    x, y = load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    xt, yt = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    perm = torch.randperm(len(x))
    n_val = int(round(len(x) * 0.1))
    val, tr = perm[:n_val], perm[n_val:]
    model = LOCAL_MODELS[a.model][0](1, 28, 28, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    batch = 128
    steps_per_epoch = math.ceil(len(tr) / batch)
    total = steps_per_epoch * a.epochs

    def accuracy(xs, ys):
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(xs[i:i + 1000]) for i in range(0, len(xs), 1000)])
        model.train()
        return (logits.argmax(1) == ys).float().mean().item(), F.cross_entropy(logits, ys).item()

    step = 0
    t0 = time.time()
    for epoch in range(1, a.epochs + 1):
        order = tr[torch.randperm(len(tr))]
        te = time.time()
        loss_sum = 0.0
        for i in range(0, len(order), batch):
            for g in opt.param_groups:
                g["lr"] = 0.05 * (1 + math.cos(math.pi * step / total)) / 2
            b = order[i:i + batch]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(b)
            step += 1
        va, vl = accuracy(x[val], y[val])
        print(f"epoch {epoch}  train_loss {loss_sum / len(tr):.4f}  val_loss {vl:.4f}  val_acc {100 * va:.2f}%  {time.time() - te:.1f}s", flush=True)
    ta, tl = accuracy(xt, yt)
    print(f"test: loss {tl:.4f}  top-1 {100 * ta:.2f}%  (torch {torch.__version__}, {torch.get_num_threads()} threads, seed {a.seed}, {time.time() - t0:.0f}s)")


if __name__ == "__main__":
    main()
