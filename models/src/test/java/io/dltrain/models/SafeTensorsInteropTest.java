package io.dltrain.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our safetensors files against the format's reference implementation (the {@code safetensors} Python package,
 * Hugging Face's Rust reader, with numpy): a state_dict written by dl-train reads back there with every key, shape,
 * dtype and value; a file written there in the same layout loads into our model strictly, value for value. This is
 * the reader PyTorch users load our weights with ({@code safetensors.torch.load_file} shares the Rust parser).
 *
 * <p>Skips, saying why, where python3 lacks {@code safetensors} or {@code numpy} ({@code .ci/run} installs both).
 */
class SafeTensorsInteropTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static String unusable;
    static CpuBackend be;

    @BeforeAll
    static void probe() {
        be = new CpuBackend(2);
        try {
            Result r = python(List.of("-c", "import safetensors.numpy, numpy; print(safetensors.__version__)"), null);
            if (r.exit != 0) unusable = "python3 cannot import safetensors and numpy (pip install safetensors numpy): " + r.output.strip();
        } catch (IOException e) {
            unusable = "no python3 on the PATH: " + e.getMessage();
        }
    }

    @AfterAll
    static void close() { be.close(); }

    record Result(int exit, String output) {}

    static Result python(List<String> args, Path dir) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add("python3");
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (dir != null) pb.directory(dir.toFile());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(120, TimeUnit.SECONDS)) { p.destroyForcibly(); return new Result(-1, "timed out\n" + out); }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return new Result(p.exitValue(), out);
    }

    static Module build(String name) {
        ModelRegistry.Entry e = ModelRegistry.get(name);
        return Scope.outside(() -> e.build(new Context(be, 7), e.defaultSpec()));
    }

    static double sum(Tensor t) {
        double s = 0;
        if (t.dtype() == DType.INT32) { int[] v = new int[(int) t.numel()]; be.toHost(t, v); for (int x : v) s += x; }
        else { float[] v = new float[(int) t.numel()]; be.toHost(t, v); for (float x : v) s += x; }
        return s;
    }

    @Test
    void referenceReaderReadsEveryTensorWeWrite(@TempDir Path dir) throws IOException {
        Assumptions.assumeTrue(unusable == null, unusable);
        for (String name : List.of("lenet5", "resnet18-cifar-narrow")) {
            try (Module m = build(name)) {
                Path file = dir.resolve(name + ".safetensors");
                Checkpoint.saveModel(file, m);
                String script = """
                        import json, sys, numpy, safetensors.numpy
                        d = safetensors.numpy.load_file(sys.argv[1])
                        print(json.dumps({k: {"shape": list(v.shape), "dtype": str(v.dtype),
                                              "sum": float(numpy.sum(v.astype(numpy.float64))),
                                              "first": float(v.reshape(-1)[0]) if v.size else 0.0} for k, v in d.items()}))
                        """;
                Result r = python(List.of("-c", script, file.toString()), dir);
                assertEquals(0, r.exit, "safetensors.numpy.load_file failed on our " + name + " file:\n" + r.output);
                JsonNode seen = JSON.readTree(r.output.lines().reduce((a, b) -> b).orElse("{}"));
                Map<String, Tensor> ours = m.stateDict();
                List<String> theirKeys = new ArrayList<>();
                seen.fieldNames().forEachRemaining(theirKeys::add);
                assertEquals(ours.keySet().stream().sorted().toList(), theirKeys.stream().sorted().toList(), name + ": key sets");
                for (Map.Entry<String, Tensor> e : ours.entrySet()) {
                    JsonNode t = seen.get(e.getKey());
                    Tensor v = e.getValue();
                    List<Integer> shape = new ArrayList<>();
                    t.get("shape").forEach(s -> shape.add(s.asInt()));
                    List<Integer> ourShape = new ArrayList<>();
                    for (int i = 0; i < v.rank(); i++) ourShape.add(v.dim(i));
                    assertEquals(ourShape, shape, name + " " + e.getKey() + ": shape");
                    assertEquals(v.dtype() == DType.INT32 ? "int32" : "float32", t.get("dtype").asText(), name + " " + e.getKey() + ": dtype");
                    double s = sum(v);
                    assertEquals(s, t.get("sum").asDouble(), 1e-9 * Math.max(1, Math.abs(s)), name + " " + e.getKey() + ": sum of values");
                }
            }
        }
    }

    @Test
    void fileWrittenByTheReferenceWriterLoadsStrictly(@TempDir Path dir) throws IOException {
        Assumptions.assumeTrue(unusable == null, unusable);
        try (Module m = build("lenet5")) {
            // the layout (names, shapes) from our model; the values from a formula both sides evaluate
            Map<String, Object> layout = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
                List<Integer> shape = new ArrayList<>();
                for (int i = 0; i < e.getValue().rank(); i++) shape.add(e.getValue().dim(i));
                layout.put(e.getKey(), shape);
            }
            Path spec = dir.resolve("layout.json"), file = dir.resolve("theirs.safetensors");
            JSON.writeValue(spec.toFile(), layout);
            String script = """
                    import json, sys, numpy, safetensors.numpy
                    layout = json.load(open(sys.argv[1]))
                    out = {}
                    for j, (k, shape) in enumerate(layout.items()):
                        n = int(numpy.prod(shape)) if shape else 1
                        out[k] = (numpy.sin(numpy.arange(n, dtype=numpy.float64) * 0.37 + j) * 0.1).astype(numpy.float32).reshape(shape)
                    safetensors.numpy.save_file(out, sys.argv[2], metadata={"format": "pt"})
                    """;
            Result r = python(List.of("-c", script, spec.toString(), file.toString()), dir);
            assertEquals(0, r.exit, "safetensors.numpy.save_file failed:\n" + r.output);
            Checkpoint.loadInto(m, file, true);
            int j = 0;
            for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
                float[] got = new float[(int) e.getValue().numel()];
                be.toHost(e.getValue(), got);
                for (int i = 0; i < got.length; i++) {
                    float want = (float) (Math.sin(i * 0.37 + j) * 0.1);
                    assertEquals(want, got[i], 2e-8, e.getKey() + "[" + i + "]");
                }
                j++;
            }
            assertTrue(j > 0);
        }
    }
}
