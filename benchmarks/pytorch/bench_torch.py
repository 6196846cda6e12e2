#!/usr/bin/env python3
"""PyTorch peer of `dl-train bench`: training-step throughput of one model at one batch size.

The step is the same as dl-train's: forward, cross-entropy loss, zero_grad, backward, SGD (lr 0.01, momentum 0.9)
step, on one random batch made once on the device. After --warmup untimed steps (which also absorb torch.compile's
compilation), --windows windows of --steps steps are timed end to end (CUDA events on a GPU; one synchronize at each
window end, none inside) and images/s is reported per window, with the median, min and max. The per-phase breakdown
needs a synchronize after every phase, so it comes from one extra window after the timed ones.

Prints one JSON object with the same keys as `dl-train bench --json` (plus torch_version and friends). Keys that
have no PyTorch counterpart (format_version, dl_train_version, dl_train_build, java_version, backend_allocs_per_step...)
are null.

Models: lenet5, mlp, lstm and resnet18-cifar-narrow exactly as dl-train's ModelRegistry builds them; any other name is looked up in
torchvision.models (resnet18, resnet50, ...) and built with weights=None.

Examples:
  python3 benchmarks/pytorch/bench_torch.py --model resnet50 --batch-size 256 --precision bf16 --compile
  python3 benchmarks/pytorch/bench_torch.py --model lenet5 --batch-size 8 --device cpu --steps 2 --windows 1
"""
import argparse
import json
import platform
import statistics
import sys
import time
from contextlib import nullcontext

import torch
import torch.nn as nn
import torch.nn.functional as F

LR, MOMENTUM, SEED = 0.01, 0.9, 42


# ---------------------------------------------------------------- models (as dl-train's ModelRegistry)

def mlp(c, h, w, classes):
    """Flatten, then in -> 256 -> 128 -> classes with ReLU between (ModelRegistry.mlp)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(c * h * w, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, classes))


def lenet5(c, h, w, classes):
    """LeNet-5 with ReLU and max pooling; the first convolution pads by 2 (ModelRegistry.lenet5)."""
    fh, fw = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    if fh < 1 or fw < 1:
        raise ValueError(f"lenet5 needs inputs of at least 12x12, got {h}x{w}")
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, stride=1, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2, 0),
        nn.Conv2d(6, 16, 5, stride=1, padding=0), nn.ReLU(), nn.MaxPool2d(2, 2, 0),
        nn.Flatten(),
        nn.Linear(16 * fh * fw, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, classes))


def import_torchvision():
    """torchvision 0.28's import fails beside the 2.13 CPU wheel ("operator torchvision::nms does not exist") while
    its fake-kernel registrations run; those matter only to torch.compile's tracing of its ops, so they are skipped."""
    torch.library.register_fake = lambda *a, **k: (lambda f: f)
    import torchvision
    return torchvision


def resnet18_cifar_narrow(c, h, w, classes):
    """ResNets.resnet18CifarNarrow: torchvision's ResNet-18 (BasicBlock 2-2-2-2, kaiming fan_out init) with a 3x3
    stride-1 stem, no max-pool and a quarter of the width (16-32-64-128 channels)."""
    import_torchvision()
    from torchvision.models.resnet import BasicBlock, ResNet
    m = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=classes)  # torchvision builds 64-128-256-512; rebuilt below
    m.inplanes = 16
    m.conv1 = nn.Conv2d(c, 16, 3, stride=1, padding=1, bias=False)
    m.bn1 = nn.BatchNorm2d(16)
    m.maxpool = nn.Identity()
    m.layer1 = m._make_layer(BasicBlock, 16, 2)
    m.layer2 = m._make_layer(BasicBlock, 32, 2, stride=2)
    m.layer3 = m._make_layer(BasicBlock, 64, 2, stride=2)
    m.layer4 = m._make_layer(BasicBlock, 128, 2, stride=2)
    m.fc = nn.Linear(128, classes)
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
    return m


class LstmClassifier(nn.Module):
    """Rnns.lstm: the image's C*H rows as time steps of W features, nn.LSTM(W, 128, num_layers=2, batch_first=True),
    then a Linear on the last step's hidden state; the same parameters, sizes and state_dict names (lstm.weight_ih_l0,
    ..., fc.bias) as the registry's lstm (README's "Using a trained model from PyTorch")."""

    def __init__(self, c, h, w, classes, hidden=128, layers=2):
        super().__init__()
        self.steps, self.features = c * h, w
        self.lstm = nn.LSTM(w, hidden, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        out, _ = self.lstm(x.reshape(x.shape[0], self.steps, self.features))
        return self.fc(out[:, -1])


def lstm(c, h, w, classes):
    return LstmClassifier(c, h, w, classes)


# name -> (builder, (channels, size, classes)): the default spec each model is listed with
LOCAL_MODELS = {"mlp": (mlp, (1, 28, 10)), "lenet5": (lenet5, (1, 28, 10)), "lstm": (lstm, (1, 28, 10)),
                "resnet18-cifar-narrow": (resnet18_cifar_narrow, (3, 32, 10))}
TORCHVISION_DEFAULT = (3, 224, 1000)  # ImageNet


def build_model(name, image_size):
    """Returns (model, channels, size, classes)."""
    if name in LOCAL_MODELS:
        builder, (c, s, classes) = LOCAL_MODELS[name]
        s = image_size or s
        return builder(c, s, s, classes), c, s, classes
    torchvision = import_torchvision()
    ctor = getattr(torchvision.models, name, None)
    if ctor is None or not callable(ctor) or name.startswith("_"):
        raise ValueError(f"unknown model '{name}': use mlp, lenet5, lstm, resnet18-cifar-narrow or a torchvision.models name (resnet18, resnet50, ...)")
    c, s, classes = TORCHVISION_DEFAULT
    s = image_size or s
    return ctor(weights=None, num_classes=classes), c, s, classes


# ---------------------------------------------------------------- measuring

def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch training-step throughput (peer of `dl-train bench`).")
    p.add_argument("--model", required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--image-size", type=int, default=None, help="input height = width (default: the model's)")
    p.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--channels-last", action="store_true", help="model and input in channels_last memory format")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 leaves PyTorch's default")
    p.add_argument("--count-kernels", action="store_true",
                   help="CUDA only: count device kernels/copies per step with torch.profiler (one extra window)")
    a = p.parse_args(argv)
    for name in ("batch_size", "steps", "windows"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if a.warmup < 0 or a.threads < 0 or (a.image_size is not None and a.image_size < 1):
        p.error("--warmup and --threads must be >= 0, --image-size >= 1")
    return a, p


def main(argv=None):
    a, parser = parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev_arg = a.device.lower()
    if dev_arg == "auto":
        dev_arg = "cuda" if torch.cuda.is_available() else "cpu"
    if dev_arg.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {a.device}: torch.cuda.is_available() is False")
    device = torch.device(dev_arg)
    cuda = device.type == "cuda"
    if a.precision == "tf32" and not cuda:
        parser.error("--precision tf32 needs a CUDA device")
    if a.count_kernels and not cuda:
        parser.error("--count-kernels needs a CUDA device")

    # fp32 means true fp32: cuDNN's TF32 default (True) is switched off too. bf16 autocasts forward and loss and
    # keeps the remaining fp32 ops in true fp32.
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True  # pick the fastest convolution algorithms, as a tuned PyTorch run does

    torch.manual_seed(SEED)
    try:
        model, c, s, classes = build_model(a.model.lower(), a.image_size)
    except ValueError as e:
        parser.error(str(e))
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    net = torch.compile(model) if a.compile else model

    # One random batch, made once on the device (torch.randn images, labels uniform in [0, classes)).
    x = torch.randn(a.batch_size, c, s, s, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, classes, (a.batch_size,), device=device)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if a.precision == "bf16" else nullcontext()

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def step(phases=None):
        t0 = time.perf_counter()
        with autocast():
            loss = F.cross_entropy(net(x), y)
        if phases is not None:
            sync(); t1 = time.perf_counter(); phases["forward"] += t1 - t0
        opt.zero_grad(set_to_none=True)  # PyTorch's default
        loss.backward()
        if phases is not None:
            sync(); t2 = time.perf_counter(); phases["backward"] += t2 - t1
        opt.step()
        if phases is not None:
            sync(); phases["optimizer"] += time.perf_counter() - t2

    for _ in range(a.warmup):
        step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)  # peak of the steady state, not of compilation

    ips, step_ms = [], []
    for _ in range(a.windows):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(a.steps):
                step()
            end.record()
            end.synchronize()
            sec = start.elapsed_time(end) / 1e3
        else:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step()
            sec = time.perf_counter() - t0
        ips.append(a.steps * a.batch_size / sec)
        step_ms.append(sec * 1e3 / a.steps)

    phases = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    for _ in range(a.steps):
        step(phases)
    sync()

    ops_per_step = None
    if a.count_kernels:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(a.steps):
                step()
            sync()
        device_events = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
        ops_per_step = device_events / a.steps

    breakdown = {k: v * 1e3 / a.steps for k, v in phases.items()}
    variant = ("compile" if a.compile else "eager") + ("+channels_last" if a.channels_last else "")
    try:
        tv_version = import_torchvision().__version__
    except (ImportError, RuntimeError):  # absent, or built for another torch (its C++ ops do not register)
        tv_version = None
    result = {
        "framework": "pytorch",
        "variant": variant,
        "model": a.model.lower(),
        "batch_size": a.batch_size,
        "image_size": s,
        "input_shape": [c, s, s],
        "num_classes": classes,
        "precision": a.precision,
        "device": str(device) if device.index is not None or not cuda else "cuda:0",
        "device_name": torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "data": "synthetic",
        "warmup": a.warmup,
        "steps": a.steps,
        "windows": a.windows,
        "images_per_sec_median": statistics.median(ips),
        "images_per_sec_min": min(ips),
        "images_per_sec_max": max(ips),
        "images_per_sec_windows": ips,
        "step_ms": {
            "total": statistics.median(step_ms),
            "forward": breakdown["forward"],
            "backward": breakdown["backward"],
            "optimizer": breakdown["optimizer"],
            "data_wait": 0.0,  # the batch is made once on the device
            "breakdown_total": sum(breakdown.values()),
        },
        "breakdown_note": "step_ms.total is the median over the timed windows (no synchronisation inside a window); "
                          "the per-phase times come from one extra window with a synchronize after every phase, "
                          "which adds synchronisation",
        "peak_memory_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
        "reserved_memory_bytes": torch.cuda.memory_reserved(device) if cuda else None,  # the caching allocator's
        "backend_ops_per_step": ops_per_step,  # with --count-kernels: CUDA kernels + memcpy/memset per step
        "backend_ops_per_step_windows": None,
        "backend_allocs_per_step": None,
        "backend_transfers_per_step": 0.0,
        "backend_calls_per_step_by_op": None,
        "compile": a.compile,
        "channels_last": a.channels_last,
        "torch_version": torch.__version__,
        "torchvision_version": tv_version,
        "cuda_version": torch.version.cuda,
        "python_version": platform.python_version(),
        "format_version": None,
        "dl_train_version": None,
        "dl_train_build": None,
        "java_version": None,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
