package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.backend.Backends;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * `dl-train bench` on the CPU: tiny runs (a few steps, batch 16, one thread) whose JSON is checked for sanity and
 * whose op counts are checked against what the model's structure implies; and the usage errors (exit 2).
 */
class BenchCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int code = Main.run(args, new PrintWriter(o, true), new PrintWriter(e, true));
        return new Result(code, o.toString(), e.toString());
    }

    /** Runs a tiny CPU bench with --json and returns the parsed object (stdout must be exactly one JSON object). */
    static JsonNode bench(String model, String... extra) throws Exception {
        String[] base = {"bench", "--model", model, "--batch-size", "16", "--device", "cpu", "--threads", "1",
                "--warmup", "1", "--steps", "3", "--windows", "2", "--json"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        Result r = run(args);
        assertEquals(0, r.code, () -> "exit code; stderr: " + r.err);
        String[] lines = r.out.strip().split("\n");
        assertEquals(1, lines.length, () -> "expected one JSON line, got: " + r.out);
        return JSON.readTree(lines[0]);
    }

    /** Throughput, windows, ops and memory: what must hold for any model. */
    static void checkSane(JsonNode j, String model, int paramTensors, long paramCount) {
        CliTest.beginsWithFormatAndBuild(j);
        assertEquals("dl-train", j.get("framework").asText());
        assertEquals(model, j.get("model").asText());
        assertEquals(16, j.get("batch_size").asInt());
        assertEquals("fp32", j.get("precision").asText());
        assertEquals("cpu", j.get("device").asText());
        assertTrue(j.get("conv_algorithms").isNull(), "the CPU has no convolution algorithms to choose: " + j);
        double med = j.get("images_per_sec_median").asDouble(), min = j.get("images_per_sec_min").asDouble(),
                max = j.get("images_per_sec_max").asDouble();
        assertTrue(min > 0 && min <= med && med <= max, "images/s min " + min + " <= median " + med + " <= max " + max);
        assertEquals(2, j.get("images_per_sec_windows").size());
        // Step time and throughput describe the same windows (step = batch / images/s in each), so the median step
        // time lies between the fastest and the slowest window's. Relative slack 1e-9 for rounding only.
        double stepMs = j.get("step_ms").get("total").asDouble();
        assertTrue(stepMs >= 16e3 / max * (1 - 1e-9) && stepMs <= 16e3 / min * (1 + 1e-9),
                "step " + stepMs + " ms outside [" + 16e3 / max + ", " + 16e3 / min + "]");
        for (String phase : new String[] {"forward", "backward", "optimizer", "data_wait"})
            assertTrue(j.get("step_ms").get(phase).asDouble() >= 0, phase + " time must be >= 0");
        assertTrue(j.get("step_ms").get("forward").asDouble() > 0, "forward time must be > 0");

        double ops = j.get("backend_ops_per_step").asDouble();
        assertTrue(ops > 0, "backend ops per step must be > 0, got " + ops);
        assertEquals(Math.rint(ops), ops, 0.0, "every step runs the same whole number of ops");
        for (JsonNode w : j.get("backend_ops_per_step_windows")) assertEquals(ops, w.asDouble(), 0.0, "ops per step identical across windows");
        // One fused optimiser call per step for all the parameter tensors (on CUDA one launch), whatever else the step
        // does; never one per tensor. paramTensors > 1 here, so a per-tensor loop would show as optimizerStep calls.
        assertTrue(paramTensors > 1, model + ": " + paramTensors);
        assertEquals(1, j.get("backend_calls_per_step_by_op").get("optimizerStepAll").asDouble(), 0.0);
        assertNull(j.get("backend_calls_per_step_by_op").get("optimizerStep"), "no per-tensor optimiser calls");
        // Parameters, their gradients and SGD's momentum buffers are all alive at the peak: 3 x 4 bytes per parameter.
        long peak = j.get("peak_memory_bytes").asLong();
        assertTrue(peak >= 3L * 4 * paramCount, "peak memory " + peak + " below params + grads + momentum = " + 12 * paramCount);
        // The pool still holds every array of the peak (in use or free): reserved is at least the peak.
        long reserved = j.get("reserved_memory_bytes").asLong(-1);
        assertTrue(reserved >= peak, "reserved memory " + reserved + " below the peak in use " + peak);
        assertTrue(j.get("dl_train_version").asText().length() > 0);
        assertEquals(System.getProperty("java.version"), j.get("java_version").asText());
    }

    @Test
    void mlpSynthetic() throws Exception {
        JsonNode j = bench("mlp");
        // 784-256-128-10: 3 weights + 3 biases.
        checkSane(j, "mlp", 6, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
        assertEquals("synthetic", j.get("data").asText());
        assertEquals(28, j.get("image_size").asInt());
        JsonNode byOp = j.get("backend_calls_per_step_by_op");
        // Three Linear layers: 3 forward GEMMs with their bias, the first two with their ReLU too (Sequential fuses
        // Linear + ReLU into gemmBiasRelu: no separate activation forward), 3 weight-gradient GEMMs and 2 input-gradient
        // GEMMs (the network's input needs no gradient); the ReLUs' backward masks stay separate.
        assertEquals(2, byOp.get("gemmBiasRelu").asDouble(), 0.0);
        assertEquals(1, byOp.get("gemmBias").asDouble(), 0.0);
        assertNull(byOp.get("activationForward"), "every ReLU of the MLP is fused into its Linear");
        assertEquals(2, byOp.get("activationBackward").asDouble(), 0.0);
        assertEquals(5, byOp.get("gemm").asDouble(), 0.0);
        assertEquals(1, byOp.get("crossEntropyForward").asDouble(), 0.0);
        // Synthetic data lives on the device: nothing crosses from the host during a step.
        assertEquals(0, j.get("backend_transfers_per_step").asDouble(), 0.0);
    }

    /** The autoencoders are timed with their training loss, the MSE against the input (they have no labels). */
    @Test
    void autoencodersAreTimedWithTheirMseLoss() throws Exception {
        JsonNode j = bench("conv-autoencoder");
        // two convs and two transposed convs, each with a bias
        checkSane(j, "conv-autoencoder", 8, 9569);
        assertEquals("mse", j.get("loss").asText());
        JsonNode byOp = j.get("backend_calls_per_step_by_op");
        assertNull(byOp.get("crossEntropyForward"), "no cross-entropy: " + byOp);
        assertEquals(1, byOp.get("lossForward").asDouble(), 0.0, "the element-wise loss (MSE) forward: " + byOp);
        assertEquals(1, byOp.get("lossBackward").asDouble(), 0.0);
        assertEquals("cross_entropy", bench("mlp").get("loss").asText());
        Result r = run("bench", "--model", "autoencoder", "--batch-size", "16", "--device", "cpu", "--threads", "2", "--warmup", "1",
                "--steps", "2", "--windows", "1", "--data", "fashion-mnist");
        assertEquals(0, r.code, r.err);
        assertTrue(r.out.contains("MSE (against the input) loss"), r.out);
    }

    @Test
    void lenet5Synthetic() throws Exception {
        JsonNode j = bench("lenet5");
        long params = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (16 * 5 * 5 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10);
        checkSane(j, "lenet5", 10, params);
        JsonNode byOp = j.get("backend_calls_per_step_by_op");
        assertEquals(2, byOp.get("convForward").asDouble(), 0.0);
        assertEquals(2, byOp.get("convBackwardFilter").asDouble(), 0.0);
        assertEquals(1, byOp.get("convBackwardData").asDouble(), 0.0, "the first convolution's input needs no gradient");
        assertEquals(2, byOp.get("poolForward").asDouble(), 0.0);
    }

    @Test
    void imageSizeOverridesTheModelsInput() throws Exception {
        JsonNode j = bench("mlp", "--image-size", "14");
        assertEquals(14, j.get("image_size").asInt());
        assertEquals(JSON.readTree("[1,14,14]"), j.get("input_shape"));
        checkSane(j, "mlp", 6, 196 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    }

    @Test
    void realDataUploadsEachBatch() throws Exception {
        // The installed Fashion-MNIST, or the bundled sample where it is not installed (a notice goes to stderr).
        JsonNode j = bench("mlp", "--data", "fashion-mnist");
        assertEquals("fashion-mnist", j.get("data").asText());
        assertEquals(1, j.get("workers").asInt(), "auto: an in-memory dataset on the CPU gets one loader thread");
        assertEquals(2, j.get("backend_transfers_per_step").asDouble(), 0.0, "images and labels copied in per step");
        checkSane(j, "mlp", 6, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
        assertEquals(3, bench("mlp", "--data", "fashion-mnist", "--workers", "3").get("workers").asInt());
        assertTrue(bench("mlp").get("workers").isNull(), "synthetic data has no loader");
    }

    @Test
    void workersNeedDataAndAreANumberOrAuto() {
        Result r = run("bench", "--model", "mlp", "--batch-size", "8", "--device", "cpu", "--workers", "2");
        assertEquals(2, r.code, r.err);
        assertTrue(r.err.contains("--workers needs --data"), r.err);
        for (String bad : new String[] {"0", "-1", "many"}) {
            r = run("bench", "--model", "mlp", "--batch-size", "8", "--device", "cpu", "--data", "fashion-mnist", "--workers", bad);
            assertEquals(2, r.code, bad + ": " + r.err);
            assertTrue(r.err.contains("--workers must be a whole number >= 1 or auto, got '" + bad + "'"), r.err);
        }
    }

    @Test
    void textReportSaysTheBreakdownAddsSynchronisation() {
        Result r = run("bench", "--model", "mlp", "--batch-size", "8", "--device", "cpu", "--threads", "1",
                "--warmup", "0", "--steps", "2", "--windows", "1");
        assertEquals(0, r.code, r.err);
        assertTrue(r.out.contains("images/s:"), r.out);
        assertTrue(r.out.contains("adds synchronisation"), r.out);
        assertTrue(r.out.contains("backend ops per step:"), r.out);
        assertTrue(r.out.contains("peak memory: ") && r.out.contains("tensor memory the backend's allocator had in use at once"), r.out);   // what the figure is, not RSS
    }

    @Test
    void badPrecisionIsAUsageError() {
        Result r = run("bench", "--model", "mlp", "--batch-size", "8", "--device", "cpu", "--precision", "fp16");
        assertEquals(2, r.code);
        // bf16 is not offered as a way out: no backend implements it
        assertTrue(r.err.contains("unknown --precision 'fp16': use fp32, or tf32 on the CUDA backend (bf16 is not implemented yet)"), r.err);
    }

    /**
     * What is implemented, said the same way everywhere: fp32 on every backend, tf32 on CUDA only, bf16 on none (the
     * CPU's refusal used to say bf16 "needs the CUDA backend", as if it ran there, and the fp16 one listed it as valid).
     */
    @Test
    void tf32NeedsCudaAndBf16IsNotImplementedAnywhere() {
        Result tf32 = run("bench", "--model", "mlp", "--batch-size", "8", "--device", "cpu", "--precision", "tf32");
        assertEquals(2, tf32.code, tf32.err);
        assertTrue(tf32.err.contains("--precision tf32 needs the CUDA backend"), tf32.err);
        assertTrue(!tf32.err.contains("bf16"), tf32.err);
        for (String device : new String[] {"cpu", "cuda", "auto"}) {
            Result bf16 = run("bench", "--model", "mlp", "--batch-size", "8", "--device", device, "--precision", "bf16");
            assertEquals(2, bf16.code, bf16.err);
            assertTrue(bf16.err.contains("--precision bf16 is not implemented yet, on any backend"), device + ": " + bf16.err);
            assertTrue(!bf16.err.contains("needs the CUDA backend") && !bf16.err.contains("--device cuda cannot be used"), bf16.err);
        }
        String help = run("bench", "--help").out.replaceAll("\\s+", " ");
        assertTrue(help.contains("fp32 (every backend) or tf32 (the CUDA backend only") && help.contains("bf16 is not implemented yet, on any backend"), help);
    }

    /** --cudnn-search: heuristic or measured; measured only where there is cuDNN (the CUDA backend). */
    @Test
    void cudnnSearchMeasuredNeedsCudaAndOtherValuesAreUsageErrors() {
        Result measured = run("bench", "--model", "lenet5", "--batch-size", "8", "--device", "cpu", "--cudnn-search", "measured");
        assertEquals(2, measured.code, measured.err);
        assertTrue(measured.err.contains("--cudnn-search measured needs the CUDA backend (it times cuDNN's convolution algorithms); the CPU"
                + " backend has one way to convolve"), measured.err);
        Result bad = run("bench", "--model", "lenet5", "--batch-size", "8", "--device", "cpu", "--cudnn-search", "benchmark");
        assertEquals(2, bad.code, bad.err);
        assertTrue(bad.err.contains("unknown --cudnn-search 'benchmark': use heuristic (cuDNN's ranking) or measured"), bad.err);
        String help = run("bench", "--help").out.replaceAll("\\s+", " ");
        assertTrue(help.contains("--cudnn-search=S") && help.contains("as torch.backends.cudnn.benchmark = True"), help);
    }

    /** A batch is one Java array: beyond it, a usage error with the limit (it was "integer overflow", exit 1). */
    @Test
    void aBatchLargerThanAnArrayHoldsIsAUsageError() {
        Result r = run("bench", "--model", "lenet5", "--batch-size", "99999999", "--steps", "1", "--warmup", "0", "--windows", "1", "--device", "cpu");
        assertEquals(2, r.code, r.err);
        assertTrue(r.err.contains("--batch-size 99999999 is too large for lenet5's input [1, 28, 28]: 99,999,999 x 784 values per sample"
                + " = 78,399,999,216 values, more than one batch can hold (2,147,483,639, the largest Java array); use --batch-size 2739137 or less"), r.err);
        r = run("bench", "--model", "mlp", "--batch-size", "1", "--image-size", "100000", "--device", "cpu");
        assertEquals(2, r.code, r.err);
        assertTrue(r.err.contains("--image-size 100000 is too large: one 1x100000x100000 sample is 10,000,000,000 values"), r.err);
        // where one sample alone is too large, no --batch-size is suggested
        assertEquals("x's [3, 30000, 30000] samples are too large: one is 2,700,000,000 values, more than a batch can hold"
                + " (2,147,483,639, the largest Java array), whatever the --batch-size", BatchLimit.problem(1, 2_700_000_000L, "x's [3, 30000, 30000] samples"));
    }

    @Test
    void unknownModelIsAUsageError() {
        Result r = run("bench", "--model", "no-such-net", "--batch-size", "8", "--device", "cpu");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("unknown model 'no-such-net'"), r.err);
    }

    @Test
    void cudaWithoutAUsableGpuIsAUsageError() {
        assumeTrue(Backends.cudaUnavailableReason() != null, "CUDA is usable here");
        Result r = run("bench", "--model", "mlp", "--batch-size", "8", "--device", "cuda");
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--device cuda cannot be used"), r.err);
    }

    /**
     * bench's text report keeps stdout to itself, as with --json: --device auto's fallback notice was printed above the
     * report, so `dl-train bench ... > bench.txt` kept it there. It goes to stderr, as train's and eval's.
     */
    @Test
    void noticesGoToStderrWithoutJson() {
        String why = Backends.cudaUnavailableReason();
        assumeTrue(why != null, "CUDA is usable here: --device auto has nothing to say");
        Result r = run("bench", "--model", "mlp", "--batch-size", "8", "--device", "auto", "--threads", "1", "--warmup", "0",
                "--steps", "1", "--windows", "1");
        assertEquals(0, r.code, r.err);
        assertEquals("dl-train: notice: no usable GPU: " + why + "; using the CPU\n", r.err);
        assertTrue(r.out.startsWith("dl-train bench: mlp, batch 8, input 1x28x28, fp32, device cpu (1 thread), synthetic data\n"), r.out);
    }

    /**
     * bench at its defaults (10 warm-up steps, 5 windows of 50 and a breakdown window of 50: 310 steps) timed vgg16 at
     * batch 16 on a 2-core CPU, a step of about 15 s, for over an hour without a word. After its first step a bench
     * whose other steps will take over a minute says how long, and how to make it shorter.
     */
    @Test
    void aLongBenchSaysHowLongItWillTake() {
        // with warm-up steps to spare, the second step's pace: the first runs cold (vgg16 b8 here: 14.7 s, then 11.2 s)
        assertEquals("bench's first two steps of vgg16 at batch 16 took 60.2 s and 30.5 s: its other 308 steps (of 310: 10 warm-up,"
                        + " 5 windows of 50 and a breakdown window of 50) will take about 2.6 h at the second's pace; for a shorter run,"
                        + " e.g. --warmup 1 --steps 3 --windows 1", BenchCommand.slowNotice("vgg16", 16, new double[] {60.2, 30.5}, 10, 50, 5, 60));
        assertEquals("bench's first step of resnet50 at batch 8 took 2.5 s: its other 31 steps (of 32: 0 warm-up, 3 windows of 8"
                        + " and a breakdown window of 8) will take about 78 s at the first's pace; for a shorter run, e.g. --warmup 1"
                        + " --steps 3 --windows 1", BenchCommand.slowNotice("resnet50", 8, new double[] {2.5}, 0, 8, 3, 60));
        assertEquals("about 73 min", BenchCommand.slowNotice("vgg16", 8, new double[] {30, 14.2}, 10, 50, 5, 60)
                .replaceAll(".* will take (about [^ ]+ [^ ]+) .*", "$1"));
        assertNull(BenchCommand.slowNotice("mlp", 8, new double[] {0.02, 0.01}, 10, 50, 5, 60), "a bench of a minute or less has nothing to say");
        assertNull(BenchCommand.slowNotice("lenet5", 8, new double[] {0.5}, 1, 3, 1, 60), "nor one of few steps");
        // wired in: at a threshold of 0 s, an mlp bench says it on stderr, and stdout keeps the report alone
        System.setProperty("dltrain.benchNoticeSeconds", "0");
        try {
            Result r = run("bench", "--model", "mlp", "--batch-size", "8", "--device", "cpu", "--threads", "1", "--warmup", "2",
                    "--steps", "2", "--windows", "1", "--json");
            assertEquals(0, r.code, r.err);
            assertTrue(r.err.contains("dl-train: notice: bench's first two steps of mlp at batch 8 took ") && r.err.contains(
                    ": its other 4 steps (of 6: 2 warm-up, 1 window of 2 and a breakdown window of 2) will take about "), r.err);
            assertEquals(1, r.err.split("bench's first").length - 1, "said once: " + r.err);
            assertEquals(1, r.out.strip().split("\n").length, r.out);
        } finally {
            System.clearProperty("dltrain.benchNoticeSeconds");
        }
    }

    /**
     * The quick bench that out-of-memory advice gives (--steps 1 --warmup 1 --windows 1: 3 steps) of resnet50 at batch 64
     * on the CPU, a step of about 45 s, was told "for a shorter run, e.g. --warmup 1 --steps 3 --windows 1": 7 steps, a
     * longer run. The notice says how long the rest takes, and suggests a run only where it is shorter.
     */
    @Test
    void aLongBenchSuggestsOnlyAShorterRun() {
        assertEquals("bench's first step of resnet50 at batch 64 took 45.0 s: its other 2 steps (of 3: 1 warm-up, 1 window of 1 and a"
                + " breakdown window of 1) will take about 90 s at the first's pace", BenchCommand.slowNotice("resnet50", 64, new double[] {45}, 1, 1, 1, 60));
        assertFalse(BenchCommand.slowNotice("vgg16", 16, new double[] {40}, 1, 3, 1, 60).contains("shorter"), "the suggested run itself");
        assertTrue(BenchCommand.slowNotice("vgg16", 16, new double[] {40}, 1, 4, 1, 60).endsWith("; for a shorter run, e.g. --warmup 1 --steps 3 --windows 1"),
                "9 steps: 7 are shorter");
    }

    @Test
    void otherUsageErrors() {
        assertEquals(2, run("bench", "--batch-size", "8").code, "missing --model");
        assertEquals(2, run("bench", "--model", "mlp").code, "missing --batch-size");
        assertEquals(2, run("bench", "--model", "mlp", "--batch-size", "0", "--device", "cpu").code);
        assertEquals(2, run("bench", "--model", "mlp", "--batch-size", "8", "--device", "cpu", "--steps", "0").code);
        assertEquals(2, run("bench", "--model", "mlp", "--batch-size", "8", "--synthetic", "--data", "fashion-mnist").code);
        assertEquals(2, run("bench", "--model", "lenet5", "--batch-size", "8", "--device", "cpu", "--image-size", "8").code,
                "lenet5 needs at least 12x12");
        assertEquals(2, run("bench", "--model", "mlp", "--batch-size", "8", "--data", "fashion-mnist", "--image-size", "32").code,
                "bench does not resize real data");
    }
}
