package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.dltrain.runtime.backend.cuda.EmulatedDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.dltrain.cli.CliTest.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dl-train train --device cuda} end to end, on the emulated device (runtime's {@link EmulatedDevice}: the real
 * CUDA backend over host stand-ins of the CUDA libraries that compute, our kernels' unchanged sources on the host):
 * lenet5 for two epochs on a real Fashion-MNIST subset, through the CLI, the trainer, batch uploads one ahead on the
 * copy stream, validation, the test evaluation, checkpoints and summary.json. The same run on the CPU must give the
 * same curve (per-epoch losses within 1e-3 relative, accuracies within 2 samples: lenet5's gradients agree to ~1e-6
 * between the backends, see GpuTrainingStepTest), a device run stopped mid-epoch and resumed must equal the
 * uninterrupted one bit for bit, and the checkpoint written on the device must evaluate on the CPU to the device's
 * test numbers. This is the acceptance run of issue 5 ({@code --device cuda --epochs 10}) in
 * miniature; on a GPU it needs the real machine (benchmarks/gpu/run-on-gpu.sh).
 */
class EmulatedDeviceCliTest {
    static final int TRAIN = 1000, TEST = 500;

    @Test
    void lenet5TrainsOnTheEmulatedDeviceAsOnTheCpu(@TempDir Path tmp) throws Exception {
        Path data = CliTest.fashionSubset(tmp.resolve("fmnist"), TRAIN, TEST);
        Path emu = Files.createDirectories(tmp.resolve("emulated"));
        EmulatedDevice.build(emu);

        Path onDevice = tmp.resolve("run-cuda"), onCpu = tmp.resolve("run-cpu");
        EmulatedDevice.Run r = EmulatedDevice.java(emu, List.of(), Main.class, args(onDevice, data, "cuda"));
        assertEquals(0, r.exit(), "train --device cuda on the emulated device:\n" + r.out());
        assertEquals(List.of(), EmulatedDevice.cErrors(r.out()), "the stand-ins saw a wrong call:\n" + r.out());
        assertTrue(r.out().contains("device cuda:0"), "the run names its device:\n" + r.out());
        CliTest.Result c = CliTest.run(args(onCpu, data, "cpu"));
        assertEquals(0, c.code(), c.err() + c.out());

        JsonNode sd = JSON.readTree(onDevice.resolve("summary.json").toFile()), sc = JSON.readTree(onCpu.resolve("summary.json").toFile());
        assertEquals("cuda:0", sd.get("device").asText(), sd.toString());
        // the device allocator's statistics (issue 5: in use, reserved, peak in summary.json)
        JsonNode mem = sd.get("memory");
        assertTrue(mem.get("peak_bytes").asLong() >= mem.get("in_use_bytes").asLong() && mem.get("in_use_bytes").asLong() > 0
                && mem.get("reserved_bytes").asLong() >= mem.get("in_use_bytes").asLong(), mem.toString());
        List<String> md = Files.readAllLines(onDevice.resolve("metrics.jsonl")), mc = Files.readAllLines(onCpu.resolve("metrics.jsonl"));
        assertEquals(2, md.size(), String.join("\n", md));
        assertEquals(mc.size(), md.size());
        for (int e = 0; e < md.size(); e++) {
            JsonNode d = JSON.readTree(md.get(e)), cp = JSON.readTree(mc.get(e));
            String at = "epoch " + (e + 1) + " ";
            System.out.println("emulated device " + md.get(e) + "\ncpu             " + mc.get(e));
            for (String f : List.of("train_loss", "val_loss"))
                assertEquals(cp.get(f).asDouble(), d.get(f).asDouble(), 1e-3 * Math.abs(cp.get(f).asDouble()), at + f + ", device vs CPU");
            long trainN = sc.get("train_samples").asLong(), valN = sc.get("val_samples").asLong();
            assertEquals(cp.get("train_acc").asDouble(), d.get("train_acc").asDouble(), 2.0 / trainN + 1e-9, at + "train_acc");
            assertEquals(cp.get("val_acc").asDouble(), d.get("val_acc").asDouble(), 2.0 / valN + 1e-9, at + "val_acc");
        }
        System.out.printf(java.util.Locale.ROOT, "test: emulated device loss %.6f acc %.4f; cpu loss %.6f acc %.4f%n", sd.get("test_loss").asDouble(),
                sd.get("test_acc").asDouble(), sc.get("test_loss").asDouble(), sc.get("test_acc").asDouble());
        System.out.println(r.out().lines().filter(l -> l.startsWith("dl-train:")).reduce("", (a, b) -> a + b + "\n"));
        assertEquals(TEST, sd.get("test_samples").asInt());
        assertEquals(sc.get("test_loss").asDouble(), sd.get("test_loss").asDouble(), 1e-3 * sc.get("test_loss").asDouble(), "test loss");
        assertEquals(sc.get("test_acc").asDouble(), sd.get("test_acc").asDouble(), 2.0 / TEST + 1e-9, "test accuracy");
        // it learned (chance is 10%)
        assertTrue(sd.get("test_acc").asDouble() > 0.4, "test accuracy " + sd.get("test_acc"));

        // No lost work on the device: a run stopped in the middle of epoch 2 (--max-steps 22 of 2 x 15) and resumed there
        // gives the uninterrupted device run's numbers bit for bit (checkpointed weights, momentum, data order, and the
        // batch uploaded ahead dropped and uploaded again).
        Path parts = tmp.resolve("run-cuda-parts");
        EmulatedDevice.Run p1 = EmulatedDevice.java(emu, List.of(), Main.class, concat(args(parts, data, "cuda"), "--max-steps", "22"));
        assertEquals(0, p1.exit(), p1.out());
        EmulatedDevice.Run p2 = EmulatedDevice.java(emu, List.of(), Main.class, "train", "--resume", parts.toString(), "--data-dir", data.toString(),
                "--epochs", "2", "--device", "cuda", "--progress", "plain");
        assertEquals(0, p2.exit(), p2.out());
        assertEquals(List.of(), EmulatedDevice.cErrors(p1.out() + p2.out()), p1.out() + p2.out());
        ResumeTest.assertSameRun(onDevice, parts, 2);

        // The device's checkpoint, evaluated on the CPU: the device's own test numbers.
        Path eval = tmp.resolve("eval");
        CliTest.Result ev = CliTest.run("eval", "--checkpoint", onDevice.toString(), "--data", "fashion-mnist", "--data-dir", data.toString(),
                "--device", "cpu", "--threads", "2", "--out", eval.toString());
        assertEquals(0, ev.code(), ev.err() + ev.out());
        JsonNode ej = JSON.readTree(eval.resolve("eval.json").toFile());
        assertEquals(sd.get("test_loss").asDouble(), ej.get("loss").asDouble(), 1e-4 * sd.get("test_loss").asDouble(), "CPU eval of the device's model: loss");
        assertEquals(sd.get("test_acc").asDouble(), ej.get("top1").asDouble(), 2.0 / TEST + 1e-9, "CPU eval of the device's model: accuracy");
    }

    /**
     * {@code bench --device cuda} (synthetic batch on the device) and {@code info} through the CUDA backend: the step
     * makes no host transfer (no per-element work goes back to the host), the fused Linear + ReLU and the convolutions
     * are what the CPU's bench counts too, peak memory comes from the device allocator, and info names the device.
     */
    @Test
    void benchAndInfoOnTheEmulatedDevice(@TempDir Path tmp) throws Exception {
        EmulatedDevice.build(tmp);
        EmulatedDevice.Run b = EmulatedDevice.java(tmp, List.of(), Main.class, "bench", "--model", "lenet5", "--device", "cuda",
                "-b", "16", "--steps", "3", "--warmup", "1", "--windows", "2", "--json");
        assertEquals(0, b.exit(), b.out());
        assertEquals(List.of(), EmulatedDevice.cErrors(b.out()), b.out());
        String json = b.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow(() -> new AssertionError("no JSON line:\n" + b.out()));
        JsonNode j = JSON.readTree(json);
        assertEquals("cuda:0", j.get("device").asText(), json);
        assertEquals("cuDNN heuristics", j.get("conv_algorithms").asText(), json);
        assertEquals(0.0, j.get("backend_transfers_per_step").asDouble(), json);
        assertTrue(j.get("peak_memory_bytes").asLong() > 0, json);
        JsonNode ops = j.get("backend_calls_per_step_by_op");
        assertEquals(2.0, ops.get("gemmBiasRelu").asDouble(), json);
        assertEquals(2.0, ops.get("convForward").asDouble(), json);
        CliTest.Result cpu = CliTest.run("bench", "--model", "lenet5", "--device", "cpu", "--threads", "2", "-b", "16", "--steps", "3",
                "--warmup", "1", "--windows", "2", "--json");
        assertEquals(0, cpu.code(), cpu.err());
        JsonNode jc = JSON.readTree(cpu.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
        assertEquals(jc.get("backend_calls_per_step_by_op"), ops, "the same backend calls per step on both devices");

        // --cudnn-search measured (the PyTorch peer's cudnn.benchmark): the backend is opened again with cuDNN's measured
        // search, and the convolutions' algorithms come from cudnnFind*AlgorithmEx, not from the heuristic ranking.
        EmulatedDevice.Run m = EmulatedDevice.java(tmp, List.of(), Main.class, "bench", "--model", "lenet5", "--device", "cuda",
                "-b", "16", "--steps", "1", "--warmup", "1", "--windows", "1", "--cudnn-search", "measured");
        assertEquals(0, m.exit(), m.out());
        assertEquals(List.of(), EmulatedDevice.cErrors(m.out()), m.out());
        assertTrue(m.out().contains("device cuda:0 (convolution algorithms: measured (cudnnFind*AlgorithmEx, once per shape))"), m.out());
        assertTrue(m.out().contains("c-cudnn-find forward") && m.out().contains("c-cudnn-find backward-filter")
                && !m.out().contains("c-cudnn-algo-query"), m.out());

        EmulatedDevice.Run info = EmulatedDevice.java(tmp, List.of(), Main.class, "info");
        assertEquals(0, info.exit(), info.out());
        assertTrue(info.out().contains("cuda: available") && info.out().contains("cuda:0: Stand-in GPU (host memory), compute capability 9.0"),
                info.out());
        EmulatedDevice.Run ij = EmulatedDevice.java(tmp, List.of(), Main.class, "info", "--json");
        assertEquals(0, ij.exit(), ij.out());
        String text = ij.out().substring(ij.out().indexOf("{\n"), ij.out().lastIndexOf('}') + 1); // its stdout, amid stderr's lines
        JsonNode gpu = JSON.readTree(text).get("cuda");
        assertTrue(gpu.get("available").asBoolean() && gpu.get("reason").isNull(), text);
        assertEquals("Stand-in GPU (host memory)", gpu.get("devices").get(0).get("name").asText(), text);
        assertEquals("9.0", gpu.get("devices").get(0).get("compute_capability").asText(), text);
        EmulatedDevice.Run ready = EmulatedDevice.java(tmp, List.of(), Main.class, "info", "--device", "cuda");
        assertEquals(0, ready.exit(), ready.out());
        assertTrue(ready.out().contains("dl-train: --device cuda can be used"), ready.out());
        EmulatedDevice.Run second = EmulatedDevice.java(tmp, List.of(), Main.class, "info", "--device", "cuda:1");
        assertEquals(2, second.exit(), second.out());
        assertTrue(second.out().contains("--device cuda:1 cannot be used: this machine has 1 CUDA device (cuda:0)."), second.out());
    }

    /**
     * Other training paths on the device against the CPU, on a 600/200-image subset, one epoch each: AdamW with gradient
     * clipping and label smoothing (mlp), the reconstruction task (conv-autoencoder: MSE, ConvTranspose2d through
     * cuDNN's backward-data), a diverging run (the same error, at the same step, with the last good state saved), and
     * eval and predict with --device cuda on the device's model.
     */
    @Test
    void otherTrainingPathsOnTheEmulatedDeviceMatchTheCpu(@TempDir Path tmp) throws Exception {
        Path data = CliTest.fashionSubset(tmp.resolve("fmnist"), 600, 200);
        Path emu = Files.createDirectories(tmp.resolve("emulated"));
        EmulatedDevice.build(emu);
        List<List<String>> runs = List.of(
                List.of("--model", "mlp", "--optimizer", "adamw", "--lr", "0.001", "--clip-norm", "1", "--label-smoothing", "0.1"),
                List.of("--model", "conv-autoencoder"));
        for (int i = 0; i < runs.size(); i++) {
            Path dev = tmp.resolve("dev" + i), cpu = tmp.resolve("cpu" + i);
            String[] common = concat(runs.get(i).toArray(new String[0]), "--data", "fashion-mnist", "--data-dir", data.toString(),
                    "--epochs", "1", "--threads", "2", "--progress", "plain");
            EmulatedDevice.Run r = EmulatedDevice.java(emu, List.of(), Main.class, concat(concat(new String[] {"train"}, common),
                    "--device", "cuda", "--out", dev.toString()));
            assertEquals(0, r.exit(), r.out());
            assertEquals(List.of(), EmulatedDevice.cErrors(r.out()), r.out());
            CliTest.Result c = CliTest.run(concat(concat(new String[] {"train"}, common), "--device", "cpu", "--out", cpu.toString()));
            assertEquals(0, c.code(), c.err() + c.out());
            JsonNode d = JSON.readTree(Files.readAllLines(dev.resolve("metrics.jsonl")).get(0)), cp = JSON.readTree(Files.readAllLines(cpu.resolve("metrics.jsonl")).get(0));
            for (String f : List.of("train_loss", "val_loss"))
                assertEquals(cp.get(f).asDouble(), d.get(f).asDouble(), 1e-3 * Math.abs(cp.get(f).asDouble()), runs.get(i) + ": " + f + ", device vs CPU");
            JsonNode sd = JSON.readTree(dev.resolve("summary.json").toFile()), sc = JSON.readTree(cpu.resolve("summary.json").toFile());
            assertEquals(sc.get("test_loss").asDouble(), sd.get("test_loss").asDouble(), 1e-3 * sc.get("test_loss").asDouble(), runs.get(i) + ": test loss");
        }

        // Divergence: a learning rate of 1e30 gives a NaN loss at step 2 on both devices; the run stops with the reason.
        String[] diverge = {"train", "--model", "mlp", "--data", "fashion-mnist", "--data-dir", data.toString(), "--epochs", "1", "--lr", "1e30",
                "--threads", "2", "--progress", "plain"};
        EmulatedDevice.Run dr = EmulatedDevice.java(emu, List.of(), Main.class, concat(diverge, "--device", "cuda", "--out", tmp.resolve("ddev").toString()));
        CliTest.Result cr = CliTest.run(concat(diverge, "--device", "cpu", "--out", tmp.resolve("dcpu").toString()));
        assertEquals(cr.code(), dr.exit(), dr.out());
        assertTrue(cr.code() != 0, cr.out() + cr.err());
        String why = "training diverged: the loss is NaN at epoch 1, step 2";
        assertTrue(cr.err().contains(why), cr.err());
        assertTrue(dr.out().contains(why) && dr.out().contains("the last good state is checkpointed"), dr.out());

        // eval and predict on the device, with the AdamW model trained there: the CPU's eval numbers, the same top class.
        Path model = tmp.resolve("dev0");
        EmulatedDevice.Run ev = EmulatedDevice.java(emu, List.of(), Main.class, "eval", "--checkpoint", model.toString(), "--data", "fashion-mnist",
                "--data-dir", data.toString(), "--device", "cuda", "--out", tmp.resolve("eval-dev").toString());
        assertEquals(0, ev.exit(), ev.out());
        CliTest.Result ec = CliTest.run("eval", "--checkpoint", model.toString(), "--data", "fashion-mnist", "--data-dir", data.toString(),
                "--device", "cpu", "--threads", "2", "--out", tmp.resolve("eval-cpu").toString());
        assertEquals(0, ec.code(), ec.err());
        JsonNode jd = JSON.readTree(tmp.resolve("eval-dev/eval.json").toFile()), jc = JSON.readTree(tmp.resolve("eval-cpu/eval.json").toFile());
        assertEquals(jc.get("loss").asDouble(), jd.get("loss").asDouble(), 1e-4 * jc.get("loss").asDouble(), "eval loss, device vs CPU");
        assertEquals(jc.get("top1").asDouble(), jd.get("top1").asDouble(), 2.0 / 200 + 1e-9, "eval accuracy, device vs CPU");
        String image = data.resolve("t10k-images-idx3-ubyte.gz").toString();
        EmulatedDevice.Run pd = EmulatedDevice.java(emu, List.of(), Main.class, "predict", "--checkpoint", model.toString(), "--device", "cuda", "-k", "1", image);
        CliTest.Result pc = CliTest.run("predict", "--checkpoint", model.toString(), "--device", "cpu", "--threads", "2", "-k", "1", image);
        assertEquals(0, pd.exit(), pd.out());
        assertEquals(0, pc.code(), pc.err());
        List<String> topDev = pd.out().lines().filter(l -> l.startsWith(image)).map(l -> l.replaceAll("\\s+[0-9.]+%$", "")).toList();
        List<String> topCpu = pc.out().lines().filter(l -> l.startsWith(image)).map(l -> l.replaceAll("\\s+[0-9.]+%$", "")).toList();
        assertEquals(200, topDev.size(), pd.out());
        long differ = java.util.stream.IntStream.range(0, 200).filter(k -> !topDev.get(k).equals(topCpu.get(k))).count();
        assertTrue(differ <= 2, differ + " of 200 top classes differ between device and CPU");
    }

    static String[] concat(String[] a, String... b) {
        List<String> l = new ArrayList<>(List.of(a));
        l.addAll(List.of(b));
        return l.toArray(new String[0]);
    }

    static String[] args(Path out, Path data, String device) {
        List<String> a = new ArrayList<>(List.of("train", "--model", "lenet5", "--data", "fashion-mnist", "--data-dir", data.toString(),
                "--epochs", "2", "--batch-size", "64", "--device", device, "--threads", "2", "--progress", "plain", "--out", out.toString()));
        return a.toArray(new String[0]);
    }
}
