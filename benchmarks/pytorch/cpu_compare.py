#!/usr/bin/env python3
"""run_cpu_compare.sh's helpers: put a run's peak RSS into its JSON line, and print the results' table.

  cpu_compare.py add-rss LINE KIB   prints LINE (a bench JSON object) with "peak_rss_bytes": KIB * 1024 added (null
                                    when KIB is empty or not a number: /usr/bin/time was missing or said nothing)
  cpu_compare.py table FILE         prints the markdown table of FILE's JSON lines (run_cpu_compare.sh's results)

peak_rss_bytes is the process's maximum resident set size (/usr/bin/time's %M, the kernel's ru_maxrss): for dl-train
the whole JVM (heap, where the tensors are Java float[], plus JIT, threads and native buffers), for PyTorch the whole
Python process (torch's allocator, MKL/oneDNN buffers, the interpreter and imports). peak_memory_bytes is dl-train's
allocator's peak of tensor bytes in use (null for PyTorch on the CPU).
"""
import json
import statistics
import sys

MIB = 1048576.0


def ips(x):
    """images/s with three significant figures below 100 (a big model's step on 2 cores is 1-10 images/s)."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def add_rss(line, kib):
    d = json.loads(line)
    try:
        d["peak_rss_bytes"] = int(kib.strip()) * 1024
    except (ValueError, AttributeError):
        d["peak_rss_bytes"] = None
    return json.dumps(d)


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def table(records):
    """records: the results' JSON objects. One row per (model, batch, image size): median images/s of each side and
    their ratio, then the median peak RSS of each side (MiB) and their ratio, and dl-train's allocator peak."""
    rows = {}
    for d in records:
        fw = "pytorch" if d.get("torch_version") else "dl-train"
        r = rows.setdefault((d["model"], d["batch_size"], d.get("image_size")), {}).setdefault(fw, {"ips": [], "rss": [], "peak": []})
        r["ips"].append(d["images_per_sec_median"])
        r["rss"].append(d.get("peak_rss_bytes"))
        r["peak"].append(d.get("peak_memory_bytes"))
    out = ["| model | batch | image | dl-train images/s (median of runs; each run's median) | PyTorch images/s | dl-train / PyTorch "
           "| dl-train peak RSS MiB | PyTorch peak RSS MiB | RSS dl-train / PyTorch | dl-train allocator peak MiB |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    empty = {"ips": [], "rss": [], "peak": []}
    mib = lambda x: "-" if x is None else f"{x / MIB:,.0f}"
    for (m, b, s), v in rows.items():
        a, t = v.get("dl-train", empty), v.get("pytorch", empty)
        ma, mt = _median(a["ips"]), _median(t["ips"])
        ra, rt = _median(a["rss"]), _median(t["rss"])
        fmt = lambda xs: ", ".join(ips(x) for x in xs)
        ips_a = "-" if ma is None else f"**{ips(ma)}** ({fmt(a['ips'])})"
        ips_t = "-" if mt is None else f"**{ips(mt)}** ({fmt(t['ips'])})"
        ratio = "-" if ma is None or mt is None else f"{ma / mt:.2f}"
        rss_ratio = "-" if ra is None or rt is None else f"{ra / rt:.2f}"
        out.append(f"| {m} | {b} | {s} | {ips_a} | {ips_t} | {ratio} | {mib(ra)} | {mib(rt)} | {rss_ratio} "
                   f"| {mib(_median(a['peak']))} |")
    return "\n".join(out)


def main(argv):
    if len(argv) == 3 and argv[0] == "add-rss":
        print(add_rss(argv[1], argv[2]))
    elif len(argv) == 2 and argv[0] == "table":
        with open(argv[1]) as f:
            print(table([json.loads(l) for l in f if l.startswith("{")]))
    else:
        print("usage: cpu_compare.py add-rss LINE KIB | table FILE", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
