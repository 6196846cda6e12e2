package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.dltrain.models.ModelRegistry;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import io.dltrain.runtime.tensor.Scope;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.dltrain.cli.CliTest.JSON;
import static io.dltrain.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints and --resume end to end on a small real Fashion-MNIST subset: a run stopped at an epoch boundary or in
 * the middle of an epoch and resumed gives bit-identical metrics to an uninterrupted run (CPU, same seed and
 * threads), and a training process killed with SIGKILL at random moments (often while writing a checkpoint) leaves
 * a checkpoint that loads and a run that resumes.
 */
class ResumeTest {
    @TempDir static Path shared;
    static Path subset;

    @BeforeAll
    static void makeSubset() throws IOException {
        subset = CliTest.fashionSubset(shared.resolve("fmnist-small"), 2000, 500);
    }

    /** 2,000 images, 10% held out: 1,800 training samples, 15 steps of 128 per epoch. */
    static String[] train(Path out, String model, int epochs, String... extra) {
        List<String> a = new ArrayList<>(List.of("--model", model, "--data", "fashion-mnist", "--data-dir", subset.toString(),
                "--epochs", Integer.toString(epochs), "--threads", "2", "--progress", "none", "--out", out.toString()));
        a.addAll(List.of(extra));
        return a.toArray(new String[0]);
    }

    static String[] resume(Path dir, int epochs, String... extra) {
        List<String> a = new ArrayList<>(List.of("--resume", dir.toString(), "--data-dir", subset.toString(),
                "--epochs", Integer.toString(epochs), "--threads", "2", "--progress", "none"));
        a.addAll(List.of(extra));
        return a.toArray(new String[0]);
    }

    static void ok(String[] args) {
        CliTest.Result r = run(args);
        assertEquals(0, r.code(), String.join(" ", args) + "\n" + r.err() + r.out());
    }

    /** Every epoch's losses and accuracies and the test loss are exactly equal (tolerance 0: bit-identical). */
    static void assertSameRun(Path expected, Path actual, int epochs) throws IOException {
        List<String> a = Files.readAllLines(expected.resolve("metrics.jsonl")), b = Files.readAllLines(actual.resolve("metrics.jsonl"));
        assertEquals(epochs, a.size(), "uninterrupted metrics.jsonl: " + a);
        assertEquals(epochs, b.size(), "resumed metrics.jsonl: " + b);
        for (int i = 0; i < epochs; i++) {
            JsonNode x = JSON.readTree(a.get(i)), y = JSON.readTree(b.get(i));
            assertEquals(i + 1, y.get("epoch").asInt(), b.get(i));
            for (String f : List.of("train_loss", "train_acc", "val_loss", "val_acc", "lr"))
                assertEquals(x.get(f).asDouble(), y.get(f).asDouble(), 0.0, f + " of epoch " + (i + 1));
        }
        JsonNode sa = JSON.readTree(expected.resolve("summary.json").toFile()), sb = JSON.readTree(actual.resolve("summary.json").toFile());
        assertEquals(sa.get("test_loss").asDouble(), sb.get("test_loss").asDouble(), 0.0, "test_loss");
        assertEquals(sa.get("test_acc").asDouble(), sb.get("test_acc").asDouble(), 0.0, "test_acc");
        assertEquals(epochs, sb.get("epochs").asInt());
        // the curves show every epoch of the run, the ones before the resume too: the same picture
        java.awt.image.BufferedImage pa = javax.imageio.ImageIO.read(expected.resolve(Curves.FILE).toFile()),
                pb = javax.imageio.ImageIO.read(actual.resolve(Curves.FILE).toFile());
        assertEquals(pa.getWidth(), pb.getWidth());
        assertEquals(pa.getHeight(), pb.getHeight());
        assertTrue(java.util.Arrays.equals(pa.getRGB(0, 0, pa.getWidth(), pa.getHeight(), null, 0, pa.getWidth()),
                pb.getRGB(0, 0, pb.getWidth(), pb.getHeight(), null, 0, pb.getWidth())), "curves.png differs from the uninterrupted run's");
    }

    static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) { return s.map(p -> p.getFileName().toString()).sorted().toList(); }
    }

    /**
     * --resume-or-start, for a command that is simply run again (a Kubernetes pod restarted): a missing or empty --out
     * starts the run; one holding a checkpoint resumes it with its saved settings (bit-identical to an uninterrupted
     * run), refusing conflicting ones as --resume does; a finished run says so and exits 0.
     */
    @Test
    void resumeOrStartStartsResumesOrSaysComplete(@TempDir Path tmp) throws IOException {
        Path whole = tmp.resolve("whole"), dir = tmp.resolve("pod");
        ok(train(whole, "mlp", 2, "--schedule", "step:1:0.5"));
        // the first start, killed (here: stopped) in the middle of epoch 2
        CliTest.Result r = run(train(dir, "mlp", 2, "--schedule", "step:1:0.5", "--resume-or-start", "--max-steps", "20"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: --resume-or-start: no checkpoint in " + dir + "; starting the run"), r.err());
        // the same command again: resumes from the step-20 checkpoint and ends as the uninterrupted run
        r = run(train(dir, "mlp", 2, "--schedule", "step:1:0.5", "--resume-or-start"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: --resume-or-start: " + dir + " holds a checkpoint; resuming the run"), r.err());
        assertSameRun(whole, dir, 2);
        // and again, with the --init-from a fine-tuning command would carry: complete, nothing loaded or rewritten
        long summaryTime = Files.getLastModifiedTime(dir.resolve("summary.json")).toMillis();
        r = run(train(dir, "mlp", 2, "--schedule", "step:1:0.5", "--resume-or-start", "--init-from", whole.toString()));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("has done all of its 2 epochs; nothing to train"), r.err());
        assertTrue(r.err().contains("not loading --init-from " + whole + ": the run resumes from its checkpoint"), r.err());
        assertEquals(summaryTime, Files.getLastModifiedTime(dir.resolve("summary.json")).toMillis());
        // a conflicting setting is refused as --resume refuses it
        r = run(train(dir, "mlp", 3, "--schedule", "step:1:0.5", "--resume-or-start", "--lr", "0.5"));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--lr 0.5 differs from the resumed run's"), r.err());
        // an existing empty directory: starts there
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        r = run(train(empty, "mlp", 1, "--resume-or-start", "--max-steps", "1"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(Files.isDirectory(empty.resolve("checkpoints")), names(empty).toString());
        // a finished run written without checkpoints: nothing to resume, and nothing to do (exit 0, nothing rewritten)
        Path off = tmp.resolve("off");
        ok(train(off, "mlp", 1, "--resume-or-start", "--checkpoint-every", "off"));
        long offTime = Files.getLastModifiedTime(off.resolve("summary.json")).toMillis();
        r = run(train(off, "mlp", 1, "--resume-or-start", "--checkpoint-every", "off"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("holds a finished run of 1 epoch (its summary.json) and no checkpoint (--checkpoint-every off): nothing to train"), r.err());
        assertEquals(offTime, Files.getLastModifiedTime(off.resolve("summary.json")).toMillis());
        // usage errors: no --out to look in, or --resume as well
        List<String> noOut = new ArrayList<>(List.of(train(dir, "mlp", 2, "--resume-or-start")));
        int at = noOut.indexOf("--out");
        noOut.remove(at + 1);
        noOut.remove(at);
        r = run(noOut.toArray(new String[0]));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--resume-or-start needs --out DIR"), r.err());
        r = run(resume(dir, 2, "--resume-or-start"));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--resume-or-start and --resume together"), r.err());
    }

    /**
     * --resume-or-start on a directory whose run was killed after writing metrics.jsonl but before its first checkpoint
     * (a pod killed during its first checkpoint write, which follows epoch 1's metrics line; SIGKILL after epoch 1 of a
     * --checkpoint-every 2e run): there is nothing to resume. It was a usage error (exit 2) saying to move or delete the
     * directory, so a restarted pod failed the same way on every restart and never trained again. Now, under
     * --resume-or-start only, the files of that run (nothing of which a resume could use) are moved into
     * DIR/abandoned-<UTC time>/, never deleted, with one line saying so and why, and the run starts. Plain train keeps
     * refusing such a directory, and a directory whose run wrote its model/ (trained weights, no checkpoint) is still
     * refused: that is work a new run would redo.
     */
    /**
     * --resume-or-start checks for a checkpoint before it takes the run directory's lock: a run still training there
     * that completes its first checkpoint and exits between the check and the lock (a pod restarted while the old one
     * was ending) had its files, that checkpoint among them, moved into abandoned-TIME/ and a new run started over its
     * training. The check is made again under the lock (TrainRun.beforeAsideLock stands for the other run, at exactly that
     * moment): the command is refused, nothing is moved, and the same command then resumes that checkpoint.
     */
    @Test
    void resumeOrStartChecksAgainUnderTheLockBeforeMovingARunAside(@TempDir Path tmp) throws IOException {
        Path other = tmp.resolve("other"), dir = Files.createDirectories(tmp.resolve("pod"));
        ok(train(other, "mlp", 1, "--max-steps", "2", "--checkpoint-every", "2s"));
        Path done = Checkpoint.latest(other.resolve("checkpoints")).orElseThrow();
        Files.writeString(dir.resolve("metrics.jsonl"), "{\"epoch\":1,\"train_loss\":0.9}\n"); // its lines so far
        Files.createDirectories(dir.resolve("checkpoints/" + done.getFileName() + ".tmp")); // being written
        TrainRun.beforeAsideLock = () -> { // the other run finishes that checkpoint and exits
            try {
                Files.delete(dir.resolve("checkpoints/" + done.getFileName() + ".tmp"));
                Files.move(done, dir.resolve("checkpoints").resolve(done.getFileName()));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        CliTest.Result r;
        try {
            r = run(train(dir, "mlp", 2, "--max-steps", "3", "--checkpoint-every", "2s", "--resume-or-start"));
        } finally {
            TrainRun.beforeAsideLock = () -> {};
        }
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: error: --resume-or-start: " + dir + " now holds a checkpoint ("
                + dir.resolve("checkpoints").resolve(done.getFileName()) + "), written since this command looked; nothing was moved."
                + " Run the same command again to resume it"), r.err());
        assertFalse(r.err().contains("moved its files"), r.err());
        assertEquals(List.of(RunOutput.LOCK, "checkpoints", "metrics.jsonl"), names(dir), "nothing moved aside (the lock file stays, as after any run)");
        loadsCleanly(dir.resolve("checkpoints").resolve(done.getFileName()));
        r = run(train(dir, "mlp", 2, "--max-steps", "3", "--checkpoint-every", "2s", "--resume-or-start"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("holds a checkpoint; resuming the run"), r.err());
        assertTrue(r.err().contains("dl-train: resuming from " + dir.resolve("checkpoints").resolve(done.getFileName())), r.err());
    }

    @Test
    void resumeOrStartOnARunKilledBeforeItsFirstCheckpointMovesItAsideAndStarts(@TempDir Path tmp) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("pod"));
        String epoch1 = "{\"epoch\":1,\"train_loss\":0.9}\n";
        Files.writeString(dir.resolve("metrics.jsonl"), epoch1);  // epoch 1 of 2 done, no checkpoint
        Files.writeString(dir.resolve("curves.png"), "png");
        Files.createDirectories(dir.resolve("checkpoints/ckpt-15.tmp"));          // the first checkpoint, cut short by the kill
        Files.writeString(dir.resolve("checkpoints/ckpt-15.tmp/model.safetensors"), "part");
        Files.writeString(dir.resolve("notes.txt"), "the operator's");             // not a run file: stays where it is
        // plain train: refused as before, nothing moved
        CliTest.Result plain = run(train(dir, "mlp", 2, "--checkpoint-every", "2e", "--max-steps", "1"));
        assertEquals(2, plain.code(), plain.err() + plain.out());
        assertTrue(plain.err().contains("--out " + dir + " already holds a run (metrics.jsonl)"), plain.err());
        assertEquals(List.of("checkpoints", "curves.png", "metrics.jsonl", "notes.txt"), names(dir));
        // --resume-or-start: the killed run's files go aside, the run starts
        CliTest.Result r = run(train(dir, "mlp", 2, "--checkpoint-every", "2e", "--max-steps", "1", "--resume-or-start"));
        assertEquals(0, r.code(), r.err() + r.out());
        List<String> top = names(dir);
        List<String> aside = top.stream().filter(n -> n.startsWith("abandoned-")).toList();
        assertEquals(1, aside.size(), top.toString());
        assertTrue(aside.getFirst().matches("abandoned-\\d{8}T\\d{6}Z"), aside.getFirst());
        Path moved = dir.resolve(aside.getFirst());
        assertEquals(List.of("checkpoints", "curves.png", "metrics.jsonl"), names(moved));
        assertEquals(epoch1, Files.readString(moved.resolve("metrics.jsonl")), "moved, not rewritten");
        assertEquals("part", Files.readString(moved.resolve("checkpoints/ckpt-15.tmp/model.safetensors")));
        assertEquals("the operator's", Files.readString(dir.resolve("notes.txt")));
        assertTrue(r.err().contains("dl-train: --resume-or-start: " + dir + " holds a run that stopped before its first checkpoint"
                + " (metrics.jsonl, curves.png, checkpoints/), so there is nothing to resume: moved its files to " + moved
                + " and starting the run"), r.err());
        assertFalse(r.err().contains("no checkpoint in " + dir + "; starting the run"), "one line, not two: " + r.err());
        assertTrue(Checkpoint.latest(dir.resolve("checkpoints")).isPresent(), "the new run's checkpoint: " + names(dir.resolve("checkpoints")));
        // the same command again now resumes the new run
        r = run(train(dir, "mlp", 2, "--checkpoint-every", "2e", "--max-steps", "2", "--resume-or-start"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("holds a checkpoint; resuming the run"), r.err());
        // a run that wrote its model/ but kept no checkpoint (--checkpoint-every off, killed before summary.json): refused
        Path done = Files.createDirectories(tmp.resolve("done/model"));
        Files.writeString(done.resolveSibling("metrics.jsonl"), epoch1);
        r = run(train(done.getParent(), "mlp", 2, "--checkpoint-every", "off", "--resume-or-start"));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().startsWith("dl-train: error: --resume-or-start: " + done.getParent() + " holds a run (its metrics.jsonl and"
                + " model/) with no checkpoint to resume"), r.err());
        assertEquals(List.of("metrics.jsonl", "model"), names(done.getParent()), "nothing moved");
        // one whose summary.json cannot be read (with its metrics.jsonl, which is found first): refused too, nothing moved
        Path torn = Files.createDirectories(tmp.resolve("torn"));
        Files.writeString(torn.resolve("metrics.jsonl"), epoch1);
        Files.writeString(torn.resolve("summary.json"), "{\"epo");
        r = run(train(torn, "mlp", 2, "--checkpoint-every", "2e", "--resume-or-start"));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().startsWith("dl-train: error: --resume-or-start: " + torn + " holds a run (its metrics.jsonl and summary.json)"
                + " with no checkpoint to resume"), r.err());
        assertEquals(List.of("metrics.jsonl", "summary.json"), names(torn), "nothing moved");
    }

    @Test
    void resumingAtAnEpochBoundaryIsBitIdentical(@TempDir Path tmp) throws IOException {
        // A 1-epoch run extended to 2: the schedule must not depend on the total (cosine's does), so step decay.
        Path whole = tmp.resolve("whole"), parts = tmp.resolve("parts");
        ok(train(whole, "mlp", 2, "--schedule", "step:1:0.5"));
        ok(train(parts, "mlp", 1, "--schedule", "step:1:0.5"));
        List<String> written = Files.readAllLines(parts.resolve("metrics.jsonl"));
        assertEquals(1, written.size());
        // as if epoch 1's line could not be written (a full disk: the trainer checkpoints the epoch and ends): the
        // resume writes it from the checkpoint's history, the same line
        Files.writeString(parts.resolve("metrics.jsonl"), "");
        ok(resume(parts, 2));
        assertEquals(written.getFirst(), Files.readAllLines(parts.resolve("metrics.jsonl")).getFirst(), "epoch 1's line, from the checkpoint");
        assertSameRun(whole, parts, 2);
        // summary.json's loader counts this process's loading, from the step it resumed at; the data wait is every epoch's
        JsonNode loader = JSON.readTree(parts.resolve("summary.json").toFile()).get("loader");
        assertEquals(15, loader.get("this_process_from_step").asLong(), loader.toString());
        assertEquals(1800, loader.get("samples_loaded").asLong(), loader.toString());
        double wait = 0;
        for (String l : Files.readAllLines(parts.resolve("metrics.jsonl"))) wait += JSON.readTree(l).get("data_wait_seconds").asDouble();
        assertEquals(wait, loader.get("data_wait_seconds").asDouble(), 1e-9, loader.toString());
        // default policy: a checkpoint per epoch (15 steps each), the last 3 kept, and the best by validation loss
        assertEquals(List.of("best", "ckpt-15", "ckpt-30"), names(parts.resolve("checkpoints")));
        assertEquals(1, names(parts.resolve("checkpoints/best")).size());
        TrainingState last = Checkpoint.readState(parts.resolve("checkpoints/ckpt-30"));
        assertEquals(2, last.epoch());
        assertEquals(30, last.step());
        assertEquals("mlp", last.model());

        // A 2-epoch cosine run stopped at the boundary (after epoch 1's 15 steps) and resumed.
        Path cosWhole = tmp.resolve("cos-whole"), cosParts = tmp.resolve("cos-parts");
        ok(train(cosWhole, "mlp", 2));
        ok(train(cosParts, "mlp", 2, "--max-steps", "15"));
        assertEquals(1, Files.readAllLines(cosParts.resolve("metrics.jsonl")).size());
        ok(resume(cosParts, 2));
        assertSameRun(cosWhole, cosParts, 2);
    }

    /**
     * metrics.jsonl that cannot be written at epoch 1's end (here a link into a directory that does not exist; on a real
     * machine a full disk): the run ends with exit 1 and says so in the CLI's own words, with the checkpoint it wrote
     * of that epoch and the --resume to run; once the file can be written, the resume writes epoch 1's line from the
     * checkpoint and the run ends as an uninterrupted one. Without checkpoints the message names --checkpoint-every
     * off, not the trainer's "checkpoint policy" or "training listener".
     */
    @Test
    void metricsThatCannotBeWrittenEndTheRunWithACheckpointToResumeFrom(@TempDir Path tmp) throws IOException {
        Path whole = tmp.resolve("whole"), parts = tmp.resolve("parts"), off = tmp.resolve("off");
        ok(train(whole, "mlp", 2, "--checkpoint-every", "2e"));
        Files.createDirectories(parts);
        Files.createSymbolicLink(parts.resolve("metrics.jsonl"), tmp.resolve("missing/metrics.jsonl"));
        CliTest.Result r = run(train(parts, "mlp", 2, "--checkpoint-every", "2e"));
        assertEquals(1, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: error: cannot write " + parts.resolve("metrics.jsonl") + ": no such file or directory;"
                + " the training so far is checkpointed in " + parts.resolve("checkpoints/ckpt-15").toAbsolutePath()
                + ": fix the cause and continue with --resume " + parts), r.err());
        Files.delete(parts.resolve("metrics.jsonl"));
        ok(resume(parts, 2));
        assertSameRun(whole, parts, 2);

        Files.createDirectories(off);
        Files.createSymbolicLink(off.resolve("metrics.jsonl"), tmp.resolve("missing/metrics.jsonl"));
        r = run(train(off, "mlp", 2, "--checkpoint-every", "off"));
        assertEquals(1, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: error: cannot write " + off.resolve("metrics.jsonl") + ": no such file or directory;"
                + " nothing is checkpointed (--checkpoint-every off)"), r.err());
    }

    /**
     * A checkpoint that cannot be written (ENOSPC on a filled 2 MiB tmpfs under a live lenet5 run; here ckpt-10 is a
     * link to a missing directory, which its rename fails on) ends the run with exit 1 naming the file and why, and
     * leaves the earlier checkpoint as it was; the message said only "the earlier checkpoints in DIR are intact ... Check
     * free disk space and permissions", not which checkpoint the run is at nor how to go on, where README promises the
     * message says what is saved and how to continue. It now names the latest checkpoint and the --resume command, and
     * that resume goes on from it once the cause is gone.
     */
    @Test
    void aCheckpointThatCannotBeWrittenNamesTheLastGoodOneAndTheResume(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints");
        ok(train(dir, "mlp", 1, "--checkpoint-every", "5s", "--max-steps", "5"));
        Path good = ck.resolve("ckpt-5");
        byte[] weights = Files.readAllBytes(good.resolve("model.safetensors"));
        Files.createSymbolicLink(ck.resolve("ckpt-10"), tmp.resolve("missing"));
        CliTest.Result r = run(resume(dir, 1, "--max-steps", "12"));
        assertEquals(1, r.code(), r.err() + r.out());
        String error = r.err().substring(Math.max(0, r.err().indexOf("dl-train: error: "))); // after the run's header, also on stderr
        assertTrue(error.startsWith("dl-train: error: could not save checkpoint " + ck.resolve("ckpt-10").toAbsolutePath()), r.err());
        assertTrue(r.err().contains("; the run's latest checkpoint is " + good.toAbsolutePath() + " (step 5), which this failure left"
                + " as it was: once the cause is fixed (free space, a writable " + ck + "), continue with --resume " + dir
                + " (or run the same command with --resume-or-start)"), r.err());
        assertTrue(java.util.Arrays.equals(weights, Files.readAllBytes(good.resolve("model.safetensors"))), "the last good checkpoint changed");
        Files.delete(ck.resolve("ckpt-10"));
        r = run(resume(dir, 1, "--max-steps", "12"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: resuming from " + good.toAbsolutePath()), r.err());
        assertTrue(r.err().contains("stopped after --max-steps 12"), r.err());
    }

    /**
     * A run started (or restarted by its pod) on a volume without room for its checkpoints trained until its first
     * checkpoint that did not fit, hours later on a large model, and only then said so (exit 1); restarted with
     * --resume-or-start on the still-full volume it trained up to that checkpoint again and failed again (found on a
     * 2 MiB tmpfs under lenet5). The run now warns at its start: resumed, when the next checkpoint (the size of its
     * latest) does not fit; new, when --keep checkpoints, the best and the one being written do not fit even at the
     * size of the weights alone.
     */
    @Test
    void aVolumeTooSmallForTheCheckpointsIsSaidAtTheStart(@TempDir Path tmp) {
        Path dir = Path.of("/out/run");
        assertEquals("/out/run's file system has 48 KiB free, and a checkpoint of this run takes 496 KiB: the next one will not fit,"
                + " and the run will stop with exit 1 when it is due, the checkpoints before it intact. Free space before then (or now,"
                + " and run again)", TrainRun.spaceWarning(48 << 10, dir, 496 << 10, true, 3));
        assertEquals(null, TrainRun.spaceWarning(496 << 10, dir, 496 << 10, true, 3), "exactly room for the next one");
        // new: 5 x 240 KiB of weights (--keep 3, the best, the one being written) = 1.2 MiB at least
        assertEquals("/out/run's file system has 1.0 MiB free, and the run's checkpoints need more than 1.2 MiB (--keep 3, the best and"
                + " the one being written, each more than the 240 KiB of the weights): the run will stop with exit 1 at the first"
                + " checkpoint that does not fit, the ones before it intact. Free space, or give --out a larger volume",
                TrainRun.spaceWarning(1 << 20, dir, 240 << 10, false, 3));
        assertEquals(null, TrainRun.spaceWarning(5 * (240 << 10), dir, 240 << 10, false, 3));
        assertEquals(null, TrainRun.spaceWarning(3 * (240 << 10), dir, 240 << 10, false, 1), "--keep 1: 3 at a time");
        // the file system's own figure: this temporary directory has room for a small model's checkpoints
        assertEquals(null, TrainRun.spaceWarning(tmp, null, 1000, 3));
        assertEquals("2.5 MiB", TrainRun.bytes(5 << 19));
        assertEquals("1.5 GiB", TrainRun.bytes(3L << 29));
    }

    /**
     * model/ or summary.json that cannot be written at the end (a full disk: found by filling a tmpfs under a live run)
     * ends the run with exit 1 and says what the resume does, as a metrics.jsonl that cannot be written does; no part
     * of summary.json is left (on a full disk it would hold space the resume needs). Before, the error was only
     * "cannot write DIR/summary.json: DIR/summary.json.tmp: Operation not permitted", and a partial summary.json.tmp stayed.
     */
    @Test
    void aModelOrSummaryThatCannotBeWrittenSaysTheResumeWritesIt(@TempDir Path tmp) throws IOException {
        Path whole = tmp.resolve("whole"), parts = tmp.resolve("parts"), noModel = tmp.resolve("no-model");
        ok(train(whole, "mlp", 1));
        Files.createDirectories(parts);
        Path blocked = parts.resolve("summary.json.tmp");
        Files.createSymbolicLink(blocked, tmp.resolve("missing/summary.json.tmp"));
        CliTest.Result r = run(train(parts, "mlp", 1));
        assertEquals(1, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: error: cannot write " + parts.resolve("summary.json") + ": no such file or directory;"
                + " the training is complete (its model is in " + parts.resolve("model") + ", and checkpointed in "
                + parts.resolve("checkpoints/ckpt-15").toAbsolutePath() + "): once the cause is fixed, --resume " + parts
                + " evaluates it and writes summary.json"), r.err());
        assertFalse(Files.exists(blocked, java.nio.file.LinkOption.NOFOLLOW_LINKS), "what was written of summary.json is deleted");
        ok(resume(parts, 1));
        assertSameRun(whole, parts, 1);

        Files.createDirectories(noModel);
        Files.createSymbolicLink(noModel.resolve("model"), tmp.resolve("missing/model"));
        r = run(train(noModel, "mlp", 1));
        assertEquals(1, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("; the training is complete and checkpointed in " + noModel.resolve("checkpoints/ckpt-15").toAbsolutePath()
                + ": once the cause is fixed, --resume " + noModel + " writes model/ and summary.json"), r.err());
        Files.delete(noModel.resolve("model"));
        ok(resume(noModel, 1));
        assertSameRun(whole, noModel, 1);

        // model.safetensors itself (AtomicFiles' CheckpointException, what a full disk gives): the same advice. It ended
        // with AtomicFiles' message alone, found filling a tmpfs under a live run; here a directory stands in its place
        Path noWeights = tmp.resolve("no-weights"), blocker = noWeights.resolve("model/model.safetensors");
        Files.createDirectories(blocker.resolve("x"));
        r = run(train(noWeights, "mlp", 1));
        assertEquals(1, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: error: cannot write the final model to " + noWeights.resolve("model") + ": could not write "
                + blocker.toAbsolutePath()) && r.err().contains("; the training is complete and checkpointed in "
                + noWeights.resolve("checkpoints/ckpt-15").toAbsolutePath() + ": once the cause is fixed, --resume " + noWeights
                + " writes model/ and summary.json"), r.err());
        Files.delete(blocker.resolve("x"));
        Files.delete(blocker);
        ok(resume(noWeights, 1));
        assertSameRun(whole, noWeights, 1);
    }

    @Test
    void resumingInTheMiddleOfAnEpochIsBitIdentical(@TempDir Path tmp) throws IOException {
        Path whole = tmp.resolve("whole"), parts = tmp.resolve("parts");
        ok(train(whole, "lenet5", 2, "--checkpoint-every", "4s", "--keep", "2"));
        ok(train(parts, "lenet5", 2, "--checkpoint-every", "4s", "--keep", "2", "--max-steps", "6")); // epoch 1, step 6 of 15
        assertTrue(!Files.exists(parts.resolve("metrics.jsonl")) || Files.readAllLines(parts.resolve("metrics.jsonl")).isEmpty());
        assertEquals(List.of("ckpt-4", "ckpt-6"), names(parts.resolve("checkpoints")));
        ok(resume(parts, 2, "--max-steps", "22")); // through the end of epoch 1 into epoch 2 (step 7 of it)
        assertEquals(1, Files.readAllLines(parts.resolve("metrics.jsonl")).size());
        // what a kill during a write of model/ leaves: the final write deletes it
        Path stray = Files.createDirectories(parts.resolve("model")).resolve(".model.safetensors.k3x9q.tmp");
        Files.writeString(stray, "cut short");
        ok(resume(parts, 2));
        assertSameRun(whole, parts, 2);
        assertFalse(Files.exists(stray), "a stale temporary of model/ is left");
    }

    /**
     * A resume computed otherwise than the run so far (here another --threads: the thread count decides how sums are
     * split) continues it, with a notice that its results will differ from an uninterrupted run's and how to keep them
     * bit-identical; a resume on the same settings gets none. Each checkpoint records what computed it.
     */
    @Test
    void aResumeWithAnotherThreadCountSaysItsResultsWillDiffer(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 1, "--max-steps", "3", "--checkpoint-every", "1s", "--keep", "5"));
        Map<String, Object> saved = Checkpoint.readState(Checkpoint.latest(dir.resolve("checkpoints")).orElseThrow()).config();
        assertEquals("cpu", saved.get("device"));
        assertEquals(2, ((Number) saved.get("cpu_threads")).intValue());
        assertTrue(saved.get("gemm").toString().startsWith("OpenBLAS"), saved.toString());
        CliTest.Result same = run(resume(dir, 1, "--max-steps", "4"));
        assertEquals(0, same.code(), same.err() + same.out());
        assertFalse(same.err().contains("will differ"), same.err());
        CliTest.Result other = run("--resume", dir.toString(), "--data-dir", subset.toString(), "--threads", "1", "--progress", "none", "--max-steps", "5");
        assertEquals(0, other.code(), other.err() + other.out());
        assertTrue(other.err().contains("dl-train: notice: the run trained with 2 CPU threads and resumes with 1 (the thread count decides how"
                + " sums are split): the results will differ slightly from an uninterrupted run's; --threads 2 keeps them bit-identical\n"), other.err());
        assertEquals(1, ((Number) Checkpoint.readState(Checkpoint.latest(dir.resolve("checkpoints")).orElseThrow()).config().get("cpu_threads")).intValue(),
                "the checkpoint written by the resume records its own thread count");
        // the other two differences, which this machine cannot produce
        Map<String, Object> cpu = Map.of("device", "cpu", "cpu_threads", 2, "gemm", "OpenBLAS 0.3.31 Haswell");
        assertEquals(List.of("the run trained on cuda and resumes on cpu: the results will differ slightly from an uninterrupted run's"),
                TrainRun.resumeDrift(Map.of("device", "cuda"), cpu));
        assertEquals(List.of("the run computed its matrix products with OpenBLAS 0.3.31 Cooperlake and this process computes them with"
                + " OpenBLAS 0.3.31 Haswell: the results will differ slightly from an uninterrupted run's"),
                TrainRun.resumeDrift(Map.of("device", "cpu", "cpu_threads", 2, "gemm", "OpenBLAS 0.3.31 Cooperlake"), cpu));
        assertEquals(List.of(), TrainRun.resumeDrift(Map.of("seed", 42), cpu), "a checkpoint of an earlier dl-train records none of them");
        assertEquals("plain-Java GEMM", TrainRun.gemmKernels("plain-Java GEMM (OpenBLAS unavailable: UnsatisfiedLinkError: /tmp/javacpp123/libopenblas.so: ...)"),
                "why OpenBLAS could not load names this machine's paths, not what computes");
        assertEquals("OpenBLAS 0.3.31 Haswell", TrainRun.gemmKernels("OpenBLAS 0.3.31 Haswell"));
    }

    @Test
    void resumingWithoutEpochsFinishesTheRunsOwnTotalThenHasNothingToDo(@TempDir Path tmp) throws IOException {
        // A 3-epoch cosine run (its schedule depends on the total) stopped in epoch 2 and resumed without --epochs:
        // the run's own 3, not the option's default 10.
        Path whole = tmp.resolve("whole"), parts = tmp.resolve("parts");
        ok(train(whole, "mlp", 3));
        ok(train(parts, "mlp", 3, "--max-steps", "20"));
        // as if the first process had trained for 1000 s: the summary's total_seconds must include it
        Path stateFile = Checkpoint.latest(parts.resolve("checkpoints")).orElseThrow().resolve("state.json");
        var st = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(stateFile.toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) st.get("config").get("trainer_resume")).put("fit_seconds", 1000.0);
        JSON.writeValue(stateFile.toFile(), st);
        String[] again = {"--resume", parts.toString(), "--data-dir", subset.toString(), "--threads", "2", "--progress", "none"};
        ok(again);
        assertSameRun(whole, parts, 3);
        double total = JSON.readTree(parts.resolve("summary.json").toFile()).get("total_seconds").asDouble();
        assertTrue(total >= 1000 && total < 1000 + 600, "total_seconds counts both processes: " + total);

        // Complete: resuming again trains nothing and rewrites nothing.
        byte[] before = Files.readAllBytes(parts.resolve("summary.json"));
        List<String> checkpoints = names(parts.resolve("checkpoints"));
        CliTest.Result done = run(again);
        assertEquals(0, done.code(), done.err());
        assertTrue(done.err().contains("has done all of its 3 epochs; nothing to train"), done.err());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(parts.resolve("summary.json"))), "summary.json was rewritten");
        assertEquals(3, Files.readAllLines(parts.resolve("metrics.jsonl")).size());
        assertEquals(checkpoints, names(parts.resolve("checkpoints")));

        // A checkpoint that does not record the total (an earlier dl-train's): --epochs is asked for.
        Path state = Checkpoint.latest(parts.resolve("checkpoints")).orElseThrow().resolve("state.json");
        var tree = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(state.toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) tree.get("config")).remove("epochs");
        JSON.writeValue(state.toFile(), tree);
        CliTest.Result old = run(again);
        assertEquals(2, old.code(), old.err());
        assertTrue(old.err().contains("does not record the run's number of epochs") && old.err().contains("--epochs N"), old.err());
    }

    /**
     * A finished run extended with a larger --epochs and killed after its last epoch's checkpoint, before its summary:
     * summary.json is still the shorter run's. Resuming it is not "nothing to train": the model is evaluated and model/
     * and summary.json are written for the epochs done. An unreadable summary.json counts as stale too.
     */
    @Test
    void aStaleSummaryIsRewrittenOnResume(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 1));
        byte[] oneEpoch = Files.readAllBytes(dir.resolve("summary.json"));
        ok(resume(dir, 2));
        assertEquals(2, JSON.readTree(dir.resolve("summary.json").toFile()).get("epochs").asInt());
        Files.write(dir.resolve("summary.json"), oneEpoch); // as if killed -9 after epoch 2's checkpoint
        CliTest.Result r = run(resume(dir, 2));
        assertEquals(0, r.code(), r.err() + r.out());
        assertFalse(r.err().contains("nothing to train"), r.err());
        assertTrue(r.err().contains("dl-train: notice: " + dir.resolve("summary.json") + " is of 1 epoch, but the run has done 2"
                + " (it was stopped before writing its summary); evaluating the model and writing model/ and summary.json again"), r.err());
        assertTrue(r.out().contains("test: loss "), r.out());
        JsonNode summary = JSON.readTree(dir.resolve("summary.json").toFile());
        assertEquals(2, summary.get("epochs").asInt());
        assertEquals(2, summary.get("epochs_requested").asInt());
        assertEquals(2, Files.readAllLines(dir.resolve("metrics.jsonl")).size());

        Files.writeString(dir.resolve("summary.json"), "{\"epochs\": 2, \"test_"); // torn by something else than dl-train
        r = run(resume(dir, 2));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains(dir.resolve("summary.json") + " cannot be read (not JSON: "), r.err());
        assertEquals(2, JSON.readTree(dir.resolve("summary.json").toFile()).get("epochs").asInt());

        // now it is the run's: complete
        r = run(resume(dir, 2));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("has done all of its 2 epochs; nothing to train"), r.err());
    }

    /**
     * --epochs N on a checkpoint inside epoch N+1 would train nothing and write a summary of "N epochs" for weights
     * partly trained on epoch N+1: a usage error naming the checkpoint and the least --epochs that continues the run.
     */
    @Test
    void epochsThatEndBeforeAMidEpochCheckpointAreAUsageError(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 3, "--max-steps", "20")); // epoch 1's 15 steps and 5 of epoch 2
        Path ckpt = dir.resolve("checkpoints/ckpt-20").toAbsolutePath();
        assertEquals(1, Checkpoint.readState(ckpt).epoch());
        CliTest.Result r = run(resume(dir, 1));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--epochs 1: the run in " + dir + " is already 5 steps into epoch 2 (checkpoint " + ckpt
                + "); give --epochs 2 or more"), r.err());
        assertFalse(Files.exists(dir.resolve("summary.json")));
        assertFalse(Files.exists(dir.resolve("model")));
        ok(resume(dir, 2)); // the least that continues it
        assertEquals(2, JSON.readTree(dir.resolve("summary.json").toFile()).get("epochs").asInt());
    }

    @Test
    void checkpointSettingsCarryOverUnlessChanged(@TempDir Path tmp) throws IOException {
        // every 4 steps, keep 5, skip non-finite steps, the data's directory: a resume that gives none of these keeps them
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 2, "--checkpoint-every", "4s", "--keep", "5", "--skip-nonfinite", "--max-steps", "9"));
        assertEquals(List.of("ckpt-4", "ckpt-8", "ckpt-9"), names(dir.resolve("checkpoints")));
        ok(new String[] {"--resume", dir.toString(), "--threads", "2", "--progress", "none", "--max-steps", "25"});
        // every 4 steps (12, 16, 20, 24) and the stop at 25: the last 5 of all kept (the default would keep 3)
        assertEquals(List.of("best", "ckpt-12", "ckpt-16", "ckpt-20", "ckpt-24", "ckpt-25"), names(dir.resolve("checkpoints")));
        TrainingState st = Checkpoint.readState(dir.resolve("checkpoints/ckpt-25"));
        assertEquals(Boolean.TRUE, st.config().get("skip_nonfinite"));
        assertEquals(subset.toAbsolutePath().normalize().toString(), st.config().get("data_dir"));
        // changed on resume: given values win (the data moved)
        Path moved = Files.createDirectories(tmp.resolve("moved"));
        try (Stream<Path> files = Files.list(subset)) {
            for (Path f : files.toList()) Files.copy(f, moved.resolve(f.getFileName()));
        }
        ok(new String[] {"--resume", dir.toString(), "--data-dir", moved.toString(), "--threads", "2", "--progress", "none",
                "--keep", "1", "--checkpoint-every", "1e"});
        assertEquals(List.of("best", "ckpt-30"), names(dir.resolve("checkpoints")));
        assertEquals(moved.toAbsolutePath().normalize().toString(), Checkpoint.readState(dir.resolve("checkpoints/ckpt-30")).config().get("data_dir"));
    }

    /**
     * --data-dir may change on resume to where the data moved, not to other data: a resume onto a training set of
     * another size (another subset, or the bundled sample where the full set was) is a usage error naming both sizes,
     * before anything is written. It failed with exit 1 and "first batch must be in [0, 1], got 12" where the new set
     * had fewer batches than the epoch's step, and trained on silently where it had as many.
     */
    @Test
    void aResumeOnATrainingSetOfAnotherSizeIsAUsageError(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 2, "--max-steps", "12"));
        List<String> before = names(dir.resolve("checkpoints"));
        for (int n : new int[] {100, 1990}) { // fewer batches in an epoch than the 12 done; the same 15 batches
            Path other = CliTest.fashionSubset(tmp.resolve("other-" + n), n, 500);
            CliTest.Result r = run(new String[] {"--resume", dir.toString(), "--data-dir", other.toString(), "--threads", "2", "--progress", "none"});
            assertEquals(2, r.code(), r.err() + r.out());
            assertTrue(r.err().contains("training split of 2000 samples") && r.err().contains(other + " has " + n), r.err());
            assertEquals(before, names(dir.resolve("checkpoints")));
            assertFalse(Files.exists(dir.resolve("metrics.jsonl")));
        }
        ok(resume(dir, 2)); // the run's own data
    }

    /**
     * A resume checked its data by count only: --data-dir onto other samples of the same count (fashion-mnist's files
     * where mnist's were, both 60,000; here Fashion-MNIST's records 2 to 2001 for a run on 1 to 2000) trained on
     * silently, splitting, shuffling and validating other data under the run's name. Each checkpoint now records a
     * fingerprint of a few training samples (their values and labels); another one is a usage error naming both
     * directories, before anything is written, unless --allow-data-change says to go on (with a notice). The run's own
     * files moved elsewhere resume as before, and so does a checkpoint that records no fingerprint (an earlier one).
     */
    @Test
    void aResumeOnOtherSamplesOfTheSameCountIsAUsageErrorUnlessAllowed(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 2, "--max-steps", "12"));
        List<String> before = names(dir.resolve("checkpoints"));
        Path other = Files.createDirectories(tmp.resolve("other"));
        for (String f : List.of("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")) fromRecord(1, 2000, f, other);
        for (String f : List.of("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")) fromRecord(0, 500, f, other);
        CliTest.Result r = run("--resume", dir.toString(), "--data-dir", other.toString(), "--threads", "2", "--progress", "none");
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("the run trained on fashion-mnist's training split in " + subset.toAbsolutePath().normalize())
                && r.err().contains("--data-dir " + other + " holds other samples of the same count (2000;")
                && r.err().contains("--allow-data-change"), r.err());
        assertEquals(before, names(dir.resolve("checkpoints")), "nothing written");
        assertFalse(Files.exists(dir.resolve("metrics.jsonl")));

        Path moved = Files.createDirectories(tmp.resolve("moved"));
        try (Stream<Path> files = Files.list(subset)) {
            for (Path f : files.toList()) Files.copy(f, moved.resolve(f.getFileName()));
        }
        CliTest.Result same = run("--resume", dir.toString(), "--data-dir", moved.toString(), "--threads", "2", "--progress", "none", "--max-steps", "13");
        assertEquals(0, same.code(), "the run's own samples, moved: " + same.err() + same.out());
        assertFalse(same.err().contains("--allow-data-change"), same.err());

        CliTest.Result allowed = run("--resume", dir.toString(), "--data-dir", other.toString(), "--threads", "2", "--progress", "none",
                "--max-steps", "14", "--allow-data-change");
        assertEquals(0, allowed.code(), allowed.err() + allowed.out());
        assertTrue(allowed.err().contains("dl-train: notice: --allow-data-change: resuming on other samples than the run trained on"), allowed.err());

        // a checkpoint written before fingerprints were recorded resumes on any data of its count, as before
        Path latest = Checkpoint.latest(dir.resolve("checkpoints")).orElseThrow();
        var state = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(latest.resolve(Checkpoint.STATE_FILE).toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) state.get("config")).remove(DataFingerprint.KEY);
        JSON.writeValue(latest.resolve(Checkpoint.STATE_FILE).toFile(), state);
        CliTest.Result older = run("--resume", dir.toString(), "--data-dir", subset.toString(), "--threads", "2", "--progress", "none", "--max-steps", "15");
        assertEquals(0, older.code(), older.err() + older.out());
        assertFalse(older.err().contains("--allow-data-change"), older.err());
    }

    /**
     * The data fingerprint must never refuse a run's own data, whose samples a dataset may draw at random: synthetic
     * data with options, and an image folder with a training augmentation (random resized crop and flip, drawn from
     * (seed, epoch, index)). A run checkpointed after 2 steps resumes on the same data with --resume,
     * and again, from step 4 in its second epoch, with --resume-or-start, without a word about other samples. (imagefolder's other
     * augmentations, csv, cifar10 and fashion-mnist passed the same check; they were left out to keep the test short.)
     */
    @Test
    void aResumeOnTheRunsOwnRandomlyDrawnSamplesIsAccepted(@TempDir Path tmp) throws IOException {
        Path tree = PredictImageFolderTest.tree(tmp.resolve("tree"));
        for (String data : List.of("synthetic:1x6x6,classes=3,train=12,test=4,seed=4,noise=0.5", "imagefolder:size=16,augment=rrc,seed=3")) {
            Path out = tmp.resolve("run-" + data.hashCode());
            String[] dir = data.startsWith("imagefolder") ? new String[] {"--data-dir", tree.toString()} : new String[0];
            String[] a = CliTest.concat(dir, "--model", "mlp", "--data", data, "--epochs", "3", "--batch-size", "4",
                    "--threads", "2", "--progress", "none", "--checkpoint-every", "1s", "--out", out.toString());
            CliTest.Result r = run(CliTest.concat(a, "--max-steps", "2"));
            assertEquals(0, r.code(), data + ": " + r.err() + r.out());
            r = run(CliTest.concat(dir, "--resume", out.toString(), "--threads", "2", "--progress", "none", "--max-steps", "4"));
            assertEquals(0, r.code(), data + ", --resume: " + r.err() + r.out());
            assertFalse((r.out() + r.err()).contains("other samples"), data + ": " + r.err());
            r = run(CliTest.concat(a, "--resume-or-start", "--max-steps", "5"));
            assertEquals(0, r.code(), data + ", --resume-or-start: " + r.err() + r.out());
            assertTrue(r.err().contains("holds a checkpoint; resuming the run"), data + ": " + r.err());
            assertEquals(5, Checkpoint.readState(Checkpoint.latest(out.resolve("checkpoints")).orElseThrow()).step(), data);
        }
    }

    /** Records from..from+n-1 of the installed (or bundled) Fashion-MNIST IDX file, written to dir as a file of n records. */
    static void fromRecord(int from, int n, String file, Path dir) throws IOException {
        try (java.io.DataInputStream in = new java.io.DataInputStream(new java.util.zip.GZIPInputStream(CliTest.source(file)));
             java.io.DataOutputStream out = new java.io.DataOutputStream(new java.util.zip.GZIPOutputStream(Files.newOutputStream(dir.resolve(file))))) {
            int magic = in.readInt();
            int[] shape = new int[magic & 0xff];
            for (int i = 0; i < shape.length; i++) shape[i] = in.readInt();
            int per = 1;
            for (int i = 1; i < shape.length; i++) per *= shape[i];
            out.writeInt(magic);
            out.writeInt(n);
            for (int i = 1; i < shape.length; i++) out.writeInt(shape[i]);
            in.skipNBytes((long) from * per);
            out.write(in.readNBytes(n * per));
        }
    }

    /**
     * --resume takes the run directory; given one of its checkpoints (as eval and predict take them) or its
     * checkpoints/ folder, it said "no checkpoint in DIR/checkpoints (was it written by dl-train with checkpoints on?)"
     * of what is a checkpoint, and left a .lock file in it. The usage error now names the run directory to give, and
     * only a directory with a checkpoints/ folder is locked.
     */
    @Test
    void aResumeGivenACheckpointOfTheRunNamesTheRunDirectory(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 2, "--max-steps", "5"));
        for (Path wrong : List.of(dir.resolve("checkpoints/ckpt-5"), dir.resolve("checkpoints"))) {
            CliTest.Result r = run(new String[] {"--resume", wrong.toString(), "--threads", "2", "--progress", "none"});
            assertEquals(2, r.code(), r.err() + r.out());
            assertTrue(r.err().contains("--resume " + wrong + ": ") && r.err().contains("the run directory") && r.err().contains("--resume " + dir),
                    r.err());
            assertFalse(Files.exists(wrong.resolve(".lock")), "a lock file left in " + wrong);
        }
        ok(resume(dir, 2, "--max-steps", "6"));
    }

    /**
     * A checkpoint directory with a file missing is passed over by --resume, which then takes an older one: it says
     * which it skipped and which it uses. Without any complete checkpoint, the usage error names the incomplete ones.
     */
    @Test
    void anIncompleteCheckpointIsSkippedWithANotice(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints").toAbsolutePath();
        ok(train(dir, "mlp", 2, "--checkpoint-every", "4s", "--keep", "5", "--max-steps", "9"));
        assertEquals(List.of("ckpt-4", "ckpt-8", "ckpt-9"), names(ck));
        Files.delete(ck.resolve("ckpt-9/state.json"));
        CliTest.Result r = run(resume(dir, 2, "--max-steps", "10"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: notice: skipping the incomplete checkpoint " + ck.resolve("ckpt-9") + " (no state.json);"
                + " resuming from " + ck.resolve("ckpt-8") + ", the latest complete checkpoint\n"), r.err());
        assertEquals(1, r.err().lines().filter(l -> l.contains("incomplete")).count(), r.err());
        assertTrue(r.err().contains("dl-train: resuming from " + ck.resolve("ckpt-8") + " "), r.err());
        assertEquals(List.of("ckpt-10", "ckpt-4", "ckpt-8", "ckpt-9"), names(ck));

        // nothing complete left: the usage error says what is missing where
        for (String c : List.of("ckpt-4", "ckpt-8", "ckpt-10")) Files.delete(ck.resolve(c).resolve("model.safetensors"));
        Files.delete(ck.resolve("ckpt-10/state.json"));
        r = run(resume(dir, 2));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--resume " + dir + ": no checkpoint in " + dir.resolve("checkpoints") + ": the incomplete checkpoints "
                + ck.resolve("ckpt-4") + " (no model.safetensors), " + ck.resolve("ckpt-8") + " (no model.safetensors), " + ck.resolve("ckpt-9")
                + " (no state.json), " + ck.resolve("ckpt-10") + " (no state.json or model.safetensors); restore the missing files, or start a new"
                + " run in another directory"), r.err());
    }

    /**
     * --init-from, eval and predict take a run's latest complete checkpoint, as --resume does, and say as it does which
     * incomplete checkpoint they skipped and which they use; with none complete, their errors name the incomplete ones.
     */
    @Test
    void initFromEvalAndPredictNameTheIncompleteCheckpointsTheySkip(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints").toAbsolutePath();
        ok(train(dir, "mlp", 2, "--checkpoint-every", "4s", "--keep", "5", "--max-steps", "9"));
        Files.delete(ck.resolve("ckpt-9/state.json"));
        String skipping = "dl-train: notice: skipping the incomplete checkpoint " + ck.resolve("ckpt-9") + " (no state.json); ";
        String latest = ck.resolve("ckpt-8") + ", the latest complete checkpoint\n";
        CliTest.Result r = run(train(tmp.resolve("init"), "mlp", 1, "--init-from", dir.toString(), "--max-steps", "1"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains(skipping + "initialising from " + latest), r.err());
        assertTrue(r.err().contains("dl-train: init from " + ck.resolve("ckpt-8/model.safetensors") + ": "), r.err());
        r = run("eval", "--checkpoint", dir.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(), "--threads", "2",
                "--out", tmp.resolve("eval").toString());
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains(skipping + "using " + latest), r.err());
        r = run("predict", "--checkpoint", dir.toString(), "--threads", "2", subset.resolve("t10k-images-idx3-ubyte.gz").toString());
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains(skipping + "using " + latest), r.err());

        // nothing complete left: the errors say what is missing where
        for (String c : List.of("ckpt-4", "ckpt-8")) Files.delete(ck.resolve(c).resolve("model.safetensors"));
        String all = "the incomplete checkpoints " + ck.resolve("ckpt-4") + " (no model.safetensors), " + ck.resolve("ckpt-8")
                + " (no model.safetensors), " + ck.resolve("ckpt-9") + " (no state.json)";
        r = run(train(tmp.resolve("init2"), "mlp", 1, "--init-from", dir.toString()));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--init-from " + dir + ": no model.safetensors in it or in " + dir.resolve("model")
                + ", and no complete checkpoint under " + dir.resolve("checkpoints") + ": " + all + "; restore the missing files,"
                + " or name a model file itself"), r.err());
        r = run("eval", "--checkpoint", dir.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString());
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains(" or checkpoints/ckpt-<step>/ but found only " + all + "; restore the missing files, or give another"
                + " --checkpoint"), r.err());
    }

    /** Extending a finished cosine run re-plans its schedule over the new total: a notice says so; a step schedule gets none. */
    @Test
    void extendingACosineRunSaysTheScheduleIsReplanned(@TempDir Path tmp) {
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 1));
        CliTest.Result r = run(resume(dir, 2));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: notice: --epochs 2 changes the run's total from 1, and its cosine schedule spans the total"),
                r.err());
        Path step = tmp.resolve("step");
        ok(train(step, "mlp", 1, "--schedule", "step:1:0.5"));
        CliTest.Result s = run(resume(step, 2));
        assertEquals(0, s.code(), s.err() + s.out());
        assertFalse(s.err().contains("changes the run's total"), s.err());
    }

    /** A latest checkpoint whose model file is cut short is a usage error that says how to go on from the one before. */
    @Test
    void aDamagedLatestCheckpointSaysHowToResumeFromTheOneBefore(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints").toAbsolutePath();
        ok(train(dir, "mlp", 2, "--checkpoint-every", "4s", "--keep", "5", "--max-steps", "9"));
        Path model = ck.resolve("ckpt-9/model.safetensors");
        byte[] bytes = Files.readAllBytes(model);
        Files.write(model, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        CliTest.Result r = run(resume(dir, 2, "--max-steps", "10"));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--resume " + dir + ": its latest checkpoint " + ck.resolve("ckpt-9") + " cannot be loaded: ")
                && r.err().contains("move ckpt-9 out of " + ck), r.err());
        Files.move(ck.resolve("ckpt-9"), ck.resolve("ckpt-9.damaged"));   // as the message says
        CliTest.Result again = run(resume(dir, 2, "--max-steps", "10"));
        assertEquals(0, again.code(), again.err() + again.out());
        assertTrue(again.err().contains("dl-train: resuming from " + ck.resolve("ckpt-8") + " "), again.err());
    }

    /**
     * A state.json that is JSON but holds a wrong-typed value (hand-edited, damaged) names the value: a string batch size
     * was picocli's "Could not set value for field int io.dltrain.cli.TrainOptions.batchSize to big", a number in the
     * history a ClassCastException's text; neither named the file's setting.
     */
    @Test
    void aWrongTypedValueInStateJsonIsNamed(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run"), state = dir.resolve("checkpoints/ckpt-9/state.json");
        ok(train(dir, "mlp", 2, "--checkpoint-every", "9s", "--max-steps", "9"));
        String good = Files.readString(state);
        String bigBatch = good.replaceFirst("\"batch_size\" : \\d+", "\"batch_size\" : \"big\""), numberInHistory =
                good.replaceFirst("\"history\" : \\[ \\]", "\"history\" : [ 1 ]");
        assertFalse(bigBatch.equals(good) || numberInHistory.equals(good), good);
        Files.writeString(state, bigBatch);
        CliTest.Result r = run(resume(dir, 2));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("state.json has \"batch_size\": big (--batch-size), which is not a number; the checkpoint is damaged"), r.err());
        Files.writeString(state, numberInHistory);
        r = run(resume(dir, 2));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("cannot be resumed: \"history\" in the checkpoint holds 1 where an epoch's metrics belong; nothing was changed"), r.err());
    }

    /**
     * A latest checkpoint whose state.json the trainer refuses (edited or damaged: here its epoch count, which no longer
     * agrees with its step) is a usage error that changes nothing. The resume used to rewrite metrics.jsonl from the
     * checkpoint first, keeping only the lines of the epochs the checkpoint claims, and then fail in the trainer (exit 1):
     * epoch 2's line was lost. Once that checkpoint is moved aside, as the message says, the run resumes from the one before.
     */
    @Test
    void aStateJsonTheTrainerRefusesChangesNothing(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints").toAbsolutePath(), metrics = dir.resolve("metrics.jsonl");
        ok(train(dir, "mlp", 3, "--max-steps", "30")); // 2 epochs of 15 steps: ckpt-15 and ckpt-30
        byte[] before = Files.readAllBytes(metrics);
        assertEquals(2, Files.readAllLines(metrics).size());
        Path state = ck.resolve("ckpt-30/state.json");
        String good = Files.readString(state), damaged = good.replaceFirst("\"epoch\" : 2,", "\"epoch\" : 1,");
        assertFalse(damaged.equals(good), good);
        Files.writeString(state, damaged);
        CliTest.Result r = run(resume(dir, 3));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--resume " + dir + ": its latest checkpoint " + ck.resolve("ckpt-30") + " cannot be resumed: the"
                + " checkpoint is at global step 30 (epoch 2, step 0 of it), which does not match 15 steps per epoch (a state.json that was"
                + " edited or damaged, or another batch size, validation fraction or data than the original run's); nothing was changed."
                + " To continue from the checkpoint before it, move ckpt-30 out of " + ck), r.err());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(metrics)), "metrics.jsonl was rewritten: " + Files.readAllLines(metrics));
        Files.move(ck.resolve("ckpt-30"), ck.resolve("ckpt-30.damaged")); // as the message says
        CliTest.Result again = run(resume(dir, 3));
        assertEquals(0, again.code(), again.err() + again.out());
        assertTrue(again.err().contains("dl-train: resuming from " + ck.resolve("ckpt-15") + " "), again.err());
        assertEquals(3, Files.readAllLines(metrics).size());
    }

    /** "resuming from" says the completed epochs, the steps into the next one and the total steps, in words that agree with them. */
    @Test
    void resumingSaysHowFarTheRunHasGot(@TempDir Path tmp) {
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints").toAbsolutePath();
        ok(train(dir, "mlp", 3, "--max-steps", "1"));
        CliTest.Result r = run(resume(dir, 3, "--max-steps", "15"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: resuming from " + ck.resolve("ckpt-1") + " (1 step of epoch 1 done, 1 step in total)\n"), r.err());
        r = run(resume(dir, 3, "--max-steps", "16"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: resuming from " + ck.resolve("ckpt-15") + " (1 epoch done, 15 steps in total)\n"), r.err());
        r = run(resume(dir, 3, "--max-steps", "18"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: resuming from " + ck.resolve("ckpt-16") + " (1 epoch and 1 step of epoch 2 done, 16 steps in total)\n"), r.err());
        r = run(resume(dir, 3, "--max-steps", "31"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: resuming from " + ck.resolve("ckpt-18") + " (1 epoch and 3 steps of epoch 2 done, 18 steps in total)\n"), r.err());
        r = run(resume(dir, 1));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--epochs 1 is fewer than the 2 epochs the resumed run has done"), r.err());
    }

    @Test
    void aRunThatStoppedEarlyIsCompleteWhenResumed(@TempDir Path tmp) throws IOException {
        // lr 0: the validation loss never improves after epoch 1, so patience 1 stops after epoch 2 of 5
        Path dir = tmp.resolve("early");
        ok(train(dir, "mlp", 5, "--lr", "0", "--patience", "1"));
        assertEquals(2, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
        assertTrue(JSON.readTree(dir.resolve("summary.json").toFile()).get("stopped_early").asBoolean());
        CliTest.Result r = run("--resume", dir.toString(), "--data-dir", subset.toString(), "--threads", "2", "--progress", "none");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("stopped early after epoch 2 (the validation loss did not improve for 1 epoch); nothing to train")
                && r.err().contains("--init-from " + dir), r.err());
        assertEquals(2, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
    }

    /**
     * A run stopped before its first epoch ended leaves checkpoints and no metrics.jsonl: a new run into its directory is
     * a usage error (it would mix its checkpoints with the older run's, and --resume would pick the highest step of
     * either), which names the checkpoint and the resume command, and changes nothing there.
     */
    @Test
    void aNewRunIntoTheDirectoryOfAnInterruptedRunIsAUsageError(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run");
        ok(train(dir, "mlp", 3, "--seed", "7", "--lr", "0.01", "--max-steps", "5")); // 5 of epoch 1's 15 steps
        assertFalse(Files.exists(dir.resolve("metrics.jsonl")));
        assertEquals(List.of("ckpt-5"), names(dir.resolve("checkpoints")));
        CliTest.Result r = run(train(dir, "mlp", 2, "--lr", "0.05"));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--out " + dir + " holds an interrupted run (checkpoint " + dir.resolve("checkpoints/ckpt-5").toAbsolutePath()
                + "); continue it with --resume " + dir + ", choose a new directory, or delete that one to reuse it"), r.err());
        assertEquals(List.of("ckpt-5"), names(dir.resolve("checkpoints")));
        assertFalse(Files.exists(dir.resolve("metrics.jsonl")));
        // the interrupted run is still the one a resume continues: its own settings
        ok(resume(dir, 3, "--max-steps", "6"));
        TrainingState st = Checkpoint.readState(dir.resolve("checkpoints/ckpt-6"));
        assertEquals(0.01, ((Number) st.config().get("lr")).doubleValue());
        assertEquals(7, ((Number) st.config().get("seed")).longValue());
    }

    /**
     * A directory whose checkpoints/ holds only incomplete checkpoints (a file missing) of an interrupted run is refused
     * as one with complete checkpoints is: a new run would mix its checkpoints with them. The error names each, says it
     * is incomplete and what to do; once they are deleted, as it says, the new run goes ahead.
     */
    @Test
    void aNewRunIntoADirectoryOfIncompleteCheckpointsIsAUsageError(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints").toAbsolutePath();
        ok(train(dir, "mlp", 3, "--max-steps", "5"));
        assertEquals(List.of("ckpt-5"), names(ck));
        Files.delete(ck.resolve("ckpt-5/model.safetensors"));
        CliTest.Result r = run(train(dir, "mlp", 1, "--max-steps", "1"));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("--out " + dir + " holds the incomplete checkpoint " + ck.resolve("ckpt-5") + " (no model.safetensors)"
                + " of an interrupted run, which cannot be resumed; delete it to reuse the directory, or choose a new directory"), r.err());
        assertEquals(List.of("ckpt-5"), names(ck));
        assertFalse(Files.exists(dir.resolve("metrics.jsonl")));
        Files.createDirectories(ck.resolve("ckpt-7"));   // a second one: named too
        r = run(train(dir, "mlp", 1, "--max-steps", "1"));
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("holds the incomplete checkpoints " + ck.resolve("ckpt-5") + " (no model.safetensors), " + ck.resolve("ckpt-7")
                + " (no state.json or model.safetensors) of an interrupted run, which cannot be resumed; delete them"), r.err());
        for (String c : List.of("ckpt-5", "ckpt-7")) {
            try (Stream<Path> files = Files.list(ck.resolve(c))) {
                for (Path f : files.toList()) Files.delete(f);
            }
            Files.delete(ck.resolve(c));
        }
        ok(train(dir, "mlp", 1, "--max-steps", "1"));
        assertEquals(List.of("ckpt-1"), names(ck));
    }

    @Test
    void changedSettingsOnResumeAreUsageErrors(@TempDir Path tmp) throws IOException {
        Path parts = tmp.resolve("parts");
        ok(train(parts, "mlp", 1, "--lr", "0.02"));
        CliTest.Result r = run(resume(parts, 2, "--lr", "0.1"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--lr 0.1 differs from the resumed run's 0.02"), r.err());
        CliTest.Result every = run(train(tmp.resolve("never"), "mlp", 1, "--checkpoint-every", "5"));
        assertEquals(2, every.code(), every.err());
        assertTrue(every.err().contains("--checkpoint-every '5'"), every.err());
        assertTrue(!Files.exists(tmp.resolve("never")));
        CliTest.Result missing = run(resume(tmp.resolve("nowhere"), 2));
        assertEquals(2, missing.code(), missing.err());
        assertTrue(missing.err().contains("--resume " + tmp.resolve("nowhere") + " does not exist"), missing.err());
        CliTest.Result none = run(resume(Files.createDirectories(tmp.resolve("nothing")), 2));
        assertEquals(2, none.code(), none.err());
        assertTrue(none.err().contains("no checkpoint in"), none.err());
        // (a run that stopped before its first checkpoint, on a full disk say: the way forward is the original command)
        assertTrue(none.err().contains("run its original command again, with --out " + tmp.resolve("nothing")), none.err());
    }

    /**
     * A run that kept no checkpoint but wrote metrics.jsonl (--checkpoint-every off and a signal, or a disk that filled
     * before the first checkpoint, which leaves an empty checkpoints/): --resume said "run its original command again,
     * with --out DIR", and that command said "DIR already holds a run (metrics.jsonl); ..., or continue that run with
     * --resume DIR" (checkpoints/ was there), each sending the user to the other (found with a SIGTERM after epoch 1 of a
     * --checkpoint-every off run, and on a full tmpfs). Now the resume says to delete the directory or give another --out,
     * the new run mentions --resume only when there is a checkpoint, and the run's last line says the training is lost.
     */
    @Test
    void aRunWithoutACheckpointIsNotSentToResume(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run");
        CliTest.Result r = run(train(dir, "mlp", 2, "--checkpoint-every", "off", "--max-steps", "15")); // epoch 1 of 2, no checkpoint
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: stopped after --max-steps 15; no checkpoint (--checkpoint-every off), so the training is lost"), r.err());
        Files.createDirectories(dir.resolve("checkpoints")); // what a checkpoint that failed on a full disk leaves
        CliTest.Result resumed = run(resume(dir, 2));
        assertEquals(2, resumed.code(), resumed.err() + resumed.out());
        assertTrue(resumed.err().contains("nothing to resume: run its original command again, with --out " + dir + " once that directory is"
                + " deleted (its metrics.jsonl is of training that no checkpoint kept: rm -r " + dir + "), or with another --out"), resumed.err());
        CliTest.Result again = run(train(dir, "mlp", 2));
        assertEquals(2, again.code(), again.err() + again.out());
        assertTrue(again.err().contains("--out " + dir + " already holds a run (metrics.jsonl); choose a new directory, or delete that one"
                + " to reuse it"), again.err());
        assertFalse(again.err().contains("--resume"), again.err());
    }

    /**
     * The command line of a child JVM running the CLI with the test's classpath. Where this JVM was started with SIGINT
     * or SIGTERM ignored (the build run as a background job of a non-interactive shell, `.ci/test &`, or under a tool
     * that ignores them), the child would inherit that and the JVM would install nothing for them, so the signal tests
     * would fail with a child that never stops; the child is then started through coreutils' env
     * --default-signal=INT,TERM, which gives it the default dispositions back (see {@link #assumeSignalsReachChildren}).
     */
    static List<String> childCommand(String... args) {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(IGNORED_SIGNALS != 0 && ENV_DEFAULTS_SIGNALS ? List.of("env", "--default-signal=INT,TERM") : List.of());
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xss4m", "-Xmx1g",
                "-cp", cp, Main.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** SIGINT's bit (2) and SIGTERM's (1 << 14) of this JVM's ignored signals (SigIgn in /proc/self/status), 0 where unknown. */
    static final long IGNORED_SIGNALS = ignoredSignals() & (1L << 1 | 1L << 14);
    /** Whether `env --default-signal` works here (coreutils 8.31 and later). */
    static final boolean ENV_DEFAULTS_SIGNALS = IGNORED_SIGNALS != 0 && envDefaultsSignals();

    private static long ignoredSignals() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("SigIgn:")) return Long.parseUnsignedLong(line.substring(7).strip(), 16);
        } catch (IOException | RuntimeException e) {
            // not Linux: nothing known
        }
        return 0;
    }

    private static boolean envDefaultsSignals() {
        try {
            return new ProcessBuilder("env", "--default-signal=INT,TERM", "true").redirectErrorStream(true).start().waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Skips a test that sends a child SIGINT or SIGTERM where the child would start with it ignored (inherited from
     * this JVM) and env cannot give it the default disposition back: it would stop nothing, and the test would fail.
     */
    static void assumeSignalsReachChildren() {
        org.junit.jupiter.api.Assumptions.assumeTrue(IGNORED_SIGNALS == 0 || ENV_DEFAULTS_SIGNALS, "this JVM was started with SIGINT"
                + " or SIGTERM ignored (SigIgn " + Long.toHexString(IGNORED_SIGNALS) + " in /proc/self/status: a background job of a"
                + " non-interactive shell, or nohup-like tool), its child JVMs would inherit that, and env --default-signal is not"
                + " here to undo it: a signal test cannot stop them. Run the tests in the foreground");
    }

    @Test
    void killedWhileCheckpointingStillResumes(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints");
        SplittableRandom rnd = new SplittableRandom(7);
        int kills = 0;
        for (int round = 0; round < 4; round++) {
            // every step a checkpoint (~2 MB, fsynced): most of the process's time is spent writing one
            String[] args = Files.exists(ck) && Checkpoint.latest(ck).isPresent()
                    ? resume(dir, 3, "--checkpoint-every", "1s", "--keep", "2")
                    : train(dir, "mlp", 3, "--checkpoint-every", "1s", "--keep", "2");
            Process p = new ProcessBuilder(childCommand(args)).redirectErrorStream(true)
                    .redirectOutput(tmp.resolve("child-" + round + ".log").toFile()).start();
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (p.isAlive() && (!Files.exists(ck) || Checkpoint.latest(ck).isEmpty()) && System.nanoTime() < deadline) Thread.sleep(5);
            Thread.sleep(rnd.nextInt(20, 400));
            if (p.isAlive()) { p.destroyForcibly(); kills++; }
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "child did not end");
            Optional<Path> latest = Checkpoint.latest(ck);
            assertTrue(latest.isPresent(), "no checkpoint after round " + round + ": " + (Files.exists(ck) ? names(ck) : "no dir")
                    + "\n" + Files.readString(tmp.resolve("child-" + round + ".log")));
            loadsCleanly(latest.get());
        }
        assertTrue(kills > 0, "the child always finished before it could be killed");
        CliTest.Result r = run(resume(dir, 3, "--checkpoint-every", "1s", "--keep", "2"));
        assertEquals(0, r.code(), r.err() + r.out());
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(3, lines.size(), lines.toString());
        for (int i = 0; i < 3; i++) assertEquals(i + 1, JSON.readTree(lines.get(i)).get("epoch").asInt(), lines.toString());
        assertTrue(Files.exists(dir.resolve("summary.json")));
    }

    /**
     * A signal while the training waits for a read that never returns (a FIFO among the images: opening it blocks until
     * a writer comes, as a hung network file system would, and no interrupt ends it): a notice names the file once the
     * wait has lasted (1 s here, 60 s by default); on the signal the wait is ended, the state before that batch is
     * checkpointed, and the process ends (exit 143) although the loader's thread is still stuck. Once the file reads,
     * --resume finishes the run. (The data's fingerprint, read before the training, gives up on the FIFO as the wait's
     * notice comes, with a notice of its own: it hung the start until it had a time limit.)
     */
    @Test
    void aSignalWhileTheDataHangsCheckpointsTheStateBeforeThatBatch(@TempDir Path tmp) throws Exception {
        assumeSignalsReachChildren();
        Path tree = tmp.resolve("tree");
        for (String c : List.of("a", "b")) {
            Files.createDirectories(tree.resolve(c));
            for (int i = 0; i < 4; i++) {
                java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(8, 8, java.awt.image.BufferedImage.TYPE_INT_RGB);
                img.setRGB(i, i, 0x3366cc * (c.equals("a") ? 1 : 2));
                javax.imageio.ImageIO.write(img, "png", tree.resolve(c).resolve(i + ".png").toFile());
            }
        }
        Path fifo = tree.resolve("b").resolve("z.png");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mk.waitFor() == 0, "mkfifo failed here");
        Path dir = tmp.resolve("run"), log = tmp.resolve("child.log");
        List<String> cmd = childCommand("--model", "mlp", "--data", "imagefolder", "--data-dir", tree.toString(), "--epochs", "1",
                "--batch-size", "2", "--val-fraction", "0", "--progress", "none", "--out", dir.toString());
        // the JVM's options go right after the java executable, which `env --default-signal` may precede (childCommand)
        int jvm = cmd.indexOf(Path.of(System.getProperty("java.home"), "bin", "java").toString()) + 1;
        cmd.add(jvm, "-Ddltrain.signalWaitSeconds=30");
        cmd.add(jvm, "-Ddltrain.slowDataSeconds=1");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long deadline = System.nanoTime() + 30_000_000_000L;
        String notice = "dl-train: notice: training data: waiting 1 s for batch ";
        while (p.isAlive() && !(Files.exists(log) && Files.readString(log).contains(notice)) && System.nanoTime() < deadline) Thread.sleep(5);
        assertTrue(p.isAlive(), "the child should be waiting for the FIFO:\n" + Files.readString(log));
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "child did not end after SIGTERM");
        String out = Files.readString(log);
        assertEquals(143, p.exitValue(), out);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("epoch 1: stopped waiting for batch (\\d) of 5 in epoch 1 of imagefolder/train:"
                + " still being read: sample 8 \\(" + java.util.regex.Pattern.quote(fifo.toString()) + "\\) for \\d+\\.\\d s;"
                + " the batch is not trained, and a resume reads it again").matcher(out);
        assertTrue(m.find(), out);
        int batch = Integer.parseInt(m.group(1));
        assertTrue(out.contains(notice + batch + " of 5 in epoch 1 of imagefolder/train: still being read: sample 8 (" + fifo + ") for "), out);
        assertTrue(out.contains("dl-train: stopped on a signal; checkpoint "), out);
        assertFalse(out.contains("did not reach the end of a step"), out);
        // the data's fingerprint (8 samples, the FIFO among them) gave up after the same 1 s rather than hang the start
        assertTrue(out.contains("dl-train: notice: reading 8 samples of imagefolder/train for its fingerprint took over 1 s"), out);
        Path latest = Checkpoint.latest(dir.resolve("checkpoints")).orElseThrow(() -> new AssertionError("no checkpoint: " + out));
        assertEquals(batch - 1, Checkpoint.readState(latest).step(), "the state before the batch being read: " + out);

        Files.delete(fifo); // the file system answers again
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(8, 8, java.awt.image.BufferedImage.TYPE_INT_RGB);
        javax.imageio.ImageIO.write(img, "png", fifo.toFile());
        CliTest.Result r = run("--resume", dir.toString(), "--progress", "none");
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(Files.exists(dir.resolve("summary.json")), r.out());
        assertEquals(1, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
    }

    @Test
    void sigtermWritesACheckpointAtTheNextStep(@TempDir Path tmp) throws Exception {
        assumeSignalsReachChildren();
        Path dir = tmp.resolve("run"), log = tmp.resolve("child.log");
        // no scheduled checkpoint within the first 1,000 steps: whatever is there was written on the signal
        Process p = new ProcessBuilder(childCommand(train(dir, "mlp", 50, "--checkpoint-every", "1000s"))).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        // once epoch 1 has ended (its line in metrics.jsonl), steps are trained: a signal a fixed time after the run's header
        // came before the first step on a loaded machine, and the checkpoint was of step 0
        Path metrics = dir.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (p.isAlive() && !(Files.exists(metrics) && !Files.readAllLines(metrics).isEmpty()) && System.nanoTime() < deadline) Thread.sleep(5);
        assertTrue(p.isAlive(), "the child should be training:\n" + Files.readString(log));
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "child did not end after SIGTERM");
        String out = Files.readString(log);
        assertEquals(143, p.exitValue(), out);
        assertTrue(out.contains("dl-train: stopping on a signal: the training stops after the step in progress and writes a checkpoint;"
                + " this waits up to " + TrainRun.SIGNAL_WAIT_SECONDS + " s, and a second signal ends at once without it\n"), out);
        assertTrue(out.contains("stopped on a signal; checkpoint "), out);
        Path latest = Checkpoint.latest(dir.resolve("checkpoints")).orElseThrow(() -> new AssertionError("no checkpoint: " + out));
        loadsCleanly(latest);
        TrainingState s = Checkpoint.readState(latest);
        assertTrue(s.step() > 0 && s.step() < 1000, "step " + s.step());
    }

    /**
     * Ctrl-C at a terminal, where the progress bar is drawn: util-linux `script` gives the child a pseudo-terminal, and
     * the Ctrl-C character written to it does what a keyboard's does (SIGINT to the foreground process group). The
     * progress bar's library asked JLine about the terminal, and JLine's system terminal set SIGINT back to its default
     * action, so the JVM was killed at once: no checkpoint, not a word, the training since the last checkpoint lost (SIGTERM,
     * pipes and --progress plain were not affected, which is why the other signal tests passed). Now it stops as for any
     * signal: the stop said at once, a checkpoint, the --resume command, exit 130.
     */
    @Test
    void ctrlCAtATerminalStopsWithACheckpoint(@TempDir Path tmp) throws Exception {
        assumeSignalsReachChildren();
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/script")), "no util-linux script here");
        Path dir = tmp.resolve("run"), log = tmp.resolve("child.log");
        List<String> child = childCommand("--model", "mlp", "--data", "fashion-mnist", "--data-dir", subset.toString(), "--epochs", "50",
                "--threads", "2", "--progress", "bar", "--checkpoint-every", "1000s", "--out", dir.toString());
        String line = String.join(" ", child.stream().map(ShellWords::quote).toList());
        Process p = new ProcessBuilder("/usr/bin/script", "-qfec", line, "/dev/null").redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (p.isAlive() && !Files.readString(log).contains(" -> ") && System.nanoTime() < deadline) Thread.sleep(5);
            Thread.sleep(500); // into the training, with the bar drawn
            assertTrue(p.isAlive(), "the child should be training:\n" + Files.readString(log));
            p.getOutputStream().write(3); // Ctrl-C, typed at the terminal
            p.getOutputStream().flush();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "Ctrl-C did not end the child:\n" + Files.readString(log));
        } finally {
            p.destroyForcibly();
        }
        String out = Files.readString(log).replace("\r", "");
        assertEquals(130, p.exitValue(), out); // script -e: the child's exit status
        assertTrue(out.contains("dl-train: stopping on a signal: the training stops after the step in progress and writes a checkpoint;"), out);
        assertTrue(out.contains("\ndl-train: stopped on a signal; checkpoint "), out); // on a line of its own, not after the bar
        loadsCleanly(Checkpoint.latest(dir.resolve("checkpoints")).orElseThrow(() -> new AssertionError("no checkpoint:\n" + out)));
    }

    /**
     * Ctrl-C pressed twice while the stop cannot finish (the training is stuck at epoch 1's end opening curves.png.tmp, a
     * FIFO without a reader, as a write to a file system that hangs): the first signal is answered at once, the second
     * ends the process at once (exit 130), naming the last checkpoint and the resume. Left to the JVM, a second signal
     * was ignored, without a word, until the wait for the first was over (120 s by default); the first was answered only
     * when its checkpoint was written (seen as 14 to 25 s of silence for a first step of lenet5 with --batch-size 16384).
     * The run then resumes from that checkpoint.
     */
    @Test
    void aSecondSignalEndsTheProcessAtOnce(@TempDir Path tmp) throws Exception {
        assumeSignalsReachChildren();
        Path dir = Files.createDirectories(tmp.resolve("run")), log = tmp.resolve("child.log"), fifo = dir.resolve(Curves.FILE + ".tmp");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mk.waitFor() == 0, "mkfifo failed here");
        Process p = new ProcessBuilder(childCommand(train(dir, "mlp", 2, "--checkpoint-every", "5s"))).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        try {
            Path metrics = dir.resolve("metrics.jsonl"); // written at epoch 1's end, just before the picture
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (p.isAlive() && !(Files.exists(metrics) && !Files.readAllLines(metrics).isEmpty()) && System.nanoTime() < deadline) Thread.sleep(5);
            Thread.sleep(300);
            assertTrue(p.isAlive(), "the child should be stuck at the FIFO:\n" + Files.readString(log));
            String ack = "dl-train: stopping on a signal: the training stops after the step in progress and writes a checkpoint;";
            assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor());
            deadline = System.nanoTime() + 10_000_000_000L;
            while (p.isAlive() && !Files.readString(log).contains(ack) && System.nanoTime() < deadline) Thread.sleep(5);
            assertTrue(Files.readString(log).contains(ack), "the first signal is not answered:\n" + Files.readString(log));
            assertTrue(p.isAlive(), "the stop cannot finish while the training is stuck:\n" + Files.readString(log));
            assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor());
            assertTrue(p.waitFor(10, TimeUnit.SECONDS), "the second signal did not end the process:\n" + Files.readString(log));
        } finally {
            p.destroyForcibly();
        }
        String out = Files.readString(log);
        assertEquals(130, p.exitValue(), out);
        assertTrue(out.contains("dl-train: ended at once on a second signal (SIGINT), without waiting for the first to finish; the last"
                + " checkpoint is " + dir.resolve("checkpoints/ckpt-10") + ", and --resume " + dir + " continues from it"), out);
        assertFalse(out.contains("stopped on a signal; checkpoint"), out);
        Files.delete(fifo); // the file system answers again
        ok(resume(dir, 2));
        assertEquals(2, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
    }

    /**
     * A signal after the training, during the test pass, ends the process (exit 143 for SIGTERM) with one line that
     * says what is written and what to do; a resume then evaluates the model and writes the summary.
     */
    @Test
    void aSignalDuringTheTestPassSaysWhatIsWritten(@TempDir Path tmp) throws Exception {
        assumeSignalsReachChildren();
        // 10,000 test images one at a time (the bundled sample's training images, which it has enough of): a test pass
        // of seconds (2.3 s on 2 cores) after 180 training steps
        Path data = Files.createDirectories(tmp.resolve("fmnist"));
        CliTest.subsetIdx(CliTest.source("train-images-idx3-ubyte.gz"), data.resolve("train-images-idx3-ubyte.gz"), 200);
        CliTest.subsetIdx(CliTest.source("train-labels-idx1-ubyte.gz"), data.resolve("train-labels-idx1-ubyte.gz"), 200);
        CliTest.subsetIdx(CliTest.source("train-images-idx3-ubyte.gz"), data.resolve("t10k-images-idx3-ubyte.gz"), 10000);
        CliTest.subsetIdx(CliTest.source("train-labels-idx1-ubyte.gz"), data.resolve("t10k-labels-idx1-ubyte.gz"), 10000);
        Path dir = tmp.resolve("run"), log = tmp.resolve("child.log"), modelJson = dir.resolve("model/model.json");
        Process p = new ProcessBuilder(childCommand("--model", "mlp", "--data", "fashion-mnist", "--data-dir", data.toString(),
                "--epochs", "1", "--batch-size", "1", "--lr", "0.001", "--threads", "1", "--progress", "none", "--out", dir.toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (p.isAlive() && !Files.exists(modelJson) && System.nanoTime() < deadline) Thread.sleep(2);
        long sent = System.nanoTime();
        p.destroy(); // SIGTERM: model/ is written (model.json last), the test pass has begun
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "child did not end after SIGTERM");
        String out = Files.readString(log);
        assertFalse(out.contains("test: loss"), "the test pass ended before the signal (" + (System.nanoTime() - sent) / 1_000_000 + " ms): " + out);
        assertEquals(143, p.exitValue(), out);
        assertTrue(out.contains("dl-train: stopped on a signal after the training, before the test pass ended: " + dir.resolve("model")
                + "/ is written, " + dir.resolve("summary.json") + " is not; --resume " + dir + " evaluates the model and writes it"), out);
        assertFalse(Files.exists(dir.resolve("summary.json")));
        CliTest.Result r = run("--resume", dir.toString(), "--threads", "1", "--progress", "none");
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().contains("test: loss ") && r.out().contains("(10,000 samples)"), r.out());
        assertEquals(1, JSON.readTree(dir.resolve("summary.json").toFile()).get("epochs").asInt());
    }

    /** What a signal after the training says, at each point: what is written and what to do. */
    @Test
    void signalMessagesAfterTheTraining() {
        Path dir = Path.of("runs/a b"), ck = dir.resolve("checkpoints/ckpt-30");
        String eval = "dl-train eval --checkpoint 'runs/a b' --data fashion-mnist";
        assertEquals("stopped on a signal after the training, while writing runs/a b/model/: neither it nor runs/a b/summary.json is written;"
                + " the training is checkpointed in runs/a b/checkpoints/ckpt-30, and --resume 'runs/a b' writes them",
                TrainRun.afterSignal(TrainRun.Ending.Reached.TRAINED, dir, ck, eval));
        assertEquals("stopped on a signal after the training, while writing runs/a b/model/: neither it nor runs/a b/summary.json is written;"
                + " the run has no checkpoint (--checkpoint-every off), so its training is lost",
                TrainRun.afterSignal(TrainRun.Ending.Reached.TRAINED, dir, null, eval));
        assertEquals("stopped on a signal after the training, before the test pass ended: runs/a b/model/ is written, runs/a b/summary.json"
                + " is not; --resume 'runs/a b' evaluates the model and writes it",
                TrainRun.afterSignal(TrainRun.Ending.Reached.MODEL_WRITTEN, dir, ck, eval));
        assertEquals("stopped on a signal after the training, before the test pass ended: runs/a b/model/ is written, runs/a b/summary.json"
                + " is not; the run has no checkpoint (--checkpoint-every off), so --resume cannot write it, but " + eval + " evaluates the model",
                TrainRun.afterSignal(TrainRun.Ending.Reached.MODEL_WRITTEN, dir, null, eval));
        assertEquals("a signal came after the run had completed: runs/a b/summary.json, runs/a b/model/ and its other files are written;"
                + " nothing is lost", TrainRun.afterSignal(TrainRun.Ending.Reached.DONE, dir, ck, eval));
        // the hook's line when the loop reaches neither a step boundary nor a wait for data (a write that hangs)
        assertEquals("stopped on a signal, but the training did not reach the end of a step within " + TrainRun.SIGNAL_WAIT_SECONDS + " s of it"
                + " (a checkpoint write to a file system that hangs? a device that does not answer?), so no checkpoint was written for the"
                + " signal; the run has no checkpoints (--checkpoint-every off), so its training is lost", TrainRun.stuckAfterSignal(dir, false));
        assertTrue(TrainRun.stuckAfterSignal(dir, true).endsWith("; the run has no checkpoint yet, so its training is lost"));
    }

    /**
     * One process at a time trains into a run directory: while a child process trains into it, a second run and a resume
     * are usage errors that name the lock, and they write nothing; once the child has ended, the run resumes, and the
     * lock is released at the end of each run (a second resume in this JVM takes it again).
     */
    @Test
    void aRunDirectoryIsUsedByOneProcessAtATime(@TempDir Path tmp) throws Exception {
        assumeSignalsReachChildren();
        Path dir = tmp.resolve("run"), ck = dir.resolve("checkpoints"), log = tmp.resolve("child.log");
        // a checkpoint every 20 steps (and pruning to 3): a resume that read them while the child writes would race
        Process p = new ProcessBuilder(childCommand(train(dir, "mlp", 500, "--checkpoint-every", "20s"))).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (p.isAlive() && (!Files.exists(ck) || Checkpoint.latest(ck).isEmpty()) && System.nanoTime() < deadline) Thread.sleep(5);
            assertTrue(p.isAlive() && Checkpoint.latest(ck).isPresent(), "the child has not checkpointed: " + Files.readString(log));
            CliTest.Result r = run(train(dir, "mlp", 1));
            assertEquals(2, r.code(), r.err() + r.out());
            assertTrue(r.err().contains("--out " + dir + " is in use: another dl-train run is training into it now ("
                    + dir.resolve(".lock") + " is locked by process " + p.pid() + " on "), r.err());
            assertTrue(r.err().contains("); choose another --out"), r.err());
            r = run(resume(dir, 600));
            assertEquals(2, r.code(), r.err() + r.out());
            assertTrue(r.err().contains("--resume " + dir + " is in use: another dl-train run is training into it now"), r.err());
            assertTrue(r.err().contains("wait for that run to end, or stop it, before resuming"), r.err());
            assertTrue(p.isAlive(), "the child must still be training for these checks to mean anything");
        } finally {
            p.destroy(); // SIGTERM: the child checkpoints and exits, and the OS releases its lock
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "child did not end after SIGTERM");
        }
        String out = Files.readString(log);
        assertTrue(out.contains("stopped on a signal; checkpoint "), out);
        assertFalse(out.contains("--resume " + dir + " is in use"), out);
        long step = Checkpoint.readState(Checkpoint.latest(ck).orElseThrow()).step();
        for (int more = 1; more <= 2; more++) { // the second resume in this JVM: the first released the lock when it ended
            CliTest.Result r = run(resume(dir, 600, "--max-steps", Long.toString(step + more)));
            assertEquals(0, r.code(), "resume " + more + ": " + r.err() + r.out());
            assertTrue(r.err().contains("stopped after --max-steps " + (step + more)), r.err());
        }
    }

    /**
     * The usage error for a run directory another run holds said only that DIR/.lock "is locked", though the lock file
     * holds the holder's process id: an operator whose replacement pod overlaps the old one (on another node, over a
     * shared volume) could not tell which process, on which host, since when. It now names them, from the lock file.
     * (The holder here is this JVM itself, which the lock refuses the same way: OverlappingFileLockException.)
     */
    @Test
    void theInUseErrorNamesTheProcessAndHostHoldingTheLock(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("run"));
        String host = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
        try (RunOutput.Lock lock = RunOutput.Lock.acquire(dir, "--out")) {
            List<String> file = Files.readAllLines(dir.resolve(".lock"));
            assertEquals(Long.toString(ProcessHandle.current().pid()), file.get(0), "the pid line: " + file);
            assertEquals(host, file.get(1), "the host line: " + file);
            CliTest.Result r = run(train(dir, "mlp", 1, "--resume-or-start"));
            assertEquals(2, r.code(), r.err() + r.out());
            assertTrue(r.err().contains("--out " + dir + " is in use: another dl-train run is training into it now (" + dir.resolve(".lock")
                    + " is locked by process " + ProcessHandle.current().pid() + " on " + host + ", since " + file.get(2) + ")"), r.err());
            assertEquals(List.of(".lock"), names(dir), "nothing written");
        }
        // released: the lock file stays, and a run starts (and the file says who holds it now)
        CliTest.Result r = run(train(dir, "mlp", 1, "--max-steps", "1"));
        assertEquals(0, r.code(), r.err() + r.out());
    }

    /**
     * --resume-or-start on a directory another live run holds (before its first metrics line, after it, after its first
     * checkpoint): it said "no checkpoint in DIR; starting the run" (or "holds a checkpoint; resuming the run") and then,
     * on the next line, that DIR is in use, so an operator read that the run had started. It now says only the in-use error.
     */
    @Test
    void resumeOrStartOnADirectoryInUseSaysOnlyThatItIsInUse(@TempDir Path tmp) throws Exception {
        for (int lines = 0; lines <= 2; lines++) {
            Path dir = Files.createDirectories(tmp.resolve("run-" + lines));
            if (lines > 0) Files.writeString(dir.resolve("metrics.jsonl"), "{\"epoch\":1,\"train_loss\":0.9}\n");
            if (lines > 1) { // and its first checkpoint: what a resume would read, once it holds the lock
                Path ck = Files.createDirectories(dir.resolve("checkpoints/ckpt-15"));
                Files.writeString(ck.resolve(Checkpoint.STATE_FILE), "{}");
                Files.writeString(ck.resolve(Checkpoint.MODEL_FILE), "");
            }
            List<String> before = names(dir);
            try (RunOutput.Lock lock = RunOutput.Lock.acquire(dir, "--out")) {
                CliTest.Result r = run(train(dir, "mlp", 1, "--resume-or-start"));
                assertEquals(2, r.code(), r.err() + r.out());
                assertTrue(r.err().contains(" " + dir + " is in use: another dl-train run is training into it now"), r.err());
                assertFalse(r.err().contains("dl-train: --resume-or-start: "), "the in-use error only, no 'starting' or 'resuming the run': " + r.err());
                List<String> after = new ArrayList<>(before);
                after.add(0, RunOutput.LOCK);
                assertEquals(after, names(dir), "nothing moved or written");
            }
        }
    }

    /**
     * A corrupt image mid-run ends it (exit 1) naming the file, with a checkpoint of the state before its batch and the
     * command that continues; once the file is fixed, the run resumes from there and finishes. A corrupt test image
     * ends a run whose training is complete: its model is written, and a resume runs the test and writes the summary.
     */
    @Test
    void aCorruptImageLeavesACheckpointAndTheRunResumesOnceTheFileIsFixed(@TempDir Path tmp) throws IOException {
        Path small = CliTest.fashionSubset(tmp.resolve("fmnist"), 600, 100), tree = tmp.resolve("tree");
        assertEquals(0, run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", small.toString(), "--out", tree.toString()).code());
        Path victim;
        try (Stream<Path> files = Files.walk(tree.resolve("train"))) {
            victim = files.filter(f -> f.toString().endsWith(".png")).sorted().skip(300).findFirst().orElseThrow();
        }
        byte[] good = Files.readAllBytes(victim);
        Files.write(victim, java.util.Arrays.copyOf(good, 40)); // a truncated PNG
        Path out = tmp.resolve("run");
        CliTest.Result r = run("--model", "mlp", "--data", "imagefolder", "--data-dir", tree.toString(), "--epochs", "2", "--batch-size", "32",
                "--threads", "2", "--progress", "none", "--out", out.toString());
        assertEquals(1, r.code(), r.err() + r.out());
        // what to do, coherently: the decoder's "re-create or remove the file", then where each leads in a run that can
        // be resumed (a removed file changes its split), and the option that skips unreadable images in a new run
        assertTrue(r.err().contains(victim.getFileName().toString()) && r.err().contains("; re-create or remove the file; the run is"
                + " checkpointed before that batch in " + out.resolve("checkpoints/ckpt-0").toAbsolutePath() + " (removing the file changes the"
                + " run's train/validation split: a run without it starts anew): once the sample reads (mend or re-create its file),"
                + " resume with --resume " + out + ", or start a new run with --data imagefolder:skipbad=true, which skips unreadable"
                + " images\n"), r.err());
        Files.write(victim, good);
        r = run("--resume", out.toString(), "--threads", "2", "--progress", "none"); // the data's directory is the run's
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: resuming from "), r.err());
        assertEquals(2, Files.readAllLines(out.resolve("metrics.jsonl")).size());
        assertTrue(Files.exists(out.resolve("summary.json")));

        // a test image (the tree's val/): the training is complete, its model is written, and a resume tests it
        try (Stream<Path> files = Files.walk(tree.resolve("val"))) {
            victim = files.filter(f -> f.toString().endsWith(".png")).sorted().skip(50).findFirst().orElseThrow();
        }
        good = Files.readAllBytes(victim);
        Files.write(victim, java.util.Arrays.copyOf(good, 40));
        Path done = tmp.resolve("done");
        r = run("--model", "mlp", "--data", "imagefolder", "--data-dir", tree.toString(), "--epochs", "1", "--batch-size", "32",
                "--threads", "2", "--progress", "none", "--out", done.toString());
        assertEquals(1, r.code(), r.err() + r.out());
        assertTrue(r.err().contains(victim.getFileName().toString()) && r.err().contains("the training is complete (its model is in "
                + done.resolve("model")) && r.err().contains("--resume " + done + " evaluates it and writes the summary"), r.err());
        assertTrue(Files.exists(done.resolve("model/model.safetensors")), "the trained model is usable");
        assertFalse(Files.exists(done.resolve("summary.json")));
        Files.write(victim, good);
        r = run("--resume", done.toString(), "--threads", "2", "--progress", "none");
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().contains("test: loss "), r.out());
        assertTrue(Files.exists(done.resolve("summary.json")));
    }

    /** Loads the checkpoint into a fresh mlp and its optimiser: everything is validated (names, shapes, counters). */
    static void loadsCleanly(Path checkpoint) {
        try (Backend be = Backends.create("cpu", 1, m -> {});
             Module model = Scope.outside(() -> ModelRegistry.get("mlp").build(new Context(be, 42), new ModelSpec(1, 28, 28, 10)));
             Optimizer opt = Optimizers.create("sgd-nesterov", model.namedParameters(), 0.05, 0.9, 5e-4)) {
            TrainingState s = Checkpoint.load(checkpoint, model, opt);
            assertEquals(s.step(), opt.stepCount(), "optimizer steps vs checkpoint step");
        }
    }
}
