package io.dltrain.runtime.nn;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every layer and loss against torch.nn itself: golden/layers.golden.safetensors holds, per case, one torch.nn module
 * (or torch.nn.functional loss) with the arguments our constructor takes, its state_dict, an input, an upstream
 * gradient, and the output, the input's gradient, every parameter's gradient and (batch-norm in train mode) the running
 * statistics after the pass, computed by PyTorch in float64 on the float32 values
 * (benchmarks/pytorch/export_layer_golden.py; the file's metadata names the PyTorch version and each case's torch call;
 * -Ddltrain.golden.dir=DIR reads DIR/layers.golden.safetensors instead, as the GPU runner does with its own export).
 * The cases are the settings where a reading of PyTorch's documentation could go wrong: ceil-mode pooling whose last
 * window starts in the padding, count_include_pad, adaptive pooling of sizes that do not divide, grouped, dilated and
 * rectangular (transposed) convolutions with output_padding, batch-norm's unbiased running variance in both modes,
 * Softplus beyond its threshold, label smoothing, a two-layer LSTM's gate order.
 *
 * <p>The per-op tests (PoolTest, ConvTransposeTest, LSTMTest, ...) check each op against our transcriptions of PyTorch's
 * documented formulas; this checks those transcriptions against the library. Tolerance as GoldenReplayTest's: float32
 * against a float64 reference, 1e-5 absolute plus 1e-4 relative.
 */
public class LayerGoldenTest {
    static final double ATOL = 1e-5, RTOL = 1e-4;
    static final Set<String> LOSSES = Set.of("cross_entropy", "mse", "l1", "bce_with_logits");

    @Test
    void everyLayerMatchesTorchNnOnTheCpu() throws Exception {
        try (CpuBackend be = new CpuBackend(2)) {
            replay(be);
        }
    }

    /** cuBLAS, cuDNN and our kernels against torch.nn (EmulatedDeviceTest runs this on the emulated device too). */
    @Tag("gpu")
    @Test
    void everyLayerMatchesTorchNnOnTheGpu() throws Exception {
        String why = Backends.cudaUnavailableReason();
        Assumptions.assumeTrue(why == null, "no usable GPU: " + why);
        try (Backend be = Backends.create("cuda", 0, msg -> {})) {
            replay(be);
        }
    }

    static void replay(Backend be) throws Exception {
        // -Ddltrain.golden.dir: a directory with a fresh export (the GPU runner's, from the GPU machine's PyTorch).
        String dir = System.getProperty("dltrain.golden.dir");
        Path file = dir != null ? Path.of(dir, "layers.golden.safetensors")
                : Path.of(LayerGoldenTest.class.getResource("/golden/layers.golden.safetensors").toURI());
        SafeTensors.Contents golden = SafeTensors.read(file);
        Map<String, LoadedTensor> t = golden.tensors();
        JsonNode cases = new ObjectMapper().readTree(golden.metadata().get("cases"));
        Set<String> kinds = new TreeSet<>();
        List<String> failures = new ArrayList<>();
        int checked = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = cases.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> c = it.next();
            String kind = c.getValue().get("kind").asText();
            String what = c.getKey() + " (" + c.getValue().get("torch").asText() + ") on " + be.name();
            try {
                if (LOSSES.contains(kind)) replayLoss(be, t, c.getKey(), kind, c.getValue().get("args"), what);
                else replayLayer(be, t, c.getKey(), kind, c.getValue(), what);
            } catch (AssertionError | RuntimeException e) {
                failures.add(e.getMessage());
            }
            kinds.add(kind);
            checked++;
        }
        if (!failures.isEmpty()) fail(failures.size() + " of " + checked + " cases differ from PyTorch " + golden.metadata().get("torch_version")
                + " (" + file + "):\n" + String.join("\n", failures));
        assertTrue(checked >= 32, "cases checked: " + checked);
        assertEquals(22, kinds.size(), "kinds covered: " + kinds);
    }

    static void replayLayer(Backend be, Map<String, LoadedTensor> t, String name, String kind, JsonNode c, String what) {
        boolean train = c.get("train").asBoolean();
        try (Module m = Scope.outside(() -> build(new Context(be, 0), kind, c.get("args")))) {
            Map<String, Tensor> state = m.stateDict();
            for (Map.Entry<String, Tensor> e : state.entrySet()) {
                LoadedTensor v = need(t, name + ".state." + e.getKey());
                assertArrayEquals(v.shape(), e.getValue().shape().dims(), what + ": shape of " + e.getKey());
                if (e.getValue().dtype() == DType.INT32) be.copyFromHost(v.ints(), 0, e.getValue());
                else be.copyFromHost(v.floats(), 0, e.getValue());
            }
            assertEquals(t.keySet().stream().filter(k -> k.startsWith(name + ".state.")).count(), state.size(),
                    what + ": PyTorch's state_dict has other entries than ours " + state.keySet());
            m.train(train);
            try (Scope s = Scope.open()) {
                LoadedTensor x0 = need(t, name + ".x");
                Tensor x = be.fromHost(x0.floats(), x0.shapeObject()).requiresGrad(true);
                Tensor y = m.forward(x);
                LoadedTensor gy = need(t, name + ".gy");
                assertArrayEquals(gy.shape(), y.shape().dims(), what + ": output shape");
                Autograd.backward(y, be.fromHost(gy.floats(), gy.shapeObject()));
                Check.close(what + ": output", need(t, name + ".y").floats(), y.toFloatArray(), ATOL, RTOL);
                assertNotNull(x.grad(), what + ": the input received no gradient");
                Check.close(what + ": input gradient", need(t, name + ".gx").floats(), x.grad().toFloatArray(), ATOL, RTOL);
                for (Map.Entry<String, Tensor> p : m.namedParameters().entrySet()) {
                    assertNotNull(p.getValue().grad(), what + ": " + p.getKey() + " received no gradient");
                    Check.close(what + ": gradient of " + p.getKey(), need(t, name + ".grad." + p.getKey()).floats(),
                            p.getValue().grad().toFloatArray(), ATOL, RTOL);
                }
                if (m instanceof BatchNorm bn) {
                    Map<String, LoadedTensor> before = Map.of("running_mean", need(t, name + ".state.running_mean"),
                            "running_var", need(t, name + ".state.running_var"));
                    for (Map.Entry<String, Tensor> b : Map.of("running_mean", bn.runningMean(), "running_var", bn.runningVar()).entrySet()) {
                        float[] want = train ? need(t, name + ".after." + b.getKey()).floats() : before.get(b.getKey()).floats();
                        Check.close(what + ": " + b.getKey() + " after the pass", want, b.getValue().toFloatArray(), ATOL, RTOL);
                    }
                    assertEquals(train ? 1 : 0, state.get("num_batches_tracked").toIntArray()[0], what + ": num_batches_tracked");
                }
            }
        }
    }

    static void replayLoss(Backend be, Map<String, LoadedTensor> t, String name, String kind, JsonNode a, String what) {
        try (Scope s = Scope.open()) {
            LoadedTensor x0 = need(t, name + ".x"), target = need(t, name + ".target");
            Tensor x = be.fromHost(x0.floats(), x0.shapeObject()).requiresGrad(true);
            Tensor y = switch (kind) {
                case "cross_entropy" -> Losses.crossEntropy(x, be.fromHost(target.ints(), target.shapeObject()), (float) a.get(0).asDouble());
                case "mse" -> Losses.mse(x, be.fromHost(target.floats(), target.shapeObject()));
                case "l1" -> Losses.l1(x, be.fromHost(target.floats(), target.shapeObject()));
                case "bce_with_logits" -> Losses.bceWithLogits(x, be.fromHost(target.floats(), target.shapeObject()));
                default -> throw new IllegalArgumentException("unknown loss kind " + kind);
            };
            LoadedTensor gy = need(t, name + ".gy");
            Autograd.backward(y, be.fromHost(gy.floats(), y.shape()));
            Check.close(what + ": loss", need(t, name + ".y").floats(), y.toFloatArray(), ATOL, RTOL);
            Check.close(what + ": input gradient", need(t, name + ".gx").floats(), x.grad().toFloatArray(), ATOL, RTOL);
        }
    }

    /** Our layer of the golden file's kind, from its constructor arguments (the exporter lists them in our order). */
    static Module build(Context ctx, String kind, JsonNode a) {
        return switch (kind) {
            case "linear" -> new Linear(ctx, i(a, 0), i(a, 1), a.get(2).asBoolean());
            case "conv2d" -> new Conv2d(ctx, i(a, 0), i(a, 1), i(a, 2), i(a, 3), i(a, 4), i(a, 5), i(a, 6), i(a, 7), i(a, 8),
                    i(a, 9), i(a, 10), a.get(11).asBoolean());
            case "conv_transpose2d" -> new ConvTranspose2d(ctx, i(a, 0), i(a, 1), i(a, 2), i(a, 3), i(a, 4), i(a, 5), i(a, 6),
                    i(a, 7), i(a, 8), i(a, 9), i(a, 10), i(a, 11), i(a, 12), a.get(13).asBoolean());
            case "max_pool2d" -> new MaxPool2d(i(a, 0), i(a, 1), i(a, 2), a.get(3).asBoolean());
            case "avg_pool2d" -> new AvgPool2d(i(a, 0), i(a, 1), i(a, 2), a.get(3).asBoolean(), a.get(4).asBoolean());
            case "adaptive_avg_pool2d" -> new AdaptiveAvgPool2d(i(a, 0), i(a, 1));
            case "batch_norm2d" -> new BatchNorm2d(ctx, i(a, 0), f(a, 1), f(a, 2));
            case "batch_norm1d" -> new BatchNorm1d(ctx, i(a, 0), f(a, 1), f(a, 2));
            case "relu" -> new ReLU();
            case "leaky_relu" -> new LeakyReLU(f(a, 0));
            case "elu" -> new ELU(f(a, 0));
            case "gelu" -> new GELU();
            case "sigmoid" -> new Sigmoid();
            case "tanh" -> new Tanh();
            case "softplus" -> new Softplus(f(a, 0));
            case "softmax" -> new Softmax();
            case "log_softmax" -> new LogSoftmax();
            case "lstm" -> new LSTM(ctx, i(a, 0), i(a, 1), i(a, 2));
            default -> throw new IllegalArgumentException("layers.golden.safetensors has a kind this test cannot build: " + kind);
        };
    }

    static int i(JsonNode a, int k) { return a.get(k).asInt(); }

    static float f(JsonNode a, int k) { return (float) a.get(k).asDouble(); }

    static LoadedTensor need(Map<String, LoadedTensor> t, String name) {
        LoadedTensor x = t.get(name);
        assertNotNull(x, "golden/layers.golden.safetensors has no " + name);
        return x;
    }
}
