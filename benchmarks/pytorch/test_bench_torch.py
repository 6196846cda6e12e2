"""Unit tests of bench_torch.py's model builders. Run: python3 -m unittest discover -s benchmarks/pytorch -p 'test_*.py'

They need torch and torchvision (e.g. PYTHON=/opt/venv-torch/bin/python) and are skipped without them, as in CI,
whose python3 has neither.
"""
import importlib.util
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
HAVE_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None
HAVE_TORCH_ONLY = importlib.util.find_spec("torch") is not None   # the models bench_torch.py builds without torchvision


@unittest.skipUnless(HAVE_TORCH, "needs torch and torchvision (e.g. /opt/venv-torch/bin/python)")
class BuildModelTest(unittest.TestCase):
    def test_torchvision_models_build_beside_the_cpu_wheel(self):
        # torchvision 0.28's plain import fails beside torch 2.13's CPU wheel ("operator torchvision::nms does not exist")
        import bench_torch
        model, c, s, classes = bench_torch.build_model("resnet18", 64)
        self.assertEqual((c, s, classes), (3, 64, 1000))
        self.assertEqual(sum(p.numel() for p in model.parameters()), 11_689_512)  # torchvision's resnet18

    def test_resnet18_cifar_narrow_is_dl_trains(self):
        import bench_torch
        import torch
        model, c, s, classes = bench_torch.build_model("resnet18-cifar-narrow", None)
        self.assertEqual((c, s, classes), (3, 32, 10))
        # dl-train's `models` listing: resnet18-cifar-narrow, 701,466 parameters (ResNets.resnet18CifarNarrow)
        self.assertEqual(sum(p.numel() for p in model.parameters()), 701_466)
        sd = model.state_dict()
        self.assertEqual(tuple(sd["conv1.weight"].shape), (16, 3, 3, 3))   # 3x3 stride-1 stem
        self.assertEqual(tuple(sd["layer2.0.downsample.0.weight"].shape), (32, 16, 1, 1))
        self.assertEqual(tuple(sd["layer4.1.conv2.weight"].shape), (128, 128, 3, 3))
        self.assertEqual(tuple(sd["fc.weight"].shape), (10, 128))
        self.assertIsInstance(model.maxpool, torch.nn.Identity)
        self.assertEqual(tuple(model(torch.randn(2, 3, 32, 32)).shape), (2, 10))


@unittest.skipUnless(HAVE_TORCH_ONLY, "needs torch (e.g. /tmp/venv-torch/bin/python)")
class LstmTwinTest(unittest.TestCase):
    def test_lstm_is_dl_trains(self):
        import bench_torch
        import torch
        model, c, s, classes = bench_torch.build_model("lstm", None)
        self.assertEqual((c, s, classes), (1, 28, 10))
        # dl-train's `models` listing: lstm, 214,282 parameters (Rnns.lstm: LSTM(28, 128, num_layers=2) + Linear(128, 10))
        self.assertEqual(sum(p.numel() for p in model.parameters()), 214_282)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        expected = {}
        for k, fin in ((0, 28), (1, 128)):
            expected.update({f"lstm.weight_ih_l{k}": (512, fin), f"lstm.weight_hh_l{k}": (512, 128),
                             f"lstm.bias_ih_l{k}": (512,), f"lstm.bias_hh_l{k}": (512,)})
        expected.update({"fc.weight": (10, 128), "fc.bias": (10,)})
        self.assertEqual(shapes, expected)
        x = torch.randn(2, 1, 28, 28)
        # the head reads the last step's hidden state of the last layer
        out, _ = model.lstm(x.reshape(2, 28, 28))
        self.assertTrue(torch.equal(model(x), model.fc(out[:, -1])))


if __name__ == "__main__":
    unittest.main()
