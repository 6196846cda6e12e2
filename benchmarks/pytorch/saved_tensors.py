# What PyTorch 2.13 keeps for backward at the end of a training forward: the unique storages its autograd saves
# (torch.autograd.graph.saved_tensors_hooks), parameters and the input left out, by the op that made each.
# usage: python saved_tensors.py resnet50|resnet18 BATCH   (224x224; needs torch only: torchvision's ResNets rebuilt below)
# torchvision's resnet50/18 rebuilt (torchvision's wheel is not installed here): Bottleneck/BasicBlock with ReLU(inplace=True), out += identity
import torch, torch.nn as nn, sys, collections
torch.set_num_threads(2)
class Bottleneck(nn.Module):
    expansion = 4
    def __init__(s, inp, planes, stride=1, down=None):
        super().__init__(); w = planes
        s.conv1 = nn.Conv2d(inp, w, 1, bias=False); s.bn1 = nn.BatchNorm2d(w)
        s.conv2 = nn.Conv2d(w, w, 3, stride, 1, bias=False); s.bn2 = nn.BatchNorm2d(w)
        s.conv3 = nn.Conv2d(w, planes*4, 1, bias=False); s.bn3 = nn.BatchNorm2d(planes*4)
        s.relu = nn.ReLU(inplace=True); s.down = down
    def forward(s, x):
        idt = x
        out = s.relu(s.bn1(s.conv1(x))); out = s.relu(s.bn2(s.conv2(out))); out = s.bn3(s.conv3(out))
        if s.down is not None: idt = s.down(x)
        out += idt; return s.relu(out)
class Basic(nn.Module):
    expansion = 1
    def __init__(s, inp, planes, stride=1, down=None):
        super().__init__()
        s.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False); s.bn1 = nn.BatchNorm2d(planes)
        s.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False); s.bn2 = nn.BatchNorm2d(planes)
        s.relu = nn.ReLU(inplace=True); s.down = down
    def forward(s, x):
        idt = x
        out = s.relu(s.bn1(s.conv1(x))); out = s.bn2(s.conv2(out))
        if s.down is not None: idt = s.down(x)
        out += idt; return s.relu(out)
def resnet(block, layers):
    mods = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    inp = 64
    for i, (planes, n) in enumerate(zip([64, 128, 256, 512], layers)):
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            down = None
            if j == 0 and (stride != 1 or inp != planes * block.expansion):
                down = nn.Sequential(nn.Conv2d(inp, planes*block.expansion, 1, stride, bias=False), nn.BatchNorm2d(planes*block.expansion))
            mods.append(block(inp, planes, stride, down)); inp = planes * block.expansion
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inp, 1000)]
    return nn.Sequential(*mods)
name = sys.argv[1]; b = int(sys.argv[2])
m = resnet(Bottleneck, [3,4,6,3]) if name == "resnet50" else resnet(Basic, [2,2,2,2])
x = torch.randn(b, 3, 224, 224); y = torch.randint(0, 1000, (b,))
params = {p.untyped_storage().data_ptr() for p in m.parameters()}
seen = {}; byop = collections.Counter()
def pack(t):
    s = t.untyped_storage(); ptr = s.data_ptr()
    if ptr not in params and ptr != x.untyped_storage().data_ptr() and ptr not in seen:
        seen[ptr] = s.nbytes(); byop["made by " + (type(t.grad_fn).__name__ if t.grad_fn is not None else "?")] += s.nbytes()
    return t
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    out = m(x); loss = nn.functional.cross_entropy(out, y)
tot = sum(seen.values())
print(f"{name} b{b}: {len(seen)} unique saved activation storages, {tot/2**20:.1f} MiB (parameters and the input excluded)")
for k, v in byop.most_common(): print(f"  {k}: {v/2**20:.1f} MiB")
print(f"parameters {sum(p.numel()*4 for p in m.parameters())/2**20:.1f} MiB")
