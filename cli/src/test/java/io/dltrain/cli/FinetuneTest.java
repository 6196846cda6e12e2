package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static io.dltrain.cli.CliTest.JSON;
import static io.dltrain.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Transfer learning (--init-from, --freeze) and non-finite losses (--skip-nonfinite, the diverged-run error) end to
 * end on a small real Fashion-MNIST subset.
 */
class FinetuneTest {
    @TempDir static Path shared;
    static Path subset, base;

    @BeforeAll
    static void makeSubsetAndBaseRun() throws IOException {
        subset = CliTest.fashionSubset(shared.resolve("fmnist-small"), 2000, 500);
        base = shared.resolve("base");
        CliTest.Result r = run(train(base, "mlp", 1));
        assertEquals(0, r.code(), r.err() + r.out());
    }

    static String[] train(Path out, String model, int epochs, String... extra) {
        List<String> a = new ArrayList<>(List.of("--model", model, "--data", "fashion-mnist", "--data-dir", subset.toString(),
                "--epochs", Integer.toString(epochs), "--threads", "2", "--progress", "none", "--out", out.toString()));
        a.addAll(List.of(extra));
        if (!a.contains("--checkpoint-every")) a.addAll(List.of("--checkpoint-every", "off"));
        return a.toArray(new String[0]);
    }

    static Map<String, LoadedTensor> weights(Path run) {
        return SafeTensors.read(run.resolve("model").resolve("model.safetensors")).tensors();
    }

    @Test
    void fineTuneWithFrozenLayersKeepsThemBitIdentical(@TempDir Path tmp) throws IOException {
        Map<String, LoadedTensor> before = weights(base);
        Path out = tmp.resolve("ft");
        // mlp is Flatten "0", Linear "1", ReLU, Linear "3", ..., so "1." and "3." are its first two Linear layers
        CliTest.Result r = run(train(out, "mlp", 1, "--init-from", base.toString(), "--freeze", "1.,3."));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("init from " + base.resolve("model").resolve("model.safetensors") + ": " + before.size()
                + " tensors loaded, 0 skipped"), r.err());
        assertTrue(r.err().contains("frozen (1., 3.)"), r.err());
        Map<String, LoadedTensor> after = weights(out);
        assertEquals(before.keySet(), after.keySet());
        int frozen = 0, changed = 0;
        for (String k : before.keySet()) {
            if (k.startsWith("1.") || k.startsWith("3.")) {
                assertArrayEquals(before.get(k).floats(), after.get(k).floats(), k + " is frozen but changed");
                frozen++;
            } else {
                assertFalse(Arrays.equals(before.get(k).floats(), after.get(k).floats()), k + " is trained but did not change");
                changed++;
            }
        }
        assertEquals(4, frozen, before.keySet().toString());
        assertTrue(changed >= 2, before.keySet().toString());
        JsonNode s = JSON.readTree(out.resolve("summary.json").toFile());
        // starting from the 1-epoch run (itself ~70% on this subset; chance is 10%), one more epoch stays well above chance
        assertTrue(s.get("test_acc").asDouble() > 0.6, "test accuracy " + s.get("test_acc"));
        assertEquals(base.toString(), s.get("config").get("init_from").asText());
    }

    @Test
    void aResumedRunKeepsItsFrozenLayers(@TempDir Path tmp) throws IOException {
        Map<String, LoadedTensor> before = weights(base);
        Path out = tmp.resolve("ft");
        CliTest.Result r = run(train(out, "mlp", 2, "--init-from", base.toString(), "--freeze", "1.", "--checkpoint-every", "1e", "--max-steps", "20"));
        assertEquals(0, r.code(), r.err() + r.out());
        r = run("--resume", out.toString(), "--epochs", "2", "--threads", "2", "--progress", "none", "--data-dir", subset.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("frozen (1.)"), r.err());
        Map<String, LoadedTensor> after = weights(out);
        assertArrayEquals(before.get("1.weight").floats(), after.get("1.weight").floats());
        assertArrayEquals(before.get("1.bias").floats(), after.get("1.bias").floats());
        assertFalse(Arrays.equals(before.get("3.weight").floats(), after.get("3.weight").floats()));
    }

    @Test
    void aMismatchedModelIsSkippedTensorByTensor(@TempDir Path tmp) throws IOException {
        // the same mlp for 3 classes: every tensor loads but the head's, skipped for its shape
        Path out = tmp.resolve("three-classes");
        CliTest.Result r = run("--model", "mlp", "--data", "synthetic:1x28x28,classes=3", "--epochs", "1", "--threads", "2",
                "--progress", "none", "--checkpoint-every", "off", "--out", out.toString(),
                "--init-from", base.resolve("model").resolve("model.safetensors").toString(), "--max-steps", "2");
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains(": 4 tensors loaded, 2 skipped"), r.err());
        Map<String, LoadedTensor> file = weights(base);
        // every lenet5 tensor is reported: skipped with its reason, or loaded only if name and shape agree with the file
        List<String> skippedLines = r.err().lines().filter(l -> l.startsWith("dl-train:   skipped ")).toList();
        assertFalse(skippedLines.isEmpty(), r.err());
        for (String l : skippedLines) {
            String key = l.substring("dl-train:   skipped ".length()).split(" ")[0];
            assertTrue(l.contains(file.containsKey(key) ? "(shape mismatch: file [" : "(missing"), l);
        }
        assertTrue(r.err().contains(" tensors loaded, " + skippedLines.size() + " skipped"), r.err());

        // another architecture: nothing matches, which is a mistake, not a run from scratch (nothing is written)
        Path lenet = tmp.resolve("lenet");
        r = run(train(lenet, "lenet5", 1, "--init-from", base.resolve("model").resolve("model.safetensors").toString()));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("nothing in " + base.resolve("model").resolve("model.safetensors") + " matches lenet5")
                && r.err().contains("drop --init-from to train from scratch"), r.err());
        assertTrue(r.err().contains(": 0 tensors loaded, 10 skipped") && r.err().contains("skipped 3.weight (shape mismatch: file [128, 256]"),
                "the report says why each tensor was skipped: " + r.err());
        assertFalse(Files.exists(lenet), "nothing written");
    }

    @Test
    void initFromARunsCheckpointsFolderTakesItsLatestCheckpoint(@TempDir Path tmp) {
        // eval and predict take RUN/checkpoints for the latest checkpoint in it; --init-from said "no model.safetensors in
        // it, in RUN/checkpoints/model or in a checkpoint under RUN/checkpoints/checkpoints"
        Path stopped = tmp.resolve("stopped");
        CliTest.Result r = run(train(stopped, "mlp", 1, "--checkpoint-every", "1e", "--max-steps", "3"));
        assertEquals(0, r.code(), r.err() + r.out());
        Path ckpts = stopped.resolve("checkpoints");
        r = run(train(tmp.resolve("ft"), "mlp", 1, "--init-from", ckpts.toString(), "--max-steps", "1"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("init from " + ckpts.resolve("ckpt-3").resolve("model.safetensors") + ": 6 tensors loaded, 0 skipped"), r.err());
    }

    @Test
    void freezingOnResumeIsRefusedWithTheWayToDoIt(@TempDir Path tmp) {
        // a run trained without --freeze, resumed with it: the error read "--freeze 1. differs from the resumed run's ; drop
        // --freeze" (an empty list), and gave no way to freeze layers of the weights trained so far
        Path stopped = tmp.resolve("stopped");
        CliTest.Result r = run(train(stopped, "mlp", 1, "--checkpoint-every", "1e", "--max-steps", "2"));
        assertEquals(0, r.code(), r.err() + r.out());
        CliTest.usageError(null, new String[] {"--resume", stopped.toString(), "--freeze", "1.", "--threads", "2", "--progress", "none"},
                "--freeze 1. differs from the resumed run's, which froze nothing", "--init-from " + stopped + " --freeze 1.");
    }

    @Test
    void aDataParallelStateDictIsNamedWithThePrefixToRemove(@TempDir Path tmp) {
        // torch.nn.DataParallel / DistributedDataParallel save every name as "module." + the model's: the same
        // architecture, which the error told to "give a model of the same architecture"
        Path file = tmp.resolve("ddp.safetensors");
        try (var cpu = new io.dltrain.runtime.backend.cpu.CpuBackend()) {
            Map<String, io.dltrain.runtime.tensor.Tensor> renamed = new java.util.LinkedHashMap<>();
            for (Map.Entry<String, LoadedTensor> e : weights(base).entrySet())
                renamed.put("module." + e.getKey(), cpu.fromHost(e.getValue().floats(), io.dltrain.runtime.tensor.Shape.of(e.getValue().shape())));
            SafeTensors.write(file, renamed, Map.of());
        }
        Path out = tmp.resolve("x");
        CliTest.Result r = run(train(out, "mlp", 1, "--init-from", file.toString()));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("6 of its 6 tensors are mlp's with the prefix 'module.'") && r.err().contains("DataParallel")
                && r.err().contains("k.removeprefix('module.')"), r.err());
        assertFalse(r.err().contains("same architecture"), r.err());
        assertFalse(Files.exists(out));
        // a few names of another architecture that end in the model's are not a prefix to remove (vgg11_bn's into mlp)
        var vgg = new io.dltrain.runtime.checkpoint.LoadReport(List.of(), java.util.stream.Stream.of("1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias")
                .map(k -> new io.dltrain.runtime.checkpoint.LoadReport.Skipped(k, io.dltrain.runtime.checkpoint.LoadReport.Reason.MISSING, "")).toList(), List.of("features.0.weight", "features.1.weight",
                "features.1.bias", "features.4.weight", "features.5.weight", "features.5.bias", "classifier.0.weight", "classifier.3.weight",
                "classifier.3.bias", "classifier.6.weight"));
        assertEquals(null, TrainRun.prefixedNames(vgg, "mlp", file));
    }

    /**
     * A state_dict saved in float64 (numpy's default; model.double() in PyTorch) loads: each tensor is rounded to
     * float32, and the run says how many were.
     */
    @Test
    void initFromAFloat64FileRoundsToFloat32AndSaysHowMany(@TempDir Path tmp) throws IOException {
        Map<String, LoadedTensor> w = weights(base);
        StringBuilder h = new StringBuilder("{");
        java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
        for (Map.Entry<String, LoadedTensor> e : w.entrySet()) {
            float[] v = e.getValue().floats();
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (float x : v) b.putDouble(x);
            if (h.length() > 1) h.append(',');
            h.append('"').append(e.getKey()).append("\":{\"dtype\":\"F64\",\"shape\":").append(Arrays.toString(e.getValue().shape()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(data.size()).append(',').append(data.size() + b.capacity()).append("]}");
            data.writeBytes(b.array());
        }
        byte[] header = h.append('}').toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.nio.ByteBuffer f = java.nio.ByteBuffer.allocate(8 + header.length + data.size()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        f.putLong(header.length).put(header).put(data.toByteArray());
        Path file = tmp.resolve("f64.safetensors");
        Files.write(file, f.array());
        CliTest.Result r = run(train(tmp.resolve("ft"), "mlp", 1, "--init-from", file.toString(), "--max-steps", "1"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("init from " + file + ": " + w.size() + " tensors loaded, 0 skipped"), r.err());
        assertTrue(r.err().contains(w.size() + " of them were float64 (F64) in the file, rounded to float32"), r.err());
    }

    @Test
    void aFreezePrefixThatMatchesNothingIsAUsageError(@TempDir Path tmp) {
        CliTest.Result r = run(train(tmp.resolve("x"), "mlp", 1, "--freeze", "features."));
        assertEquals(2, r.code(), r.out());
        assertTrue(r.err().contains("--freeze features. matches no parameter of mlp") && r.err().contains("1.weight"), r.err());
        assertFalse(Files.exists(tmp.resolve("x")));
        r = run(train(tmp.resolve("y"), "mlp", 1, "--init-from", tmp.resolve("nothing").toString()));
        assertEquals(2, r.code(), r.out());
        assertTrue(r.err().contains("--init-from"), r.err());
    }

    @Test
    void aDivergingRunStopsWithTheStepAndLayer(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("lr");
        // lr 1e6 with weight decay 5e-4 multiplies the weights by about -500 per step: they overflow within a few steps
        CliTest.Result r = run(train(out, "mlp", 1, "--lr", "1e6", "--checkpoint-every", "1e"));
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(r.err().matches("(?s).*training diverged: the loss is (NaN|Infinity|-Infinity) at epoch 1, step \\d+ .*"), r.err());
        assertTrue(r.err().matches("(?s).*the first non-finite gradient is \\d+\\.(weight|bias) \\[.*"), r.err());
        assertTrue(r.err().contains("Try a lower --lr, or --clip-norm 1, or --skip-nonfinite"), r.err());
        // either a checkpoint of finite weights, or the message says why there is none
        if (r.err().contains("the last good state is checkpointed in ")) {
            assertTrue(Files.isDirectory(out.resolve("checkpoints")));
        } else {
            assertTrue(r.err().contains("the weights are already non-finite"), r.err());
        }
    }

    @Test
    void skipNonfiniteSkipsAndCountsTheBadSteps(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("skip");
        CliTest.Result r = run(train(out, "mlp", 1, "--lr", "1e6", "--skip-nonfinite"));
        assertEquals(0, r.code(), r.out() + r.err());
        JsonNode s = JSON.readTree(out.resolve("summary.json").toFile());
        long skipped = s.get("skipped_steps").asLong();
        // 1,800 training samples in batches of 128: 15 steps; some ran before the weights overflowed
        assertTrue(skipped > 0 && skipped < 15, "skipped " + skipped);
        assertEquals(skipped, JSON.readTree(Files.readAllLines(out.resolve("metrics.jsonl")).getFirst()).get("skipped_steps").asLong());
        assertTrue(r.err().contains("skipped " + skipped + " steps with a non-finite loss"), r.err());
        assertEquals(0, JSON.readTree(base.resolve("summary.json").toFile()).get("skipped_steps").asLong());
    }
}
