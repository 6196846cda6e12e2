"""Unit tests of compare_golden.py. Run: python3 -m unittest discover -s benchmarks/pytorch -p 'test_*.py'"""
import contextlib
import io
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_golden  # noqa: E402
from export_golden import write_safetensors  # noqa: E402


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


class CompareGoldenTest(unittest.TestCase):
    def compare(self, old, new):
        """compare_golden's output for one file holding the tensors old (committed) and new (re-exported)."""
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            write_safetensors(os.path.join(a, "g.safetensors"), [(k, "F32", [len(v)], f32(*v)) for k, v in old.items()], {})
            write_safetensors(os.path.join(b, "g.safetensors"), [(k, "F32", [len(v)], f32(*v)) for k, v in new.items()], {})
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                compare_golden.main(a, b)
            return out.getvalue()

    def test_identical(self):
        out = self.compare({"x": [1.0, 2.0]}, {"x": [1.0, 2.0]})
        self.assertIn("1 of 1 tensors bit-identical", out)

    def test_a_new_case_still_compares_the_tensors_both_files_hold(self):
        # The usual re-export after adding a case to CASES: new names appear, and the existing ones must be checked,
        # since a case inserted mid-list changes the data of every later case.
        out = self.compare({"a.x": [1.0, 2.0], "b.x": [3.0]}, {"a.x": [1.0, 2.0], "b.x": [3.5], "new.x": [0.0]})
        self.assertIn("only in the new file: ['new.x']", out)
        self.assertIn("1 of 2 tensors bit-identical", out)
        self.assertIn("b.x: max |diff| 0.5", out)

    def test_a_tensor_gone_from_the_new_file_is_named(self):
        out = self.compare({"a.x": [1.0], "gone.x": [2.0]}, {"a.x": [1.0]})
        self.assertIn("only in the committed file: ['gone.x']", out)
        self.assertIn("1 of 1 tensors bit-identical", out)


if __name__ == "__main__":
    unittest.main()
