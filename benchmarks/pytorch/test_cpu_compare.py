"""Unit tests of cpu_compare.py. Run: python3 -m unittest discover -s benchmarks/pytorch -p 'test_*.py'

Every record below is made up for the test (round numbers, model names prefixed "fake-"): they are not results
and must never be quoted as such.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_compare  # noqa: E402

MIB = 1048576


def rec(framework, ips, rss_mib, peak_mib=None, model="fake-net"):
    r = {"model": model, "batch_size": 16, "image_size": 224, "images_per_sec_median": ips,
         "peak_rss_bytes": None if rss_mib is None else rss_mib * MIB,
         "peak_memory_bytes": None if peak_mib is None else peak_mib * MIB}
    if framework == "pytorch":
        r["torch_version"] = "2.13.0+cpu"
    return r


def cells(md):
    header, _, *data = md.strip().splitlines()
    names = [c.strip() for c in header.strip("|").split("|")]
    return [dict(zip(names, (c.strip() for c in line.strip("|").split("|")))) for line in data]


class AddRssTest(unittest.TestCase):
    def test_kib_from_time_becomes_bytes(self):
        d = json.loads(cpu_compare.add_rss('{"model": "fake-net", "images_per_sec_median": 1.5}', "2048\n"))
        self.assertEqual(d["peak_rss_bytes"], 2 * MIB)
        self.assertEqual(d["model"], "fake-net")
        self.assertEqual(d["images_per_sec_median"], 1.5)

    def test_no_figure_is_null_not_zero(self):
        for kib in ("", "Command exited with non-zero status 1"):
            self.assertIsNone(json.loads(cpu_compare.add_rss('{"model": "fake-net"}', kib))["peak_rss_bytes"])


class TableTest(unittest.TestCase):
    def test_medians_and_ratios_of_speed_and_rss(self):
        recs = [rec("dl-train", 10.0, 3000, 2000), rec("pytorch", 20.0, 2000),
                rec("dl-train", 12.0, 3200, 2000), rec("pytorch", 20.0, 2000),
                rec("dl-train", 14.0, 3400, 2000), rec("pytorch", 20.0, 2000)]
        (row,) = cells(cpu_compare.table(recs))
        self.assertEqual(row["dl-train / PyTorch"], "0.60")  # 12 / 20
        self.assertEqual(row["dl-train peak RSS MiB"], "3,200")
        self.assertEqual(row["PyTorch peak RSS MiB"], "2,000")
        self.assertEqual(row["RSS dl-train / PyTorch"], "1.60")
        self.assertEqual(row["dl-train allocator peak MiB"], "2,000")
        self.assertEqual(row["PyTorch images/s"], "**20** (20, 20, 20)")

    def test_slow_models_keep_three_figures(self):
        (row,) = cells(cpu_compare.table([rec("dl-train", 1234.4, 100), rec("pytorch", 0.8261, 100)]))
        self.assertEqual(row["dl-train images/s (median of runs; each run's median)"], "**1,234** (1,234)")
        self.assertEqual(row["PyTorch images/s"], "**0.826** (0.826)")

    def test_missing_side_or_rss_is_a_dash(self):
        recs = [rec("dl-train", 10.0, None, 500, model="fake-a"), rec("pytorch", 20.0, 1000, model="fake-b")]
        a, b = cells(cpu_compare.table(recs))
        self.assertEqual((a["model"], a["dl-train peak RSS MiB"], a["PyTorch images/s"], a["RSS dl-train / PyTorch"]),
                         ("fake-a", "-", "-", "-"))
        self.assertEqual((b["model"], b["dl-train images/s (median of runs; each run's median)"],
                          b["PyTorch peak RSS MiB"], b["dl-train allocator peak MiB"]), ("fake-b", "-", "1,000", "-"))


if __name__ == "__main__":
    unittest.main()
