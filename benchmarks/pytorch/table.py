#!/usr/bin/env python3
"""Turns the JSON lines of run_compare.sh (from `dl-train bench --json` and bench_torch.py) into the markdown
table for the README: one row per (model, batch, image size, precision), images/s of dl-train and of each PyTorch
variant, and the ratios dl-train / PyTorch eager and dl-train / PyTorch compile.

Each PyTorch ratio is taken against the faster of the two memory layouts that were run (NCHW and channels_last), so
dl-train is compared with the best PyTorch of that mode; the table says which layout that was. Lines starting with
'#' (run_compare.sh's header) and blank lines are skipped; a line with an "error" key marks a run that failed.

Usage: python3 benchmarks/pytorch/table.py RESULTS.jsonl [MORE.jsonl ...]   (or the lines on stdin)
"""
import json
import sys

COLUMNS = ["model", "batch", "image", "precision", "dl-train img/s", "PyTorch eager img/s", "PyTorch compile img/s",
           "dl-train / eager", "dl-train / compile", "dl-train peak MiB", "PyTorch eager peak MiB",
           "dl-train ops/step", "PyTorch eager kernels/step"]


def read_records(lines):
    """The JSON objects among lines (header comments and blank lines skipped)."""
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"line {n} is neither a comment nor JSON: {e}: {line[:80]}") from e
    return out


def _key(r):
    return (r["model"], int(r["batch_size"]), int(r["image_size"]) if r.get("image_size") is not None else None,
            r["precision"])


def _ips(r):
    return None if r is None or "error" in r else r.get("images_per_sec_median")


def _best(rows, mode):
    """The fastest successful PyTorch record of a mode ("eager" or "compile"), over its layouts; else a failed one."""
    cands = [r for r in rows if r.get("framework") == "pytorch" and r.get("variant", "").split("+")[0] == mode]
    ok = [r for r in cands if _ips(r) is not None]
    if ok:
        return max(ok, key=_ips)
    return cands[0] if cands else None


def _fmt_ips(r):
    if r is None:
        return "—"
    if _ips(r) is None:
        return "failed"
    v = f"{_ips(r):,.0f}"
    return v + " (CL)" if "channels_last" in r.get("variant", "") else v


def _ratio(a, b):
    return "—" if _ips(a) is None or _ips(b) is None else f"{_ips(a) / _ips(b):.2f}"


def _mib(r):
    v = None if r is None or "error" in r else r.get("peak_memory_bytes")
    return "—" if v is None else f"{v / 1048576:,.0f}"


def _num(r, key):
    v = None if r is None or "error" in r else r.get(key)
    return "—" if v is None else (f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}")


def table(records):
    """The markdown table (a string ending in a newline), rows in the order their keys first appear."""
    groups = {}
    for r in records:
        groups.setdefault(_key(r), []).append(r)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(" --- " for _ in COLUMNS) + "|"]
    for (model, batch, image, precision), rows in groups.items():
        dl = next((r for r in rows if r.get("framework") == "dl-train"), None)
        eager, comp = _best(rows, "eager"), _best(rows, "compile")
        cells = [model, str(batch), "—" if image is None else str(image), precision,
                 "—" if dl is None else ("failed" if _ips(dl) is None else f"{_ips(dl):,.0f}"),
                 _fmt_ips(eager), _fmt_ips(comp), _ratio(dl, eager), _ratio(dl, comp),
                 _mib(dl), _mib(eager), _num(dl, "backend_ops_per_step"), _num(eager, "backend_ops_per_step")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    lines = []
    if len(argv) > 1:
        for path in argv[1:]:
            with open(path, encoding="utf-8") as f:
                lines.extend(f.read().splitlines())
    else:
        lines = sys.stdin.read().splitlines()
    sys.stdout.write(table(read_records(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
