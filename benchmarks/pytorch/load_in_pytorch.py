#!/usr/bin/env python3
"""Loads a model trained by dl-train into PyTorch and classifies images with it: the run's model/model.safetensors
holds PyTorch state_dict names, so the PyTorch twin of the registry model takes it with load_state_dict(strict=True).
Prints what `dl-train predict --json` prints (top-k classes with probabilities, per image); with --compare, also runs
that command (the dl-train launcher at the repository root) and reports the largest difference between the two.

Models: mlp and lenet5 (as bench_torch.py builds them, exactly as dl-train's ModelRegistry), and the registry's
torchvision copies (resnet18 and the rest: torchvision.models.X(num_classes=...), which ZooGoldenTest checks against
dl-train's names, shapes and outputs). Inputs: IDX image files (.gz or not), normalised with model.json's mean and std
as dl-train's validation transform does for IDX data; for a model trained on an image folder (imagefolder,
imagenet-subset), PNG/JPEG files through its validation pipeline (resize, centre crop, model.json's mean and std).

  python3 benchmarks/pytorch/load_in_pytorch.py runs/lenet5-fashion-mnist-... t10k-images-idx3-ubyte.gz --limit 5 --compare
  python3 benchmarks/pytorch/load_in_pytorch.py runs/resnet18-imagefolder-... photos/*.jpg --compare
"""
import argparse
import gzip
import json
import math
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import LOCAL_MODELS  # noqa: E402  (mlp and lenet5, as dl-train's ModelRegistry builds them)


def model_dir(path):
    """The directory holding model.safetensors and model.json: a run directory's model/, or the directory itself."""
    for d in (os.path.join(path, "model"), path):
        if os.path.isfile(os.path.join(d, "model.safetensors")) and os.path.isfile(os.path.join(d, "model.json")):
            return d
    sys.exit(f"{path}: no model/model.safetensors and model.json (give a dl-train run directory or its model/)")


# the registry's copies of torchvision models, built by torchvision itself (googlenet as dl-train builds it: no
# auxiliary classifiers, no transform_input)
TORCHVISION = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
               "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "googlenet", "densenet121"]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def build(meta):
    name, c, h, w, classes = meta["model"], meta["channels"], meta["height"], meta["width"], meta["classes"]
    if name in LOCAL_MODELS:
        return LOCAL_MODELS[name][0](c, h, w, classes)
    if name in TORCHVISION:
        import torchvision
        extra = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
        return getattr(torchvision.models, name)(num_classes=classes, **extra)
    sys.exit(f"model '{name}': this script builds the PyTorch twins of {', '.join(list(LOCAL_MODELS) + TORCHVISION)} only")


def read_image(path, meta):
    """An image file as dl-train's image-folder validation pipeline feeds it (model.json's "transform"): decoded as
    torchvision's ImageFolder loader does, resized and centre-cropped on the float tensor (antialiased, as dl-train
    does; torchvision's Resize on the PIL image rounds to 8 bits between its passes, about 1/255 away), normalised
    with model.json's mean and std. Image-folder models only (imagefolder, imagenet-subset)."""
    import torchvision.transforms.functional as F
    from PIL import Image
    dataset, h, w = meta["dataset"], meta["height"], meta["width"]
    base = dataset.split(":", 1)[0]
    if base == "imagenet-subset":
        resize = int(round(h * 256 / 224))   # Resize(size * 256 / 224) + CenterCrop(size)
    elif base == "imagefolder":
        resize = min(h, w)                   # Resize(min(H, W)) + CenterCrop(H, W)
    else:
        sys.exit(f"{path}: image files are read here for image-folder models only; this model was trained on {dataset}")
    x = F.to_tensor(Image.open(path).convert("RGB"))
    x = F.center_crop(F.resize(x, resize, antialias=True), [h, w])
    if "mean" in meta:
        mean, std = meta["mean"], meta["std"]
    elif base == "imagenet-subset" or "norm=imagenet" in dataset:   # model.json written before it recorded them
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    else:
        mean, std = [0.0] * 3, [1.0] * 3
    return F.normalize(x, mean, std).unsqueeze(0)


def read_idx(path, limit=0):
    """An IDX file of unsigned bytes (.gz or not) as a uint8 tensor of its shape ([N] labels, [N, H, W] images), only
    its first `limit` items when limit > 0."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        magic = f.read(4)
        if len(magic) < 4 or magic[2] != 8:
            sys.exit(f"{path}: not an IDX file of unsigned bytes")
        shape = [int.from_bytes(f.read(4), "big") for _ in range(magic[3])]
        if limit:
            shape[0] = min(shape[0], limit)
        data = f.read(math.prod(shape))
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a dl-train run directory (or its model/ directory)")
    ap.add_argument("idx", nargs="+", help="IDX image files (.gz or not), or PNG/JPEG images for an image-folder model")
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="classify only the first N images of each file (0: all)")
    ap.add_argument("--compare", action="store_true", help="also run `dl-train predict --json` and compare")
    a = ap.parse_args()

    d = model_dir(a.run)
    with open(os.path.join(d, "model.json")) as f:
        meta = json.load(f)
    model = build(meta)
    model.load_state_dict(load_file(os.path.join(d, "model.safetensors")), strict=True)  # every name and shape
    model.eval()
    mean = torch.tensor(meta.get("mean", [0.0])).view(1, -1, 1, 1)   # no normalisation recorded: none
    std = torch.tensor(meta.get("std", [1.0])).view(1, -1, 1, 1)

    out = []
    for path in a.idx:
        if path.lower().endswith(IMAGE_EXTENSIONS):
            x = read_image(path, meta)
        else:
            x = (read_idx(path, a.limit).unsqueeze(1).float() / 255 - mean) / std
        with torch.no_grad():
            p = model(x).softmax(1)
        top = p.topk(min(a.top_k, p.shape[1]), dim=1)
        for i in range(p.shape[0]):
            out.append({"file": path, "index": i, "predictions": [
                {"class": int(k), "name": meta["class_names"][int(k)], "probability": float(v)}
                for v, k in zip(top.values[i], top.indices[i])]})
    print(json.dumps(out, indent=1))

    if a.compare:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        inputs = []
        for path in a.idx:   # dl-train predict classifies whole files: give it the same first images
            if a.limit and not path.lower().endswith(IMAGE_EXTENSIONS):
                x = read_idx(path, a.limit).unsqueeze(1)
                tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"load_in_pytorch-{os.getpid()}-{len(inputs)}-idx3-ubyte")
                with open(tmp, "wb") as f:
                    f.write(bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in x.shape[:1] + x.shape[2:]) + x.numpy().tobytes())
                inputs.append(tmp)
            else:
                inputs.append(path)
        try:
            r = subprocess.run([os.path.join(root, "dl-train"), "predict", "--checkpoint", a.run, "--json", "--top-k", str(a.top_k)]
                               + inputs, capture_output=True, text=True)
        finally:
            for tmp in inputs:
                if tmp not in a.idx:
                    os.remove(tmp)
        if r.returncode != 0:
            sys.exit("dl-train predict failed:\n" + r.stderr)
        theirs = json.loads(r.stdout)
        worst, same_order = 0.0, True
        for ours, dl in zip(out, theirs):
            same_order &= [q["class"] for q in ours["predictions"]] == [q["class"] for q in dl["predictions"]]
            worst = max([worst] + [abs(q["probability"] - e["probability"]) for q, e in zip(ours["predictions"], dl["predictions"])])
        print(f"compared with dl-train predict: {len(theirs)} images, top-{a.top_k} classes "
              f"{'the same for every image' if same_order and len(theirs) == len(out) else 'DIFFER'}, "
              f"largest probability difference {worst:.3g}", file=sys.stderr)
        if not same_order or len(theirs) != len(out):
            sys.exit(1)


if __name__ == "__main__":
    main()
