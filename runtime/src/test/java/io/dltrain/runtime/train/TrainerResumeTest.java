package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Dropout;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trainer checkpoints and resume at the library level, on a model with dropout (whose mask seeds follow a per-layer
 * call count that the checkpoint must carry) and a cosine schedule with Adam (step counters, LR from the global step):
 * stopped mid-epoch and resumed, the per-epoch losses equal the uninterrupted run's exactly.
 */
class TrainerResumeTest {
    static final TrainConfig CONFIG = new TrainConfig(3, 32, 0.01, "adam", 0.9, 0, "cosine", 0f, 0f, 7, 0.2, 0, 0.0, 1);

    static Module model(CpuBackend be) {
        return new Sequential(new Linear(new Context(be, 3), 8, 32), new ReLU(), new Dropout(new Context(be, 5), 0.3f),
                new Linear(new Context(be, 4), 32, 3));
    }

    /** Runs a fit (resumed from {@code from} if not null, stopped after {@code maxSteps} if > 0) and returns its result. */
    static Trainer.Result fit(Dataset ds, Path ckDir, long maxSteps, Path from) { return fit(ds, ckDir, maxSteps, from, TrainListener.NONE); }

    static Trainer.Result fit(Dataset ds, Path ckDir, long maxSteps, Path from, TrainListener listener) {
        int[][] split = DataLoader.split(ds.size(), 0.2, 7);
        try (CpuBackend be = new CpuBackend(2);
             Module model = model(be);
             Optimizer opt = Optimizers.create("adam", model.namedParameters(), 0.01, 0.9, 0);
             DataLoader train = new DataLoader(ds, split[0], 32, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(ds, split[1], 32, false, false, 7, 1, 4)) {
            Trainer t = new Trainer(be, CONFIG).checkpoints(new CheckpointPolicy(ckDir, 0, 4, 2, "test-mlp", "blobs", Map.of("note", "test")));
            if (maxSteps > 0) t.maxSteps(maxSteps);
            if (from != null) t.resumeFrom(Checkpoint.load(from, model, opt));
            return t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("cosine"), train, val, listener);
        }
    }

    /**
     * A sample that cannot be read mid-epoch (a corrupt image) ends the fit with a checkpoint of the state before its
     * batch; once the sample reads again, the run resumes from there and ends bit-identical to an uninterrupted run.
     */
    @Test
    void aSampleThatFailsToLoadLeavesACheckpointToResumeFrom(@TempDir Path tmp) {
        Dataset ds = TrainerTest.blobs(300, 1); // 8 steps per epoch
        int[][] split = DataLoader.split(ds.size(), 0.2, 7);
        // a training sample fails mid-epoch 2: the checkpoint is before its batch
        TrainingState st = failsThenResumes(tmp.resolve("train"), ds, split[0][100], "the run is checkpointed before that batch in ");
        assertTrue(st.step() >= 8 && st.step() < 16, "a step of epoch 2: " + st.step());
        // a validation sample fails after epoch 2's training: the checkpoint holds all of that training
        st = failsThenResumes(tmp.resolve("val"), ds, split[1][3], "epoch 2's training is checkpointed (before its validation) in ");
        assertEquals(16, st.step(), "every step of epoch 2");
    }

    /** ds under another name, calling hook with the index before each read (which may throw). */
    static Dataset beforeRead(Dataset ds, String name, java.util.function.IntConsumer hook) {
        return new Dataset() {
            public String name() { return name; }
            public int size() { return ds.size(); }
            public io.dltrain.runtime.tensor.Shape sampleShape() { return ds.sampleShape(); }
            public int numClasses() { return ds.numClasses(); }
            public List<String> classNames() { return ds.classNames(); }
            public int read(int i, float[] dst, int off) {
                hook.accept(i);
                return ds.read(i, dst, off);
            }
        };
    }

    /**
     * Trains until {@code bad} fails to read in epoch 2, checks the error and its checkpoint, then fixes the sample,
     * resumes, and requires the losses of an uninterrupted run. Returns the checkpoint's state.
     */
    static TrainingState failsThenResumes(Path tmp, Dataset ds, int bad, String checkpointed) {
        boolean[] corrupt = {false};
        Dataset flaky = beforeRead(ds, "flaky", i -> {
            if (corrupt[0] && i == bad) throw new IllegalStateException("sample " + i + ": corrupt JPEG");
        });
        Trainer.Result whole = fit(ds, tmp.resolve("whole"), 0, null);
        Path ck = tmp.resolve("parts");
        TrainListener corruptAfterEpoch1 = new TrainListener() {
            @Override public void epochEnded(EpochMetrics m) { corrupt[0] = true; }
        };
        io.dltrain.runtime.data.DataLoadException e = org.junit.jupiter.api.Assertions.assertThrows(
                io.dltrain.runtime.data.DataLoadException.class, () -> fit(flaky, ck, 0, null, corruptAfterEpoch1));
        assertTrue(e.getMessage().contains("reading sample " + bad + " failed") && e.getMessage().contains("corrupt JPEG")
                && e.getMessage().contains(checkpointed + e.checkpoint()), e.getMessage());
        TrainingState st = Checkpoint.readState(e.checkpoint());
        assertEquals(1, st.epoch(), "epoch 1 done");
        corrupt[0] = false; // the file is fixed
        Trainer.Result rest = fit(flaky, ck, 0, Checkpoint.latest(ck).orElseThrow());
        sameAs(whole, rest);
        // the epoch that failed: resumed with every batch trained (its validation had failed), it trained none here
        double ips = rest.epochs().get(1).imagesPerSec();
        assertTrue(st.step() == 16 ? Double.isNaN(ips) : ips > 0, "images/s of the resumed epoch: " + ips);
        return st;
    }

    @Test
    void resumedMidEpochWithDropoutMatchesTheUninterruptedRun(@TempDir Path tmp) {
        Dataset ds = TrainerTest.blobs(300, 1); // 240 training samples: 8 steps per epoch
        Trainer.Result whole = fit(ds, tmp.resolve("whole"), 0, null);
        assertEquals(3, whole.epochs().size());
        Path ck = tmp.resolve("parts");
        Trainer.Result first = fit(ds, ck, 11, null); // epoch 2, step 3 of 8
        assertTrue(first.interrupted());
        assertEquals(1, first.epochs().size());
        assertEquals(ck.toAbsolutePath().resolve("ckpt-11"), first.checkpoint());
        TrainingState st = Checkpoint.readState(first.checkpoint());
        assertEquals(1, st.epoch());
        assertEquals(11, st.step());
        assertTrue(fitSeconds(st) > 0, "the checkpoint records the time the fit had run: " + fitSeconds(st));
        Path latest = Checkpoint.latest(ck).orElseThrow();
        setFitSeconds(latest, 1000.0); // as if the first process had run 1000 s: the resumed fit's time must include it
        Trainer.Result rest = fit(ds, ck, 0, latest);
        assertTrue(rest.seconds() >= 1000 && rest.seconds() < 1000 + 600, "1000 s before, plus this process's: " + rest.seconds());
        sameAs(whole, rest);
        assertEquals(whole.bestEpoch(), rest.bestEpoch());
        assertTrue(Files.isDirectory(ck.resolve("best")), "best/ holds the lowest-validation-loss checkpoint");
        assertEquals(whole.bestEpoch(), Checkpoint.readState(Checkpoint.latest(ck.resolve("best")).orElseThrow()).epoch());
    }

    /**
     * A stop requested during validation (SIGINT while a long validation pass runs) is honoured there: the pass is
     * abandoned and the epoch's training checkpointed before it. It used to run the whole pass first, and the CLI's
     * signal handler waits only so long before the JVM halts, with the epoch unsaved.
     */
    @Test
    void aStopDuringValidationCheckpointsTheEpochsTrainingAtOnce(@TempDir Path tmp) {
        assertEquals(List.of(), stopDuringValidation(tmp, false), "no wait to end: the pass stops between batches");
    }

    /**
     * The same while a validation read hangs, deaf to interrupts (a hung network file system): the stop ends the wait
     * for that batch, says which sample is in its read, and checkpoints the epoch's training, as above.
     */
    @Test
    @org.junit.jupiter.api.Timeout(120) // without the stop ending the wait, the fit would wait for the read for ever
    void aStopWhileAValidationReadHangsCheckpointsTheEpochsTraining(@TempDir Path tmp) {
        List<String> info = stopDuringValidation(tmp, true);
        assertEquals(1, info.size(), info.toString());
        assertTrue(info.get(0).matches("validation: stopped waiting for batch 1 of 2 of signalled: still being read: sample \\d+ for \\d+\\.\\d s;"
                + " the pass is abandoned, and a resume validates again"), info.get(0));
    }

    /**
     * Trains 'signalled' until epoch 2's validation reads its first sample, where a stop is requested (with
     * {@code hangs}, from another thread while that read blocks until the fit has returned); checks the checkpoint of
     * epoch 2's training and that a resume from it ends bit-identical to an uninterrupted run. Returns the fit's info lines.
     */
    static List<String> stopDuringValidation(Path tmp, boolean hangs) {
        Dataset ds = TrainerTest.blobs(300, 1); // 8 steps per epoch, 60 validation samples (2 batches)
        int[][] split = DataLoader.split(ds.size(), 0.2, 7);
        java.util.Set<Integer> valIdx = new java.util.HashSet<>();
        for (int i : split[1]) valIdx.add(i);
        Trainer.Result whole = fit(ds, tmp.resolve("whole"), 0, null);
        boolean[] armed = {false};
        java.util.concurrent.atomic.AtomicInteger valReads = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.CountDownLatch fitReturned = new java.util.concurrent.CountDownLatch(1);
        Trainer[] trainer = {null};
        Dataset signalled = beforeRead(ds, "signalled", i -> {
            if (!(armed[0] && valIdx.contains(i))) return;
            valReads.incrementAndGet();
            if (!hangs) {
                trainer[0].requestStop(); // the signal comes as epoch 2's validation reads its first sample
                return;
            }
            Thread.ofPlatform().start(() -> {
                try { Thread.sleep(200); } catch (InterruptedException e) { return; }
                trainer[0].requestStop(); // the signal, while the read hangs
            });
            boolean back = false;
            while (!back) { // deaf to interrupts, as a read in the kernel is
                try { back = fitReturned.await(1, java.util.concurrent.TimeUnit.DAYS); } catch (InterruptedException ignored) { }
            }
        });
        Path ck = tmp.resolve("parts");
        Trainer.Result first;
        int readsDuringFit;
        List<String> info = new java.util.ArrayList<>();
        try (CpuBackend be = new CpuBackend(2);
             Module model = model(be);
             Optimizer opt = Optimizers.create("adam", model.namedParameters(), 0.01, 0.9, 0);
             DataLoader train = new DataLoader(signalled, split[0], 32, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(signalled, split[1], 32, false, false, 7, hangs ? 1 : 0, 4)) {
            trainer[0] = new Trainer(be, CONFIG).checkpoints(new CheckpointPolicy(ck, 0, 4, 2, "test-mlp", "blobs", Map.of("note", "test")));
            first = trainer[0].fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("cosine"), train, val, new TrainListener() {
                @Override public void epochEnded(EpochMetrics m) { armed[0] = true; }
                @Override public void info(String message) { info.add(message); }
            });
            // counted before the hung read returns: then the worker may start the next read before close() stops it
            readsDuringFit = valReads.get();
            fitReturned.countDown(); // the file system answers (before close(), which would otherwise leave the worker behind)
        }
        assertTrue(first.interrupted(), "stopped on request");
        assertEquals(hangs ? 1 : 32, readsDuringFit, "validation stopped in the batch it was in, not at the end of its 60 samples");
        assertEquals(1, first.epochs().size(), "epoch 2 was not validated, so it is not in the history");
        TrainingState st = Checkpoint.readState(first.checkpoint());
        assertEquals(1, st.epoch(), "epoch 1 done");
        assertEquals(16, st.step(), "every step of epoch 2 trained and saved");
        Trainer.Result rest = fit(ds, ck, 0, Checkpoint.latest(ck).orElseThrow());
        sameAs(whole, rest);
        return info;
    }

    /** A resumed fit's 3 epochs against an uninterrupted one's: the history carried over, every figure bit-identical. */
    static void sameAs(Trainer.Result whole, Trainer.Result rest) {
        assertEquals(3, rest.epochs().size(), "the history is carried over");
        for (int ep = 0; ep < 3; ep++) {
            EpochMetrics a = whole.epochs().get(ep), b = rest.epochs().get(ep);
            assertEquals(a.trainLoss(), b.trainLoss(), 0.0, "train loss, epoch " + (ep + 1));
            assertEquals(a.trainAcc(), b.trainAcc(), 0.0, "train accuracy, epoch " + (ep + 1));
            assertEquals(a.valLoss(), b.valLoss(), 0.0, "validation loss, epoch " + (ep + 1));
            assertEquals(a.lr(), b.lr(), 0.0, "lr, epoch " + (ep + 1));
        }
    }

    /** Rewrites a checkpoint's recorded fit time (state.json, trainer_resume.fit_seconds). */
    static void setFitSeconds(Path checkpoint, double seconds) {
        try {
            var json = new com.fasterxml.jackson.databind.ObjectMapper();
            var tree = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(checkpoint.resolve("state.json").toFile());
            ((com.fasterxml.jackson.databind.node.ObjectNode) tree.get("config").get(Trainer.RESUME_KEY)).put("fit_seconds", seconds);
            json.writeValue(checkpoint.resolve("state.json").toFile(), tree);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static double fitSeconds(TrainingState st) {
        return ((Number) ((Map<?, ?>) st.config().get(Trainer.RESUME_KEY)).get("fit_seconds")).doubleValue();
    }

    @Test
    void aRunThatStoppedEarlyTrainsNoFurtherWhenResumed(@TempDir Path tmp) {
        TrainConfig config = TrainerTest.config(10, 0.0, 2);
        Path ck = tmp.resolve("ck");
        try (TrainerTest.LinearRun run = TrainerTest.LinearRun.on(TrainerTest.blobs(200, 1), 0.0)) {
            CheckpointPolicy policy = new CheckpointPolicy(ck, 1, 0, 5, "linear", "blobs", Map.of());
            // lr 0: the validation loss never improves after epoch 1, so patience 2 stops after epoch 3 of 10
            Trainer.Result first = run.fit(new Trainer(run.be(), config).checkpoints(policy), LrSchedules.parse("constant"));
            assertTrue(first.stoppedEarly());
            assertEquals(3, first.epochs().size());
            Path last = Checkpoint.latest(ck).orElseThrow();
            TrainingState st = Checkpoint.readState(last);
            assertEquals(3, st.epoch());
            assertEquals(Boolean.TRUE, ((Map<?, ?>) st.config().get(Trainer.RESUME_KEY)).get("stopped_early"));
            assertEquals(null, ((Map<?, ?>) Checkpoint.readState(Checkpoint.latest(ck.resolve("best")).orElseThrow())
                    .config().get(Trainer.RESUME_KEY)).get("stopped_early"), "best/ is the epoch-1 state, before the stop");

            Trainer.Result again = run.fit(new Trainer(run.be(), config).checkpoints(policy)
                    .resumeFrom(Checkpoint.load(last, run.model(), run.opt())), LrSchedules.parse("constant"));
            assertTrue(again.stoppedEarly(), "it stays stopped");
            assertEquals(3, again.epochs().size(), "no epoch trained after the early stop: " + again.epochs());
            assertEquals(1, again.bestEpoch());
            assertEquals(last, Checkpoint.latest(ck).orElseThrow(), "no new checkpoint");
            assertTrue(again.seconds() >= fitSeconds(st));
        }
    }

    /** resumeFrom is for the next fit only: a second fit on the same Trainer is a new run, not the checkpoint's again. */
    @Test
    void aResumeAppliesToTheNextFitOnly(@TempDir Path tmp) {
        Dataset ds = TrainerTest.blobs(300, 1); // 8 steps per epoch, 3 epochs
        fit(ds, tmp.resolve("ck"), 16, null);   // stopped with a checkpoint after epoch 2
        Path ck = Checkpoint.latest(tmp.resolve("ck")).orElseThrow();
        int[][] split = DataLoader.split(ds.size(), 0.2, 7);
        List<Integer> started = new java.util.ArrayList<>();
        TrainListener epochs = new TrainListener() {
            @Override public void epochStarted(int epoch, int of, int steps) { started.add(epoch); }
        };
        try (CpuBackend be = new CpuBackend(2);
             Module model = model(be);
             Optimizer opt = Optimizers.create("adam", model.namedParameters(), 0.01, 0.9, 0);
             DataLoader train = new DataLoader(ds, split[0], 32, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(ds, split[1], 32, false, false, 7, 1, 4)) {
            Trainer t = new Trainer(be, CONFIG).resumeFrom(Checkpoint.load(ck, model, opt));
            assertEquals(3, t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("cosine"), train, val, epochs).epochs().size());
            assertEquals(List.of(3), started, "the resumed fit trains epoch 3");
            started.clear();
            assertEquals(3, t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("cosine"), train, val, epochs).epochs().size());
            assertEquals(List.of(1, 2, 3), started, "the next fit is a run of its own");
        }
    }

    @Test
    void parsesIntervals() {
        assertEquals(List.of(1L, 0L), List.of(CheckpointPolicy.parseEvery("1e")[0], CheckpointPolicy.parseEvery("1e")[1]));
        assertEquals(List.of(0L, 500L), List.of(CheckpointPolicy.parseEvery("500s")[0], CheckpointPolicy.parseEvery("500s")[1]));
        for (String bad : List.of("", "e", "0e", "5", "-3s", "2x", "1.5e"))
            assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> CheckpointPolicy.parseEvery(bad))
                    .getMessage().startsWith("checkpoint interval '" + bad + "'"), bad);
    }

    /**
     * A Java caller of CheckpointPolicy has no --keep or --checkpoint-every: its refusals name the record's keep and the
     * interval it was given; parseEvery(spec, option) names the command's option, as the CLI calls it.
     */
    @Test
    void checkpointPolicySpeaksInItsOwnTermsAndTheCommandsWhenAsked() {
        IllegalArgumentException keep = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new CheckpointPolicy(Path.of("ck"), 1, 0, 0, "m", "d", Map.of()));
        assertEquals("keep must be >= 1, got 0", keep.getMessage());
        String every = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> CheckpointPolicy.parseEvery("0e")).getMessage();
        assertEquals("checkpoint interval '0e': expected N epochs as 'Ne' (e.g. 1e) or N steps as 'Ns' (e.g. 500s), N >= 1, or 'off'", every);
        String option = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> CheckpointPolicy.parseEvery("0e", "--checkpoint-every")).getMessage();
        assertEquals("--checkpoint-every '0e': expected N epochs as 'Ne' (e.g. 1e) or N steps as 'Ns' (e.g. 500s), N >= 1, or 'off'", option);
    }
}
