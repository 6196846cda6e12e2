#!/usr/bin/env python3
"""Golden outputs of torchvision's ImageNet validation transform, for dl-train's ValTransformGoldenTest.

`imagenet-subset` evaluates (and `predict` classifies) images with torchvision's recipe: Resize(round(S * 256 / 224))
+ CenterCrop(S) + Normalize(ImageNet mean, std). This writes a few PNG images (lossless, so both sides decode the same
bytes; JPEG decoders differ by a level here and there) and what torchvision makes of them at S = 32, two ways:

  <image>.tensor   torchvision's tensor path in float64: to_tensor, resize(..., antialias=True) (Pillow's antialiased
                   bilinear algorithm, ported), center_crop, normalize. dl-train resamples float images with the
                   same algorithm, so this is the reference to float32 rounding.
  <image>.pil      torchvision's classic PIL path, what most PyTorch code runs: Resize and CenterCrop on the PIL
                   image, then ToTensor and Normalize. Pillow rounds to 8 bits after each of its two resampling
                   passes, so dl-train's float result differs from this by up to about 1/255 before normalisation.
  <image>.crop.<top>.<left>.<h>.<w>
                   RandomResizedCrop's geometry for fixed boxes: resized_crop(..., [S, S], antialias=True) on the
                   tensor path, values in [0, 1] (the random box draws are the RNG's, not compared)

Images (under datasets/src/test/resources/golden/transform/): stripes of 2- and 3-pixel period over gradients (where
antialiasing decides the result), in sizes that downscale by 4 to 6 in both orientations, that upscale, and one
greyscale image (torchvision's loader converts it to RGB). Needs torch, torchvision and Pillow (Debian:
apt-get install python3-torchvision). From the repository root:

  /usr/bin/python3 benchmarks/pytorch/export_transform_golden.py [--out datasets/src/test/resources/golden/transform]
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_golden import entry, write_safetensors  # noqa: E402

SIZE = 32
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# name -> (height, width, mode)
IMAGES = {
    "landscape": (150, 200, "RGB"),
    "portrait": (211, 130, "RGB"),
    "small": (20, 28, "RGB"),
    "grey": (90, 90, "L"),
}


# RandomResizedCrop boxes per image (top, left, height, width): inside, touching the edges, thin, smaller than SIZE
BOXES = {
    "landscape": [(10, 17, 120, 90), (0, 0, 150, 200), (37, 150, 113, 50)],
    "portrait": [(5, 3, 60, 127), (100, 20, 111, 33)],
    "small": [(2, 3, 15, 20), (0, 0, 20, 28)],
    "grey": [(11, 13, 77, 41)],
}


def pattern(torch, h, w, channels, phase):
    """uint8 [h, w, channels]: vertical stripes of period 2, horizontal ones of period 3, over two gradients."""
    y = torch.arange(h, dtype=torch.float64).reshape(h, 1)
    x = torch.arange(w, dtype=torch.float64).reshape(1, w)
    out = []
    for c in range(channels):
        v = 40 + 120 * x / max(1, w - 1) + 60 * y / max(1, h - 1)
        v = v + 35 * ((x + c + phase) % 2) - 25 * (((y + 2 * c) % 3) == 0).double()
        out.append(v.clamp(0, 255).round())
    return torch.stack(out, dim=2).to(torch.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join("datasets", "src", "test", "resources", "golden", "transform"))
    args = ap.parse_args()
    import torch
    import torchvision
    import torchvision.transforms as T
    import torchvision.transforms.functional as F
    from PIL import Image
    os.makedirs(args.out, exist_ok=True)
    resize = int(round(SIZE * 256 / 224))
    tensors = []
    for k, (name, (h, w, mode)) in enumerate(IMAGES.items()):
        px = pattern(torch, h, w, 3 if mode == "RGB" else 1, k)
        arr = px.numpy() if mode == "RGB" else px[:, :, 0].numpy()
        path = os.path.join(args.out, name + ".png")
        Image.fromarray(arr, mode).save(path)
        img = Image.open(path).convert("RGB")  # torchvision's ImageFolder loader
        t = F.to_tensor(img).double()
        t = F.normalize(F.center_crop(F.resize(t, resize, antialias=True), [SIZE, SIZE]), MEAN, STD)
        pil = T.Compose([T.Resize(resize), T.CenterCrop(SIZE), T.ToTensor(), T.Normalize(MEAN, STD)])(img)
        tensors += [entry(name + ".tensor", t), entry(name + ".pil", pil)]
        # RandomResizedCrop's crop-and-resize for fixed boxes {top, left, height, width} (its random draws are the
        # RNG's; the geometry is this): the tensor path, in [0, 1] (no normalisation).
        t0 = F.to_tensor(img).double()
        for top, left, bh, bw in BOXES[name]:
            box = F.resized_crop(t0, top, left, bh, bw, [SIZE, SIZE], antialias=True)
            tensors.append(entry(f"{name}.crop.{top}.{left}.{bh}.{bw}", box))
        print(f"{name}: {h}x{w} {mode} -> 3x{SIZE}x{SIZE}; tensor vs PIL path: max |diff| {(t - pil.double()).abs().max().item():.4f}")
    meta = {"size": SIZE, "resize": resize, "images": json.dumps(IMAGES), "mean": json.dumps(MEAN), "std": json.dumps(STD),
            "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
            "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    path = os.path.join(args.out, "val-transform.golden.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, torchvision {torchvision.__version__}")


if __name__ == "__main__":
    main()
