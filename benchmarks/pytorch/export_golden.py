#!/usr/bin/env python3
"""Golden training states from PyTorch, for dl-train's replay test (llm.c's method).

For each model, with fixed seeds, this builds in PyTorch a network whose architecture and state_dict names equal
dl-train's, and writes two small safetensors files under runtime/src/test/resources/golden/:

  <model>.weights.safetensors   the initial state_dict (float32; num_batches_tracked int64), exactly the names
                                dl-train's Module.stateDict() uses, so Checkpoint.loadInto(model, file, strict) loads it
  <model>.golden.safetensors    input [N, C, H, W] (float32), labels [N] (int64), and from the first step on that batch
                                (train mode, cross-entropy): logits [N, classes], loss [1], grad.<param> for every
                                parameter; then losses [10]: the loss of each of 10 SGD steps (lr 0.01, momentum 0.9,
                                zero_grad / forward / loss / backward / step, the same batch every step), and
                                final.<name>: the whole state_dict after those 10 steps.
                                Metadata: model, lr, momentum, steps, seed, reference_dtype, torch_version, python,
                                date.

Models:
  lenet5         dl-train's ModelRegistry.lenet5 for 1x28x28 inputs (nn.Sequential indices 0..11, like ours), batch 4
  resnet-narrow  a two-stage ResNet built from torchvision's BasicBlock layout (conv3x3 / bn / relu, projection
                 shortcut "downsample.0/1"), width 8 -> 16, CIFAR stem (3x3 stride 1, no max-pool), 3x16x16, batch 4.
                 dl-train's registry has no width option (resnet18's weights and gradients would be ~90 MB), so the
                 replay test assembles the same network from dl-train's own ResNets.BasicBlock.

The reference is computed in float64 on the CPU (weights and input are float32 values, widened): it is then exact to
float32's resolution, deterministic (no cuDNN algorithm choice, no TF32), and dl-train's float32 result is compared
against it with float32 tolerances. The batch-norm parameters and running statistics are randomised (not 1/0) so
that swapping gamma and beta, or the running mean and variance, cannot go unnoticed.

Needs only torch (no numpy, no torchvision, no safetensors package: the format is written here). Runs on the CPU
(CUDA is never touched), wherever PyTorch is installed, from the repository root:

  python3 benchmarks/pytorch/export_golden.py [--out runtime/src/test/resources/golden]
"""
import argparse
import datetime
import json
import os
import struct
import sys

SEED = 1234
LR, MOMENTUM, STEPS = 0.01, 0.9, 10


# ---------------------------------------------------------------- safetensors writer (no torch needed)

def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype 'F32'|'I64', shape list, little-endian bytes). Header padded with spaces to a
    multiple of 8 bytes, tensors tiling the data section: the I64 ones first, so every tensor starts aligned to its
    element size (as the safetensors package orders them, by alignment), then in the given order."""
    tensors = sorted(tensors, key=lambda t: 0 if t[1] == "I64" else 1)  # stable: the given order within each dtype
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    offset = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, data in tensors:
            f.write(data)
    os.replace(tmp, path)


def entry(name, t):
    """(name, dtype, shape, bytes) of a torch tensor: floating -> F32, integer -> I64."""
    import torch
    t = t.detach().cpu().contiguous()
    if t.is_floating_point():
        t = t.to(torch.float32)
        dtype = "F32"
    else:
        t = t.to(torch.int64)
        dtype = "I64"
    values = t.flatten().tolist()
    return name, dtype, list(t.shape), struct.pack("<%d%s" % (len(values), "f" if dtype == "F32" else "q"), *values)


# ---------------------------------------------------------------- models (dl-train's names and layouts)

def build(name):
    import torch.nn as nn

    if name == "lenet5":
        # ModelRegistry.lenet5 for 28x28: conv5 pad 2 - relu - pool - conv5 - relu - pool - flatten - 400-120-84-10
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5, 1, 0), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10)), (1, 28, 28)

    if name == "resnet-narrow":
        def conv3x3(i, o, s=1):
            return nn.Conv2d(i, o, 3, s, 1, bias=False)

        class BasicBlock(nn.Module):
            """torchvision.models.resnet.BasicBlock (expansion 1)."""

            def __init__(self, inplanes, planes, stride=1, downsample=None):
                super().__init__()
                self.conv1 = conv3x3(inplanes, planes, stride)
                self.bn1 = nn.BatchNorm2d(planes)
                self.relu = nn.ReLU()
                self.conv2 = conv3x3(planes, planes)
                self.bn2 = nn.BatchNorm2d(planes)
                self.downsample = downsample

            def forward(self, x):
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                identity = x if self.downsample is None else self.downsample(x)
                return self.relu(out + identity)

        class NarrowResNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = conv3x3(3, 8)
                self.bn1 = nn.BatchNorm2d(8)
                self.relu = nn.ReLU()
                self.layer1 = nn.Sequential(BasicBlock(8, 8))
                self.layer2 = nn.Sequential(BasicBlock(8, 16, 2, nn.Sequential(
                    nn.Conv2d(8, 16, 1, 2, 0, bias=False), nn.BatchNorm2d(16))))
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.fc = nn.Linear(16, 10)

            def forward(self, x):
                h = self.relu(self.bn1(self.conv1(x)))
                h = self.layer2(self.layer1(h))
                return self.fc(self.avgpool(h).flatten(1))

        return NarrowResNet(), (3, 16, 16)

    raise SystemExit(f"unknown model {name}; use lenet5 or resnet-narrow")


def export(name, out_dir, batch):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(SEED)
    model, (c, h, w) = build(name)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.8, 1.2)
    model = model.float()
    x = torch.randn(batch, c, h, w, dtype=torch.float32)
    y = torch.randint(0, 10, (batch,), dtype=torch.int64)

    weights = [entry(k, v) for k, v in model.state_dict().items()]

    ref = model.double().train()  # float32 values widened: the reference is float64 arithmetic on them
    x64 = x.double()
    opt = torch.optim.SGD(ref.parameters(), lr=LR, momentum=MOMENTUM)
    losses, first = [], None
    for step in range(STEPS):
        opt.zero_grad()
        logits = ref(x64)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        if step == 0:
            first = ([entry("logits", logits), entry("loss", loss.reshape(1))]
                     + [entry("grad." + k, p.grad) for k, p in ref.named_parameters()])
        opt.step()
        losses.append(loss.item())

    golden = [entry("input", x), entry("labels", y)] + first + [entry("losses", torch.tensor(losses, dtype=torch.float64))]
    golden += [entry("final." + k, v) for k, v in ref.state_dict().items()]
    meta = {"model": name, "lr": LR, "momentum": MOMENTUM, "steps": STEPS, "seed": SEED, "reference_dtype": "float64",
            "torch_version": torch.__version__, "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    os.makedirs(out_dir, exist_ok=True)
    wpath = os.path.join(out_dir, name + ".weights.safetensors")
    gpath = os.path.join(out_dir, name + ".golden.safetensors")
    write_safetensors(wpath, weights, meta)
    write_safetensors(gpath, golden, meta)
    print(f"{name}: {os.path.getsize(wpath)} + {os.path.getsize(gpath)} bytes; losses "
          + " ".join(f"{v:.6f}" for v in losses))
    for p in (wpath, gpath):
        if os.path.getsize(p) > 1 << 20:
            raise SystemExit(f"{p} is over 1 MiB; golden files must stay small")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("runtime", "src", "test", "resources", "golden"))
    ap.add_argument("--models", default="lenet5,resnet-narrow")
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    import torch
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # a fixed reduction order: the files do not depend on the machine's core count
    for name in args.models.split(","):
        export(name.strip(), args.out, args.batch)


if __name__ == "__main__":
    main()
