package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A run directory written by an earlier dl-train resumes with this one and ends where the earlier build's uninterrupted
 * run ended. The fixture, under test resources {@code io/dltrain/cli/compat/f3e008a/}, was written by the jar of
 * f3e008a (2026-12-07, the last build before optimizer.safetensors and metrics.jsonl recorded a format_version) on an
 * AMD EPYC Zen 4 (OpenBLAS's Cooperlake kernels):
 * <pre>
 * D=synthetic:1x8x8,classes=4,train=256,test=64
 * A="--model mlp --data $D --epochs 2 --batch-size 32 --optimizer sgd --momentum 0 --threads 2 --progress none --seed 5"
 * java -jar dl-train.jar train $A --out uninterrupted                          # kept: metrics.jsonl, summary.json, model/model.safetensors
 * java -jar dl-train.jar train $A --max-steps 10 --keep 1 --out stopped        # 8 steps an epoch: stopped 2 steps into epoch 2 (.lock removed)
 * </pre>
 * {@code stopped/} holds that build's state.json (format_version 2), model.safetensors (with it) and optimizer.safetensors
 * and metrics.jsonl (without), a mid-epoch checkpoint (ckpt-10: the epoch's running sums, the cosine schedule's
 * position, the data order) and best/. Resumed by this build, it must give the uninterrupted run's numbers bit for bit
 * where this process's matrix-product kernels are the run's, as for a run resumed by its own build (ResumeTest); with
 * other kernels the resume says its results will differ slightly (TrainRun.resumeDrift), and they must agree within
 * {@link #OTHER_KERNELS}: with OPENBLAS_CORETYPE=Haswell or Zen the weights differed by at most 7.5e-9 and the
 * metrics not at all, while a resume that lost the step within the epoch, the schedule or the data order moves them by
 * far more (the cosine learning rate alone changes by up to 4.9e-3 a step here).
 */
class RunCompatibilityTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final double OTHER_KERNELS = 1e-6;

    @Test
    void aRunStoppedByF3e008aResumesToTheNumbersOfItsUninterruptedRun(@TempDir Path tmp) throws Exception {
        Path fixture = Path.of(RunCompatibilityTest.class.getResource("compat/f3e008a").toURI());
        Path run = tmp.resolve("stopped");
        try (var files = Files.walk(fixture.resolve("stopped"))) {
            for (Path f : files.toList()) {
                Path to = run.resolve(fixture.resolve("stopped").relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        // what the old build wrote: no version in optimizer.safetensors nor in metrics.jsonl's line
        Path ck = run.resolve("checkpoints/ckpt-10");
        assertNull(SafeTensors.read(ck.resolve(Checkpoint.OPTIMIZER_FILE)).metadata().get(Checkpoint.FORMAT_KEY));
        String epoch1 = Files.readString(run.resolve("metrics.jsonl"));
        assertFalse(epoch1.contains(Checkpoint.FORMAT_KEY), epoch1);

        CliTest.Result r = CliTest.run("--resume", run.toString(), "--threads", "2", "--progress", "none");
        assertEquals(0, r.code(), r.err() + r.out());
        boolean otherKernels = r.err().contains("computes them with");
        double tol = otherKernels ? OTHER_KERNELS : 0;

        List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(2, lines.size(), lines.toString());
        assertEquals(epoch1, lines.get(0) + "\n", "the old build's line is kept as it was");
        JsonNode second = JSON.readTree(lines.get(1));
        assertEquals(Checkpoint.FORMAT_VERSION, second.get(Checkpoint.FORMAT_KEY).intValue(), lines.get(1));

        Path expected = fixture.resolve("uninterrupted");
        List<String> want = Files.readAllLines(expected.resolve("metrics.jsonl"));
        for (int i = 0; i < 2; i++) {
            JsonNode x = JSON.readTree(want.get(i)), y = JSON.readTree(lines.get(i));
            assertEquals(i + 1, y.get("epoch").asInt());
            for (String f : List.of("train_loss", "train_acc", "val_loss", "val_acc", "lr"))
                assertEquals(x.get(f).asDouble(), y.get(f).asDouble(), tol, f + " of epoch " + (i + 1));
        }
        JsonNode sa = JSON.readTree(expected.resolve("summary.json").toFile()), sb = JSON.readTree(run.resolve("summary.json").toFile());
        assertEquals(sa.get("test_loss").asDouble(), sb.get("test_loss").asDouble(), tol, "test_loss");
        assertEquals(sa.get("test_acc").asDouble(), sb.get("test_acc").asDouble(), tol, "test_acc");

        Map<String, LoadedTensor> a = SafeTensors.read(expected.resolve("model/model.safetensors")).tensors(),
                b = SafeTensors.read(run.resolve("model/model.safetensors")).tensors();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            float[] x = a.get(k).floats(), y = b.get(k).floats();
            if (!otherKernels) assertArrayEquals(x, y, k + ": bit for bit with the run's own kernels");
            else assertArrayEquals(x, y, (float) OTHER_KERNELS, k);
        }
    }
}
