"""PyTorch twin of runtime/src/test/java/io/dltrain/runtime/bench/ConvShapesBench.java: each distinct convolution
shape of resnet18-cifar-narrow at batch 128, conv2d forward and aten.convolution_backward for the input and the
weight gradients separately, median of reps after warm-up, same output format; the CPU time is the calling thread's
(meaningful with threads=1, where oneDNN/MKL run on it).

    /opt/venv-torch/bin/python benchmarks/pytorch/conv_shapes_torch.py [threads=2] [reps=10] [batch=128] [shapes=cifar|resnet18]
"""
import sys
import time

import torch

SHAPES = [(3, 32, 16, 3, 1, 1), (16, 32, 16, 3, 1, 1), (16, 32, 32, 3, 2, 1), (32, 16, 32, 3, 1, 1), (16, 32, 32, 1, 2, 0),
          (32, 16, 64, 3, 2, 1), (64, 8, 64, 3, 1, 1), (32, 16, 64, 1, 2, 0), (64, 8, 128, 3, 2, 1), (128, 4, 128, 3, 1, 1),
          (64, 8, 128, 1, 2, 0)]
# torchvision resnet18 at 224 (run at batch 16): the stem and the stride-2 convolutions of layer2-4
RESNET18_STRIDE2 = [(3, 224, 64, 7, 2, 3), (64, 56, 128, 3, 2, 1), (64, 56, 128, 1, 2, 0), (128, 28, 256, 3, 2, 1),
                    (128, 28, 256, 1, 2, 0), (256, 14, 512, 3, 2, 1), (256, 14, 512, 1, 2, 0)]


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    which = sys.argv[4] if len(sys.argv) > 4 else "cifar"
    if which not in ("cifar", "resnet18"):
        sys.exit(f"shapes: '{which}' is neither cifar nor resnet18")
    shapes = RESNET18_STRIDE2 if which == "resnet18" else SHAPES
    torch.set_num_threads(threads)
    print(f"# pytorch {torch.__version__} threads={torch.get_num_threads()} reps={reps}")
    g = torch.Generator().manual_seed(1)
    for c, h, k, r, st, pad in shapes:
        p = (h + 2 * pad - r) // st + 1
        x = torch.rand(n, c, h, h, generator=g) * 2 - 1
        w = torch.rand(k, c, r, r, generator=g) * 2 - 1
        dy = torch.rand(n, k, p, p, generator=g) * 2 - 1
        ops = [
            lambda: torch.nn.functional.conv2d(x, w, None, st, pad),
            lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [st, st], [pad, pad], [1, 1], False, [0, 0], 1,
                                                        [True, False, False]),
            lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [st, st], [pad, pad], [1, 1], False, [0, 0], 1,
                                                        [False, True, False]),
        ]
        ms, cpu = [], []
        with torch.no_grad():
            for op in ops:
                for _ in range(3):
                    op()
                t, u = [], []
                for _ in range(reps):
                    c0, t0 = time.thread_time(), time.perf_counter()
                    op()
                    t.append((time.perf_counter() - t0) * 1e3)
                    u.append((time.thread_time() - c0) * 1e3)
                t.sort()
                u.sort()
                ms.append(t[reps // 2])
                cpu.append(u[reps // 2])
        gf = 2.0 * n * k * p * p * c * r * r / 1e9
        load = open("/proc/loadavg").read()[:14]
        print(f"N{n} C{c} H{h} K{k} {r}x{r} s{st} p{pad} GF {gf:.3f} | fwd {ms[0]:.2f} ms (cpu {cpu[0]:.2f})"
              f" | bwdData {ms[1]:.2f} ms (cpu {cpu[1]:.2f}) | bwdFilter {ms[2]:.2f} ms (cpu {cpu[2]:.2f}) | load {load}")


if __name__ == "__main__":
    main()
