import numpy as np, sys
def write(path, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 30)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    with open(path, "w") as f:
        f.write(",".join([f"f{i}" for i in range(30)] + ["label"]) + "\n")
        for s in range(0, n, 100000):
            block = np.column_stack([np.round(x[s:s+100000], 4).astype(object), y[s:s+100000]])
            f.write("\n".join(",".join(map(str, r)) for r in block) + "\n")
import os
os.makedirs("small", exist_ok=True); os.makedirs("big", exist_ok=True)
write("small/train.csv", 2000, 1); write("small/test.csv", 500, 2)
write("big/test.csv", 1000000, 3)
