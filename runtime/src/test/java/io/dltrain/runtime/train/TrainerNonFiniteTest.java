package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.data.DataLoadException;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Non-finite losses: a batch holding a NaN sample makes its loss and every gradient NaN. Without --skip-nonfinite the
 * fit stops at that step, naming it and the first parameter with a non-finite gradient, after checkpointing the state
 * before it; with it, exactly the poisoned batches are skipped and the weights stay finite.
 */
class TrainerNonFiniteTest {
    /** Samples 40 and 200 of 320 are NaN: without shuffling, batches of 32 number 2 and 7 (1-based) are poisoned. */
    static Dataset poisoned() {
        Dataset blobs = TrainerTest.blobs(320, 1);
        Set<Integer> bad = Set.of(40, 200);
        return new Dataset() {
            public String name() { return "poisoned-blobs"; }
            public int size() { return blobs.size(); }
            public Shape sampleShape() { return blobs.sampleShape(); }
            public int numClasses() { return blobs.numClasses(); }
            public List<String> classNames() { return blobs.classNames(); }
            public int read(int i, float[] dst, int off) {
                int y = blobs.read(i, dst, off);
                if (bad.contains(i)) dst[off + 3] = Float.NaN;
                return y;
            }
        };
    }

    static TrainConfig config() { return new TrainConfig(2, 32, 0.05, "sgd", 0.9, 0, "constant", 0f, 0f, 7, 0, 0, 0.0, 1); }

    @Test
    void skipsExactlyThePoisonedSteps() {
        try (CpuBackend be = new CpuBackend(2);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(poisoned(), null, 32, false, false, 7, 1, 4)) {
            List<String> said = new java.util.ArrayList<>();
            Trainer.Result r = new Trainer(be, config()).skipNonfinite(true)
                    .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, new TrainListener() {
                        @Override public void info(String message) { said.add(message); }
                    });
            assertEquals(2, r.epochs().size());
            assertTrue(said.contains("epoch 1: skipped 2 of 10 steps with a non-finite loss (skipNonfinite(true))"), said.toString());
            for (EpochMetrics m : r.epochs()) {
                assertEquals(2, m.skippedSteps(), "epoch " + m.epoch());
                assertTrue(Double.isFinite(m.trainLoss()), "the loss is over the 8 good steps: " + m.trainLoss());
            }
            assertEquals(16, opt.stepCount(), "2 epochs x (10 steps - 2 skipped)");
            for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet())
                for (float v : e.getValue().toFloatArray()) assertTrue(Float.isFinite(v), e.getKey());
        }
    }

    @Test
    void aMidEpochResumeKeepsTheEpochsSkippedCount(@TempDir Path dir) {
        // stop after 5 steps of epoch 1 (one of them, step 2, skipped), resume into fresh objects: epoch 1 still counts 2
        try (CpuBackend be = new CpuBackend(2);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(poisoned(), null, 32, false, false, 7, 1, 4)) {
            Trainer.Result r = new Trainer(be, config()).skipNonfinite(true).maxSteps(5)
                    .checkpoints(new CheckpointPolicy(dir, 1, 0, 2, "m", "d", Map.of()))
                    .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE);
            assertTrue(r.interrupted());
        }
        Path ck = Checkpoint.latest(dir).orElseThrow();
        try (CpuBackend be = new CpuBackend(2);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(poisoned(), null, 32, false, false, 7, 1, 4)) {
            var st = Checkpoint.load(ck, model, opt);
            Trainer.Result r = new Trainer(be, config()).skipNonfinite(true).resumeFrom(st)
                    .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE);
            assertEquals(2, r.epochs().size());
            assertEquals(2, r.epochs().get(0).skippedSteps());
            assertEquals(2, r.epochs().get(1).skippedSteps());
            assertEquals(16, opt.stepCount());
        }
    }

    @Test
    void stopsAtTheFirstPoisonedStepWithACheckpointOfTheStateBefore(@TempDir Path dir) {
        try (CpuBackend be = new CpuBackend(2);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(poisoned(), null, 32, false, false, 7, 1, 4)) {
            Trainer t = new Trainer(be, config()).checkpoints(new CheckpointPolicy(dir, 1, 0, 2, "m", "d", Map.of()));
            TrainingDivergedException e = assertThrows(TrainingDivergedException.class, () ->
                    t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE));
            assertTrue(e.getMessage().contains("the loss is NaN at epoch 1, step 2 (global step 2"), e.getMessage());
            assertTrue(e.getMessage().contains("the first non-finite gradient is 0.weight [16, 8]"), e.getMessage());
            // in a Trainer's terms: a Java caller has no --lr, --clip-norm or --skip-nonfinite (commandLineAdvice() says those)
            assertTrue(e.getMessage().endsWith(". Try a lower learning rate (the TrainConfig's lr), or clipNorm 1 in the TrainConfig,"
                    + " or skipNonfinite(true)"), e.getMessage());
            assertFalse(e.getMessage().contains("--"), e.getMessage());
            assertEquals(1, opt.stepCount(), "the optimiser did not step on the NaN gradients");
            Path ck = Checkpoint.latest(dir).orElseThrow();
            assertEquals(1, Checkpoint.readState(ck).step());
        }
    }

    /** A NaN in the batch's input is named as the cause; a run that diverges on finite data does not blame the data. */
    @Test
    void aNonFiniteInputIsNamedAsTheCause() {
        String hint = "the batch's input itself holds a NaN or infinite value: check the data";
        for (boolean poisonedData : new boolean[] {true, false}) {
            try (CpuBackend be = new CpuBackend(2);
                 Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
                 Optimizer opt = Optimizers.create("sgd", model.namedParameters(), poisonedData ? 0.05 : 1e30, 0.9, 0);
                 DataLoader train = new DataLoader(poisonedData ? poisoned() : TrainerTest.blobs(320, 1), null, 32, false, false, 7, 1, 4)) {
                TrainConfig c = config();
                TrainConfig cfg = new TrainConfig(c.epochs(), c.batchSize(), opt.lr(), c.optimizer(), c.momentum(), c.weightDecay(),
                        c.schedule(), 0f, 0f, c.seed(), 0, 0, 0.0, 1);
                TrainingDivergedException e = assertThrows(TrainingDivergedException.class, () -> new Trainer(be, cfg)
                        .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE));
                assertEquals(poisonedData, e.getMessage().contains(hint), e.getMessage());
            }
        }
    }

    /**
     * The sample with a non-finite feature is named as the dataset describes it, and as "sample N" where the dataset's
     * describe itself fails (it is the dataset's own code), not with describe's exception in place of the message.
     */
    @Test
    void evaluateNamesASampleWithANonFiniteFeatureWhereDescribeFails() {
        Dataset poisoned = poisoned();
        Dataset undescribed = new Dataset() {
            public String name() { return poisoned.name(); }
            public int size() { return poisoned.size(); }
            public Shape sampleShape() { return poisoned.sampleShape(); }
            public int numClasses() { return poisoned.numClasses(); }
            public List<String> classNames() { return poisoned.classNames(); }
            public int read(int i, float[] dst, int off) { return poisoned.read(i, dst, off); }
            @Override public String describe(int i) { throw new IndexOutOfBoundsException("no file for sample " + i); }
        };
        try (CpuBackend be = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             Learner l = new Learner(model)) {
            DataLoadException e = assertThrows(DataLoadException.class, () -> l.evaluate(undescribed));
            assertEquals("cannot evaluate on poisoned-blobs: sample 40 has a non-finite feature (element 3 of 8 is NaN), which makes the"
                    + " loss NaN; check the data (fit stops on such a sample too)", e.getMessage());
        }
    }

    /**
     * evaluate over data with a NaN feature returned a NaN loss without a word, where fit stops naming the input: it now
     * names the first such sample in the evaluated order (here a subset loader of samples 100 to 319: sample 200).
     * A model whose own weights are NaN is evaluated as before (NaN loss), the data not blamed.
     */
    @Test
    void evaluateNamesASampleWithANonFiniteFeature() {
        try (CpuBackend be = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             Learner l = new Learner(model)) {
            DataLoadException e = assertThrows(DataLoadException.class, () -> l.evaluate(poisoned()));
            assertEquals("cannot evaluate on poisoned-blobs: sample 40 has a non-finite feature (element 3 of 8 is NaN), which makes the"
                    + " loss NaN; check the data (fit stops on such a sample too)", e.getMessage());
            int[] tail = java.util.stream.IntStream.range(100, 320).toArray();
            try (DataLoader part = new DataLoader(poisoned(), tail, 32, false, false, 7, 1, 4)) {
                DataLoadException p = assertThrows(DataLoadException.class,
                        () -> new Trainer(be, config()).evaluate(model, part, new CrossEntropyLoss(0f)));
                assertTrue(p.getMessage().startsWith("cannot evaluate on poisoned-blobs: sample 200 has"), p.getMessage());
            }
            be.fill(model.parameters().getFirst(), Float.NaN);
            assertTrue(Double.isNaN(l.evaluate(TrainerTest.blobs(64, 1)).loss()), "NaN weights: the data is fine");
        }
    }

    /**
     * A NaN feature in the validation split gave a NaN validation loss, epoch after epoch, without naming the sample
     * (evaluate names it; a training batch stops the fit naming the input): no best epoch, no early stop, no plateau. The
     * fit now stops at that epoch's validation, naming the first such sample, with the epoch's training checkpointed
     * before its validation (as when a validation sample cannot be read: a resume validates again); with
     * --skip-nonfinite it goes on, and says so once. Here samples 0-189 and 211-319 train (not 40: its batch would stop
     * the fit first), 190-209 validate: sample 200 is NaN.
     */
    @Test
    void aNonFiniteValidationSampleIsNamedAndTheEpochsTrainingCheckpointed(@TempDir Path dir) {
        int[] trainIdx = java.util.stream.IntStream.range(0, 320).filter(i -> i != 40 && (i < 190 || i >= 210)).toArray();
        int[] valIdx = java.util.stream.IntStream.range(190, 210).toArray();
        for (boolean skip : new boolean[] {false, true}) {
            try (CpuBackend be = new CpuBackend(1);
                 Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
                 Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
                 DataLoader train = new DataLoader(poisoned(), trainIdx, 32, false, false, 7, 1, 4);
                 DataLoader val = new DataLoader(poisoned(), valIdx, 32, false, false, 7, 1, 4)) {
                Path ck = dir.resolve("skip-" + skip);
                Trainer t = new Trainer(be, config()).skipNonfinite(skip).checkpoints(new CheckpointPolicy(ck, 1, 0, 2, "m", "d", Map.of()));
                List<String> said = new java.util.ArrayList<>();
                TrainListener l = new TrainListener() {
                    @Override public void info(String message) { said.add(message); }
                };
                String named = "validation of epoch 1 on poisoned-blobs: sample 200 has a non-finite feature (element 3 of 8 is NaN),"
                        + " which makes the validation loss NaN";
                if (!skip) {
                    DataLoadException e = assertThrows(DataLoadException.class, () ->
                            t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, val, l));
                    assertTrue(e.getMessage().startsWith(named + "; check the data (or go on with skipNonfinite(true)); epoch 1's training is"
                            + " checkpointed (before its validation) in " + e.checkpoint()), e.getMessage());
                    var st = Checkpoint.readState(e.checkpoint());
                    assertEquals(0, st.epoch(), "epoch 1 not validated");
                    assertEquals(train.batchesPerEpoch(), st.step(), "every step of epoch 1 trained and kept");
                } else {
                    Trainer.Result r = t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, val, l);
                    assertEquals(2, r.epochs().size());
                    assertTrue(Double.isNaN(r.epochs().get(1).valLoss()));
                    assertEquals(1, said.stream().filter(m -> m.startsWith(named + "; going on (skipNonfinite(true))")).count(), "said once: " + said);
                }
            }
        }
    }
}
