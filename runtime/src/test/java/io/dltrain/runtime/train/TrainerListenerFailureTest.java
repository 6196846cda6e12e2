package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A listener that throws (the CLI's metrics.jsonl on a full disk, a bug in a caller's progress display) ends the fit,
 * but only after the state it was told about is checkpointed, whatever the checkpoint interval: resumed from there,
 * the run ends bit-identical to an uninterrupted one. The model, data and recipe are TrainerResumeTest's (8 steps an
 * epoch, 3 epochs); checkpoints every 5 steps, so neither failure below falls on a regular checkpoint.
 */
class TrainerListenerFailureTest {

    static Trainer.Result fit(Dataset ds, Path ckDir, Path from, TrainListener listener) {
        int[][] split = DataLoader.split(ds.size(), 0.2, 7);
        try (CpuBackend be = new CpuBackend(2);
             Module model = TrainerResumeTest.model(be);
             Optimizer opt = Optimizers.create("adam", model.namedParameters(), 0.01, 0.9, 0);
             DataLoader train = new DataLoader(ds, split[0], 32, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(ds, split[1], 32, false, false, 7, 1, 4)) {
            Trainer t = new Trainer(be, TrainerResumeTest.CONFIG);
            if (ckDir != null) t.checkpoints(new CheckpointPolicy(ckDir, 0, 5, 2, "test-mlp", "blobs", Map.of()));
            if (from != null) t.resumeFrom(Checkpoint.load(from, model, opt));
            return t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("cosine"), train, val, listener);
        }
    }

    /** Every call the listener got, as "step 2.3" / "ended 2" / "started 2"; it throws on {@code failOn}. */
    static TrainListener failingOn(String failOn, List<String> calls) {
        return new TrainListener() {
            void call(String what) {
                calls.add(what);
                if (what.equals(failOn)) throw new UncheckedIOException("cannot write metrics.jsonl: No space left on device",
                        new java.io.IOException("No space left on device"));
            }
            @Override public void epochStarted(int epoch, int epochs, int steps) { call("started " + epoch); }
            @Override public void step(int epoch, int step, int steps, double loss, double ips) { call("step " + epoch + "." + step); }
            @Override public void epochEnded(EpochMetrics m) { call("ended " + m.epoch()); }
        };
    }

    /**
     * An uninterrupted fit, then one whose listener throws on {@code failOn}: checks that nothing reached the listener
     * after its failure and that the listener's exception is the cause, reads the checkpoint the failure names, resumes
     * from it, requires the uninterrupted run's losses, and returns the failure and the checkpoint's state (read before
     * the resume, which prunes it).
     */
    static Failed failsThenResumesIdentically(Path tmp, String failOn) {
        Dataset ds = TrainerTest.blobs(300, 1);
        Trainer.Result whole = fit(ds, tmp.resolve("whole"), null, TrainListener.NONE);
        List<String> calls = new ArrayList<>();
        Path ck = tmp.resolve("parts");
        ListenerFailedException e = assertThrows(ListenerFailedException.class, () -> fit(ds, ck, null, failingOn(failOn, calls)));
        assertEquals(failOn, calls.getLast(), "no call reaches the listener after it failed: " + calls);
        assertTrue(e.getCause() instanceof UncheckedIOException, "the listener's exception is the cause: " + e.getCause());
        assertTrue(e.checkpoint() != null && e.checkpoint().startsWith(ck.toAbsolutePath()), "a checkpoint in " + ck + ": " + e.checkpoint());
        TrainingState st = Checkpoint.readState(e.checkpoint());
        TrainerResumeTest.sameAs(whole, fit(ds, ck, e.checkpoint(), TrainListener.NONE)); // with the failed epoch's metrics from the checkpoint
        return new Failed(e, st);
    }

    record Failed(ListenerFailedException e, TrainingState state) {}

    @Test
    void aListenerThatFailsInAStepLeavesACheckpointAfterThatStep(@TempDir Path tmp) {
        Failed f = failsThenResumesIdentically(tmp, "step 2.3");
        ListenerFailedException e = f.e();
        assertEquals(tmp.resolve("parts").toAbsolutePath().resolve("ckpt-11"), e.checkpoint(), "the state after global step 11 (epoch 2, step 3)");
        assertEquals("the training listener failed (step 3 of epoch 2): cannot write metrics.jsonl: No space left on device;"
                + " the training so far is checkpointed in " + e.checkpoint() + ": fix the cause and resume", e.getMessage());
        TrainingState st = f.state();
        assertEquals(1, st.epoch());
        assertEquals(11, st.step());
    }

    @Test
    void aListenerThatFailsAtAnEpochsEndLeavesACheckpointOfThatEpoch(@TempDir Path tmp) {
        Failed f = failsThenResumesIdentically(tmp, "ended 2");
        assertTrue(f.e().getMessage().startsWith("the training listener failed (epochEnded epoch 2): cannot write metrics.jsonl"), f.e().getMessage());
        TrainingState st = f.state();
        assertEquals(2, st.epoch(), "epoch 2, validated, is in the checkpoint");
        assertEquals(16, st.step());
        assertEquals(2, Trainer.history(st).size(), "with its metrics, which the listener never took");
    }

    @Test
    void withoutACheckpointPolicyTheFailureSaysNothingIsSaved() {
        Dataset ds = TrainerTest.blobs(300, 1);
        List<String> calls = new ArrayList<>();
        ListenerFailedException e = assertThrows(ListenerFailedException.class, () -> fit(ds, null, null, failingOn("started 1", calls)));
        assertEquals(List.of("started 1"), calls, "not one step is trained or reported after the failure");
        assertNull(e.checkpoint());
        assertTrue(e.getMessage().endsWith("; nothing is checkpointed (no checkpoint policy)"), e.getMessage());
        assertSame(UncheckedIOException.class, e.getCause().getClass());
    }

    /** Failing at an epoch's last step with nothing to checkpoint, the fit ends without validating that epoch. */
    @Test
    void withoutACheckpointPolicyAFailureAtAnEpochsLastStepSkipsItsValidation() {
        Dataset blobs = TrainerTest.blobs(300, 1);
        java.util.Set<Integer> valIdx = new java.util.HashSet<>();
        for (int i : DataLoader.split(blobs.size(), 0.2, 7)[1]) valIdx.add(i);
        java.util.concurrent.atomic.AtomicInteger valReads = new java.util.concurrent.atomic.AtomicInteger();
        Dataset ds = TrainerResumeTest.beforeRead(blobs, "blobs", i -> { if (valIdx.contains(i)) valReads.incrementAndGet(); });
        List<String> calls = new ArrayList<>();
        ListenerFailedException e = assertThrows(ListenerFailedException.class, () -> fit(ds, null, null, failingOn("step 1.8", calls)));
        assertEquals("step 1.8", calls.getLast());
        assertNull(e.checkpoint());
        assertEquals(0, valReads.get(), "no validation sample is read after the failure");
    }

    /**
     * The usual cause of a listener failure under the CLI is a full disk, which fails the checkpoint after it too: then
     * the fit still ends with the listener's failure (not with the checkpoint's alone, which would hide what failed
     * first), names no checkpoint, says that the save failed rather than that there is no checkpoint policy, and
     * carries the save's exception as a suppressed one.
     */
    @Test
    void aCheckpointThatFailsAfterTheListenerLeavesBothFailuresReported(@TempDir Path tmp) {
        Dataset ds = TrainerTest.blobs(300, 1);
        Path ck = tmp.resolve("parts");
        TrainListener breaksTheDisk = new TrainListener() {
            @Override public void epochEnded(EpochMetrics m) {
                if (m.epoch() < 2) return;
                try { // the checkpoint directory becomes a file: every later save fails
                    try (var walk = java.nio.file.Files.walk(ck)) {
                        walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                    }
                    java.nio.file.Files.writeString(ck, "not a directory");
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
                throw new UncheckedIOException("cannot write metrics.jsonl: No space left on device", new java.io.IOException("No space left on device"));
            }
        };
        ListenerFailedException e = assertThrows(ListenerFailedException.class, () -> fit(ds, ck, null, breaksTheDisk));
        assertNull(e.checkpoint(), "no checkpoint was written after the failure");
        assertSame(UncheckedIOException.class, e.getCause().getClass(), "the listener's exception is the cause");
        assertEquals(1, e.getSuppressed().length, "the save's failure is suppressed into it");
        assertSame(io.dltrain.runtime.checkpoint.CheckpointException.class, e.getSuppressed()[0].getClass());
        assertTrue(e.getMessage().startsWith("the training listener failed (epochEnded epoch 2): cannot write metrics.jsonl: No space left on device;"
                + " the training so far could not be checkpointed either: could not save checkpoint "), e.getMessage());
    }

    /**
     * A checkpoint write (hundreds of MB for a large model with its optimiser state) was silent: the listener heard of
     * nothing between an epoch's end and the next epoch. Each write, every 5 steps as at the epoch's end and for the best
     * model, is now announced before it starts (its files not there yet) and its end told after (they are), with the
     * checkpoint written; a failed write is ended too (null), so that a "still writing" notice stops.
     */
    @Test
    void eachCheckpointWriteIsAnnouncedBeforeAndEndedAfter(@TempDir Path tmp) {
        Dataset ds = TrainerTest.blobs(300, 1);
        Path ck = tmp.resolve("parts");
        List<String> calls = new ArrayList<>();
        TrainListener l = new TrainListener() {
            @Override public void epochEnded(EpochMetrics m) { calls.add("ended " + m.epoch()); }
            @Override public void checkpointWriting(Path dir, boolean best) {
                assertEquals(best ? ck.resolve("best") : ck, dir);
                calls.add("writing " + (best ? "best" : "") + " (" + count(dir) + " there)");
            }
            @Override public void checkpointWritten(Path checkpoint) {
                assertTrue(java.nio.file.Files.isRegularFile(checkpoint.resolve(Checkpoint.STATE_FILE)), "written: " + checkpoint);
                calls.add("written " + ck.relativize(checkpoint));
            }
            long count(Path dir) {
                try (var files = java.nio.file.Files.list(dir)) {
                    return files.filter(f -> f.getFileName().toString().startsWith("ckpt-")).count();
                } catch (java.io.IOException e) {
                    return 0;
                }
            }
        };
        fit(ds, ck, null, l);
        assertEquals(List.of("writing  (0 there)", "written ckpt-5", "ended 1", "writing best (0 there)", "written best/ckpt-8",
                "writing  (1 there)", "written ckpt-10", "writing  (2 there)", "written ckpt-15", "ended 2", "writing best (1 there)",
                "written best/ckpt-16", "writing  (2 there)", "written ckpt-20", "ended 3", "writing  (2 there)", "written ckpt-24",
                "writing best (1 there)", "written best/ckpt-24"), calls);

        List<String> failed = new ArrayList<>();
        TrainListener f = new TrainListener() {
            @Override public void checkpointWriting(Path dir, boolean best) {
                failed.add("writing");
                try { // the checkpoint directory becomes a file: the save fails
                    java.nio.file.Files.writeString(tmp.resolve("file"), "not a directory");
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
            }
            @Override public void checkpointWritten(Path checkpoint) { failed.add("written " + checkpoint); }
        };
        assertThrows(io.dltrain.runtime.checkpoint.CheckpointException.class, () -> fit(ds, tmp.resolve("file").resolve("ck"), null, f));
        assertEquals(List.of("writing", "written null"), failed);
    }
}
