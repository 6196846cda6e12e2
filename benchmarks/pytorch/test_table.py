"""Unit tests of table.py. Run: python3 -m unittest discover -s benchmarks/pytorch -p 'test_*.py'

Every record below is made up for the test (round numbers, model names prefixed "fake-"): they are not results
and must never be quoted as such.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import table  # noqa: E402


def rec(framework, variant, ips, model="fake-net", precision="fp32", **extra):
    r = {"framework": framework, "variant": variant, "model": model, "batch_size": 256, "image_size": 224,
         "precision": precision, "images_per_sec_median": ips, "peak_memory_bytes": 1048576 * 100,
         "backend_ops_per_step": 300.0}
    r.update(extra)
    return r


def rows(md):
    """The table's data rows as lists of cells (header and separator dropped)."""
    return [[c.strip() for c in line.strip("|").split("|")] for line in md.strip().splitlines()[2:]]


class TableTest(unittest.TestCase):
    def test_ratios_against_the_faster_layout_of_each_mode(self):
        recs = [rec("dl-train", "default", 1000.0),
                rec("pytorch", "eager", 1600.0),
                rec("pytorch", "eager+channels_last", 2000.0),
                rec("pytorch", "compile", 4000.0),
                rec("pytorch", "compile+channels_last", 2500.0)]
        (row,) = rows(table.table(recs))
        cells = dict(zip(table.COLUMNS, row))
        self.assertEqual(cells["dl-train img/s"], "1,000")
        self.assertEqual(cells["PyTorch eager img/s"], "2,000 (CL)")  # channels_last was faster in eager
        self.assertEqual(cells["PyTorch compile img/s"], "4,000")  # NCHW was faster compiled
        self.assertEqual(cells["dl-train / eager"], "0.50")  # 1000 / 2000
        self.assertEqual(cells["dl-train / compile"], "0.25")  # 1000 / 4000
        self.assertEqual(cells["dl-train peak MiB"], "100")

    def test_one_row_per_configuration_in_first_seen_order(self):
        recs = [rec("dl-train", "default", 10.0, model="fake-b"), rec("dl-train", "default", 20.0, model="fake-a"),
                rec("pytorch", "eager", 40.0, model="fake-b"), rec("dl-train", "default", 30.0, model="fake-b", precision="bf16")]
        got = rows(table.table(recs))
        self.assertEqual([(r[0], r[3]) for r in got], [("fake-b", "fp32"), ("fake-a", "fp32"), ("fake-b", "bf16")])
        self.assertEqual(got[0][7], "0.25")  # 10 / 40
        self.assertEqual(got[1][5], "—")  # no PyTorch run for fake-a
        self.assertEqual(got[1][7], "—")

    def test_failed_runs_and_header_lines(self):
        lines = ["# date: (test header)", "", json.dumps(rec("dl-train", "default", None, error="exit 2: unknown model")),
                 json.dumps(rec("pytorch", "eager", 50.0))]
        (row,) = rows(table.table(table.read_records(lines)))
        cells = dict(zip(table.COLUMNS, row))
        self.assertEqual(cells["dl-train img/s"], "failed")
        self.assertEqual(cells["dl-train / eager"], "—")
        self.assertEqual(cells["PyTorch eager img/s"], "50")

    def test_garbage_line_is_reported(self):
        with self.assertRaises(ValueError):
            table.read_records(["not json"])


if __name__ == "__main__":
    unittest.main()
