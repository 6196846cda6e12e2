#!/usr/bin/env python3
"""Golden training runs of the registry's own models against their PyTorch twins, for dl-train's TrainingGoldenTest.

export_golden.py covers lenet5 and a narrow ResNet, export_zoo_golden.py the torchvision families' forward passes and
eval-mode gradients; this covers the rest of the registry, forward AND training: mlp, lstm, autoencoder,
conv-autoencoder (an even and an odd image size: the transposed convolutions' output_padding differs),
resnet18-cifar-narrow (train mode: batch statistics, running statistics, optimiser steps) and resnet18-cifar (full
width, eval mode, one 16x16 image). Each PyTorch twin is written here from the registry's description (state_dict names as
dl-train's), not translated from dl-train's code; resnet18-cifar's twin is checked against torchvision's resnet18 with
the CIFAR stem (same names and shapes).

Weights come from export_zoo_golden.py's formula (both sides compute it bit for bit; the file holds no weights). Per
case, with the optimiser the command line builds (dl-train's Optimizers.create: torch.optim's class with the same
hyper-parameters) and the loss its task picks (cross-entropy for classifiers, MSE against the target for
reconstruction), on one fixed batch, STEPS times: zero_grad / forward / loss / backward / step. Everything is run twice,
in float64 (the reference) and in float32 (PyTorch's own float32 rounding: the yardstick of the test's tolerance).
runtime/src/test/resources/golden/training.golden.safetensors holds, per case:

  <case>.input, <case>.labels or <case>.target   the batch (float32; labels int64)
  <case>.output, <case>.output32                 the model's output on the first step (logits or reconstruction)
  <case>.losses, <case>.losses32                 [STEPS] the loss of each step (the first is the initial weights')
  <case>.grads                                   [P, 4] per parameter (names in the metadata), the first step's
                                                 gradient: [L2 norm, dot with v(name)] in float64, then float32
                                                 (export_zoo_golden.stats: v changes when elements are permuted)
  <case>.update                                  [Q, 4] per floating state_dict entry, the same two numbers of
                                                 (value after the STEPS steps - formula value): each parameter's total
                                                 update, each running statistic's change
  <case>.num_batches_tracked                     [B] int64, the batch norms' counters after the steps (train cases)

and per fit (FITS: a whole Trainer.fit against the same loop in PyTorch):

  <fit>.train_x, .train_y, .val_x, .val_y        the samples (in order, no shuffle)
  <fit>.train_loss, .val_loss, .lr (and ...32)   per epoch: the mean training loss, the validation loss, the last
                                                 step's learning rate, in float64 (and float32)
  <fit>.update                                   [Q, 4] as above, the change of every state entry over the fit

metadata: cases (JSON: model, input shape, classes, train mode, loss, optimiser name / lr / momentum / weight decay,
steps, update_after, grads names, update names), fits (JSON: the FITS entry and its update names), phi, psi, torch
version, date.

Deterministic (one thread, deterministic algorithms): exporting twice gives the same bytes but for the metadata's
date. Needs torch, and torchvision for the resnet twin's structural check; from the repository root:

  /opt/venv-torch/bin/python benchmarks/pytorch/export_training_golden.py [--out runtime/src/test/resources/golden]
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_golden import entry, write_safetensors  # noqa: E402
from export_zoo_golden import PHI, PSI, formula_value, stats  # noqa: E402

SEED = 24680
STEPS = 4  # per case unless it says otherwise; update_after: the steps after which the state's change is taken

# case -> registry model, input [N, C, H, W], classes, train mode, optimiser (name, lr, momentum, weight decay)
CASES = {
    # the default recipe's optimiser: sgd-nesterov, lr 0.05, momentum 0.9, weight decay 5e-4
    "mlp": dict(model="mlp", input=[4, 1, 28, 28], classes=10, train=True, opt=["sgd-nesterov", 0.05, 0.9, 5e-4]),
    "lstm": dict(model="lstm", input=[4, 1, 28, 28], classes=10, train=True, opt=["sgd", 0.2, 0.9, 1e-3]),
    "autoencoder": dict(model="autoencoder", input=[4, 1, 28, 28], classes=10, train=True, opt=["adam", 1e-3, 0.0, 1e-3]),
    "conv-autoencoder": dict(model="conv-autoencoder", input=[4, 1, 28, 28], classes=10, train=True,
                             opt=["adam", 1e-2, 0.0, 0.0]),
    # odd height, even width: the transposed convolutions' output_padding is (1, 0), then (0, 1) (28x28: 1 and 1);
    # three channels; decoupled weight decay
    "conv-autoencoder-odd": dict(model="conv-autoencoder", input=[2, 3, 15, 10], classes=10, train=True,
                                 opt=["adamw", 1e-2, 0.0, 0.05]),
    # three channels, not square: 3 x 5 = 15 time steps (rows, channel after channel) of 7 features
    "lstm-rgb": dict(model="lstm", input=[2, 3, 5, 7], classes=4, train=True, opt=["adam", 1e-2, 0.0, 0.0]),
    # The ResNets: 2 steps, the state's change after the first. Their gradients are sensitive to ReLU kinks (a
    # batch-norm scale's gradient sums over as few as 16 positions in layer4, so one activation crossing zero moves
    # it by percents), so from the second step's gradient on PyTorch's own float32 run leaves its float64 one (at
    # 4 steps: losses 4e-3 apart, state changes 6%): no yardstick. The first step's gradient and update, and the
    # loss after it, are well-conditioned (float32 within 1e-5 of float64).
    "resnet18-cifar-narrow": dict(model="resnet18-cifar-narrow", input=[4, 3, 32, 32], classes=10, train=True,
                                  opt=["sgd-nesterov", 0.05, 0.9, 5e-4], steps=2, update_after=1),
    # full width: 11 M parameters, so eval mode and one 16x16 image (train mode: the narrow case, the same code)
    "resnet18-cifar": dict(model="resnet18-cifar", input=[1, 3, 16, 16], classes=10, train=False,
                           opt=["sgd", 0.01, 0.9, 5e-4], steps=2, update_after=1),
}

RECONSTRUCTION = {"autoencoder", "conv-autoencoder"}

# Whole fits through dl-train's Trainer: epochs over a small train split in order (no shuffle), batches of 4 with a
# smaller last one, the schedule set before each step, gradient clipping, label smoothing, a validation pass after
# each epoch; compared per epoch: the mean training loss (sum of batch size x batch loss / samples), the validation
# loss, the last step's learning rate, and every state entry's change over the fit.
FITS = {
    "fit-mlp": dict(model="mlp", sample=[1, 8, 8], classes=10, train=10, val=4, batch=4, epochs=2,
                    opt=["sgd-nesterov", 0.05, 0.9, 5e-4], schedule="cosine", label_smoothing=0.1, clip_norm=1.0),
    # the Trainer's reconstruction target: the input with the dataset's normalisation undone (x * std + mean)
    "fit-autoencoder": dict(model="autoencoder", sample=[1, 8, 8], classes=10, train=10, val=4, batch=4, epochs=2,
                            opt=["adam", 1e-2, 0.0, 1e-4], schedule="constant", label_smoothing=0.0, clip_norm=0.0,
                            mean=0.3, std=0.35),
}


def build(torch, model, c, h, w, classes):
    """The PyTorch twin of a registry model for a C x H x W input, with dl-train's state_dict names."""
    nn = torch.nn
    if model == "mlp":  # Flatten, in-256-128-classes, ReLU between (nn.Sequential indices as ours: 1, 3, 5)
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, classes))
    if model == "lstm":  # rows (channel after channel) as C*H time steps of W features, 2-layer LSTM 128, last step -> fc
        class Lstm(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(w, 128, 2, batch_first=True)
                self.fc = nn.Linear(128, classes)

            def forward(self, x):
                out, _ = self.lstm(x.reshape(x.shape[0], c * h, w))  # zero initial state
                return self.fc(out[:, -1])
        return Lstm()
    if model == "autoencoder":
        class Dense(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU())
                self.decoder = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, c * h * w), nn.Sigmoid(),
                                             nn.Unflatten(1, (c, h, w)))

            def forward(self, x):
                return self.decoder(self.encoder(x))
        return Dense()
    if model == "conv-autoencoder":
        # encoder: two 3x3 stride-2 padding-1 convs; decoder: two 3x3 stride-2 padding-1 transposed convs whose
        # output_padding brings back the size each conv had as input (out = (in - 1) * 2 - 2 + 3 + output_padding)
        h1, w1 = (h + 1) // 2, (w + 1) // 2
        h2, w2 = (h1 + 1) // 2, (w1 + 1) // 2

        class Conv(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = nn.Sequential(nn.Conv2d(c, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU())
                self.decoder = nn.Sequential(
                    nn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=(h1 - (2 * h2 - 1), w1 - (2 * w2 - 1))), nn.ReLU(),
                    nn.ConvTranspose2d(16, c, 3, 2, 1, output_padding=(h - (2 * h1 - 1), w - (2 * w1 - 1))), nn.Sigmoid())

            def forward(self, x):
                return self.decoder(self.encoder(x))
        return Conv()
    if model in ("resnet18-cifar", "resnet18-cifar-narrow"):
        return cifar_resnet18(torch, 64 if model == "resnet18-cifar" else 16, classes)
    raise SystemExit("unknown model " + model)


def cifar_resnet18(torch, width, classes):
    """torchvision's resnet18 layout (BasicBlock 2-2-2-2, downsample.0/1) with widths width x 1, 2, 4, 8 and the CIFAR
    stem: conv1 3x3 stride 1 padding 1, no max-pool."""
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU()
            planes = [width, 2 * width, 4 * width, 8 * width]
            inplanes = width
            for i, p in enumerate(planes):
                stride = 1 if i == 0 else 2
                setattr(self, "layer%d" % (i + 1), nn.Sequential(BasicBlock(inplanes, p, stride), BasicBlock(p, p, 1)))
                inplanes = p
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8 * width, classes)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


def check_resnet_twin(torch, classes):
    """The full-width twin has torchvision's resnet18 names and shapes (with the CIFAR stem swapped in)."""
    torch.library.register_fake = lambda *a, **k: (lambda f: f)  # torchvision 0.28's import on the CPU wheel
    import torchvision
    tv = torchvision.models.resnet18(weights=None, num_classes=classes)
    tv.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    ours = {k: tuple(v.shape) for k, v in cifar_resnet18(torch, 64, classes).state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in tv.state_dict().items()}
    if ours != theirs:
        raise SystemExit("the resnet18-cifar twin differs from torchvision's resnet18: "
                         + str(set(ours.items()) ^ set(theirs.items())))


def make_optimizer(torch, name, params, lr, momentum, wd):
    """What dl-train's Optimizers.create builds, in torch.optim (every other hyper-parameter PyTorch's default)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "sgd-nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd, nesterov=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise SystemExit("no twin for optimiser " + name)


def run(torch, case, c, dtype, x, y):
    """The case's STEPS training steps in dtype: output of the first, losses, first gradients' and updates' stats."""
    n, ch, h, w = c["input"]
    m = build(torch, c["model"], ch, h, w, c["classes"])
    initial = {}
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if k.endswith("num_batches_tracked"):
                v.zero_()
            else:
                initial[k] = formula_value(torch, k, list(v.shape)).double()
                v.copy_(initial[k])
    m = m.to(dtype)
    m.train(c["train"])
    opt = make_optimizer(torch, *c["opt"][:1], m.parameters(), *c["opt"][1:])
    recon = c["model"] in RECONSTRUCTION
    xd, yd = x.to(dtype), (y.to(dtype) if recon else y)
    losses, output, grads, update = [], None, None, None
    steps, update_after = c.get("steps", STEPS), c.get("update_after", c.get("steps", STEPS))
    for step in range(steps):
        opt.zero_grad()
        out = m(xd)
        loss = torch.nn.functional.mse_loss(out, yd) if recon else torch.nn.functional.cross_entropy(out, yd)
        loss.backward()
        if step == 0:
            output = out.detach().clone()
            grads = [(k, p.grad.detach().clone()) for k, p in m.named_parameters()]
        opt.step()
        losses.append(loss.item())
        if step + 1 == update_after:
            state = m.state_dict()
            update = [(k, state[k].double() - v) for k, v in initial.items()]
            counters = [v.clone() for k, v in state.items() if k.endswith("num_batches_tracked")]
    return output, torch.tensor(losses, dtype=torch.float64), grads, update, counters


def fit(torch, c, dtype, tx, ty, vx, vy):
    """The fit twin: the Trainer's loop in PyTorch (CosineAnnealingLR stepped per batch over the whole run)."""
    F = torch.nn.functional
    ch, h, w = c["sample"]
    m = build(torch, c["model"], ch, h, w, c["classes"])
    initial = {}
    with torch.no_grad():
        for k, v in m.state_dict().items():
            initial[k] = formula_value(torch, k, list(v.shape)).double()
            v.copy_(initial[k])
    m = m.to(dtype)
    name, lr, momentum, wd = c["opt"]
    opt = make_optimizer(torch, name, m.parameters(), lr, momentum, wd)
    steps_per_epoch = (c["train"] + c["batch"] - 1) // c["batch"]
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps_per_epoch * c["epochs"]) if c["schedule"] == "cosine"
             else None)
    recon = c["model"] in RECONSTRUCTION

    def loss_of(out, x, y):
        if recon:
            return F.mse_loss(out, x * c["std"] + c["mean"])
        return F.cross_entropy(out, y, label_smoothing=c["label_smoothing"])

    train_loss, val_loss, lrs = [], [], []
    for epoch in range(c["epochs"]):
        m.train()
        total, seen = 0.0, 0
        for i in range(0, c["train"], c["batch"]):
            x, y = tx[i:i + c["batch"]].to(dtype), ty[i:i + c["batch"]]
            lrs_now = opt.param_groups[0]["lr"]
            loss = loss_of(m(x), x, y)
            opt.zero_grad()
            loss.backward()
            if c["clip_norm"] > 0:
                torch.nn.utils.clip_grad_norm_(m.parameters(), c["clip_norm"])
            opt.step()
            if sched is not None:
                sched.step()
            total += x.shape[0] * loss.item()
            seen += x.shape[0]
        train_loss.append(total / seen)
        lrs.append(lrs_now)
        m.eval()
        with torch.no_grad():
            total = sum(vx[i:i + c["batch"]].shape[0] * loss_of(m(vx[i:i + c["batch"]].to(dtype)), vx[i:i + c["batch"]].to(dtype),
                                                                  vy[i:i + c["batch"]]).item() for i in range(0, c["val"], c["batch"]))
        val_loss.append(total / c["val"])
    state = m.state_dict()
    update = [(k, state[k].double() - v) for k, v in initial.items()]
    return (torch.tensor(train_loss, dtype=torch.float64), torch.tensor(val_loss, dtype=torch.float64),
            torch.tensor(lrs, dtype=torch.float64), update)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("runtime", "src", "test", "resources", "golden"))
    args = ap.parse_args()
    import torch
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # a fixed reduction order: the file does not depend on the machine's core count
    check_resnet_twin(torch, 10)
    g = torch.Generator().manual_seed(SEED)
    tensors, cases = [], {}
    for case, c in CASES.items():
        shape = c["input"]
        if c["model"] in RECONSTRUCTION:
            # the Trainer's reconstruction: normalised pixels in, the pixels in [0, 1] as the target
            y = torch.rand(*shape, generator=g)
            x = ((y - 0.3) / 0.35).float()
            tensors += [entry(case + ".input", x), entry(case + ".target", y)]
            loss = "mse"
        else:
            x = torch.randn(*shape, generator=g)
            y = torch.randint(0, c["classes"], (shape[0],), generator=g)
            tensors += [entry(case + ".input", x), entry(case + ".labels", y)]
            loss = "cross_entropy"
        o64, l64, g64, u64, n64 = run(torch, case, c, torch.float64, x, y)
        o32, l32, g32, u32, _ = run(torch, case, c, torch.float32, x, y)
        tensors += [entry(case + ".output", o64), entry(case + ".output32", o32),
                    entry(case + ".losses", l64), entry(case + ".losses32", l32)]
        tensors.append(entry(case + ".grads", torch.cat([torch.stack([stats(torch, k, v) for k, v in g64]),
                                                         torch.stack([stats(torch, k, v) for k, v in g32])], dim=1)))
        tensors.append(entry(case + ".update", torch.cat([torch.stack([stats(torch, k, v) for k, v in u64]),
                                                          torch.stack([stats(torch, k, v) for k, v in u32])], dim=1)))
        if n64:
            tensors.append(entry(case + ".num_batches_tracked", torch.stack(n64)))
        name, lr, momentum, wd = c["opt"]
        cases[case] = {"model": c["model"], "input": shape, "classes": c["classes"], "train": c["train"], "loss": loss,
                       "optimizer": name, "lr": lr, "momentum": momentum, "weight_decay": wd,
                       "steps": c.get("steps", STEPS), "update_after": c.get("update_after", c.get("steps", STEPS)),
                       "grads": [k for k, _ in g64], "update": [k for k, _ in u64]}
        print(f"{case}: losses " + " ".join(f"{v:.6f}" for v in l64.tolist())
              + f"; PyTorch float32 vs float64: output {(o32.double() - o64).abs().max().item():.3g},"
              f" losses {(l32 - l64).abs().max().item():.3g}")
    fits = {}
    for case, c in FITS.items():
        shape = c["sample"]
        tx, vx = torch.randn(c["train"], *shape, generator=g), torch.randn(c["val"], *shape, generator=g)
        ty = torch.randint(0, c["classes"], (c["train"],), generator=g)
        vy = torch.randint(0, c["classes"], (c["val"],), generator=g)
        tensors += [entry(case + ".train_x", tx), entry(case + ".train_y", ty), entry(case + ".val_x", vx), entry(case + ".val_y", vy)]
        r64, r32 = fit(torch, c, torch.float64, tx, ty, vx, vy), fit(torch, c, torch.float32, tx, ty, vx, vy)
        for i, key in enumerate(("train_loss", "val_loss", "lr")):
            tensors += [entry(case + "." + key, r64[i]), entry(case + "." + key + "32", r32[i])]
        tensors.append(entry(case + ".update", torch.cat([torch.stack([stats(torch, k, v) for k, v in r64[3]]),
                                                          torch.stack([stats(torch, k, v) for k, v in r32[3]])], dim=1)))
        fits[case] = dict(c, update=[k for k, _ in r64[3]])
        print(f"{case}: train losses " + " ".join(f"{v:.6f}" for v in r64[0].tolist()) + ", validation "
              + " ".join(f"{v:.6f}" for v in r64[1].tolist()) + f"; PyTorch float32 vs float64: {(r32[0] - r64[0]).abs().max().item():.3g}")
    meta = {"cases": json.dumps(cases), "fits": json.dumps(fits), "seed": SEED, "phi": repr(PHI), "psi": repr(PSI), "reference_dtype": "float64",
            "torch_version": torch.__version__, "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "training.golden.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(CASES)} cases and {len(FITS)} fits, torch {torch.__version__}")


if __name__ == "__main__":
    main()
