package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
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
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The library's Learner: an optimiser gets its own defaults, as on the command line, and bad settings fail where they are made. */
class LearnerTest {
    static Module model(CpuBackend be) {
        return new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
    }

    /** The first layer's weights after one epoch with the Learner as {@code setup} configures it. */
    static float[] trained(Dataset ds, UnaryOperator<Learner> setup) {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = setup.apply(new Learner(m).epochs(1).batchSize(32))) {
            l.fit(ds);
            return m.parameters().getFirst().toFloatArray();
        }
    }

    @Test
    void anOptimizerTakesItsOwnMomentumAndWeightDecay() {
        Dataset ds = TrainerTest.blobs(200, 1);
        // adam's weight decay is 0 (PyTorch's, the CLI's), not the SGD recipe's 5e-4 the Learner starts with
        float[] adam = trained(ds, l -> l.optimizer("adam", 1e-2));
        assertArrayEquals(trained(ds, l -> l.optimizer("adam", 1e-2).weightDecay(0).momentum(0)), adam);
        float[] decayed = trained(ds, l -> l.optimizer("adam", 1e-2).weightDecay(5e-4));
        assertFalse(java.util.Arrays.equals(decayed, adam), "weightDecay is used");
        assertArrayEquals(decayed, trained(ds, l -> l.weightDecay(5e-4).optimizer("adam", 1e-2)), "a setting holds whatever the order");
        // and the defaults come back with the next optimiser: sgd-nesterov's momentum 0.9 and weight decay 5e-4
        assertArrayEquals(trained(ds, l -> l.optimizer("sgd-nesterov", 0.05)),
                trained(ds, l -> l.optimizer("adam", 1e-2).optimizer("sgd-nesterov", 0.05)));
    }

    @Test
    void badSettingsFailWhereTheyAreMade() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32)) {
            IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                    () -> new Learner(new Sequential(new io.dltrain.runtime.nn.Flatten())));
            assertTrue(none.getMessage().contains("the model has no parameters"), none.getMessage());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.optimizer("adamm", 1e-3));
            assertTrue(e.getMessage().contains("unknown optimizer 'adamm'") && e.getMessage().contains("adamw"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> l.schedule("cosinus"));
            l.optimizer("adam", 1e-2).fit(TrainerTest.blobs(64, 2));
            // the optimiser exists now: its settings are fixed, its learning rate is not
            IllegalStateException s = assertThrows(IllegalStateException.class, () -> l.optimizer("sgd", 0.1));
            assertTrue(s.getMessage().contains("made by the first fit()"), s.getMessage());
            assertThrows(IllegalStateException.class, () -> l.weightDecay(0.1));
            assertThrows(IllegalStateException.class, () -> l.momentum(0.5));
            l.optimizer("adam", 1e-3).fit(TrainerTest.blobs(64, 2));
        }
    }

    /**
     * A setter called from another thread while a fit runs waits for it to end (Learner's lock), then sets the next
     * fit's value: without the lock it would race with the fit reading its settings.
     */
    @Test
    void aSetterDuringAFitWaitsForIt() throws Exception {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(2).batchSize(32)) {
            Thread[] setter = {null};
            boolean[] waiting = {false};
            l.listener(new TrainListener() {
                @Override public void epochStarted(int epoch, int epochs, int steps) {
                    if (epoch != 1) return;
                    setter[0] = Thread.ofPlatform().start(() -> l.epochs(1));
                    try { Thread.sleep(300); } catch (InterruptedException e) { throw new IllegalStateException(e); }
                    waiting[0] = setter[0].getState() == Thread.State.BLOCKED;
                }
            });
            Trainer.Result first = l.fit(TrainerTest.blobs(64, 2));
            setter[0].join(10_000);
            assertTrue(waiting[0], "the setter waited for the fit");
            assertEquals(2, first.epochs().size(), "the fit kept its own settings");
            assertEquals(1, l.fit(TrainerTest.blobs(64, 2)).epochs().size(), "and the next fit has the new ones");
        }
    }

    /** No batch to train on is said as such, not as a training run that diverged (the mean loss of no samples is NaN). */
    @Test
    void trainingDataWithoutABatchIsRefused() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.fit(TrainerTest.blobs(0, 1)));
            assertTrue(e.getMessage().equals("the training data blobs gives no batch to train on: it has no samples"), e.getMessage());
            try (var opt = new io.dltrain.runtime.optim.SGD(m.namedParameters(), 0.1);
                 var loader = new io.dltrain.runtime.data.DataLoader(TrainerTest.blobs(10, 1), null, 32, true, true, 7, 1, 4)) {
                IllegalArgumentException d = assertThrows(IllegalArgumentException.class, () -> new Trainer(be, TrainConfig.defaults())
                        .fit(m, new io.dltrain.runtime.nn.loss.CrossEntropyLoss(), opt, io.dltrain.runtime.optim.LrSchedules.parse("constant"),
                                loader, null, TrainListener.NONE));
                assertTrue(d.getMessage().contains("its 10 samples are fewer than one batch of 32"), d.getMessage());
            }
        }
    }

    /** fit() after close() names the Learner (it said "SGD was closed", or, before any fit, made an optimiser nobody frees). */
    @Test
    void fitAfterCloseIsRefused() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be)) {
            Learner never = new Learner(m).epochs(1).batchSize(32);
            never.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> never.fit(TrainerTest.blobs(64, 2)));
            assertTrue(e.getMessage().startsWith("fit(): this Learner was closed"), e.getMessage());
            Learner l = new Learner(m).epochs(1).batchSize(32);
            l.fit(TrainerTest.blobs(64, 2));
            long inUse = be.memoryInUse();
            l.close();
            l.close();
            assertEquals(inUse - 4 * m.parameterCount(), be.memoryInUse(), "sgd-nesterov's momentum buffers are freed, once");
            e = assertThrows(IllegalStateException.class, () -> l.fit(TrainerTest.blobs(64, 2)));
            assertTrue(e.getMessage().startsWith("fit(): this Learner was closed"), e.getMessage());
            assertEquals(64, l.evaluate(TrainerTest.blobs(64, 2)).samples(), "evaluate uses the model alone");
        }
    }

    /**
     * A model closed before (or while) a Learner uses it, e.g. when try-with-resources lists the Learner's model after
     * its use or a helper closes it, is refused in words that say the model was closed and what to do: each call said
     * only "tensor weight [16, 8] FP32 was used after close()", and new Learner(closedModel) was accepted.
     */
    @Test
    void aClosedModelIsRefusedNamingTheModel() {
        try (CpuBackend be = new CpuBackend(1)) {
            Module closed = model(be);
            closed.close();
            IllegalArgumentException made = assertThrows(IllegalArgumentException.class, () -> new Learner(closed));
            assertTrue(made.getMessage().startsWith("the model was closed") && made.getMessage().contains("0.weight"), made.getMessage());
            Module m = model(be);
            Learner l = new Learner(m).epochs(1).batchSize(32);
            m.close();
            Dataset ds = TrainerTest.blobs(64, 2);
            for (var call : List.<java.util.Map.Entry<String, org.junit.jupiter.api.function.Executable>>of(
                    java.util.Map.entry("fit", () -> l.fit(ds)), java.util.Map.entry("evaluate", () -> l.evaluate(ds)),
                    java.util.Map.entry("predict", () -> l.predict(ds, 0)))) {
                IllegalStateException e = assertThrows(IllegalStateException.class, call.getValue());
                assertTrue(e.getMessage().startsWith(call.getKey() + "(): the model was closed"), e.getMessage());
                assertTrue(e.getMessage().contains("0.weight") && e.getMessage().contains("close the model after the Learner"), e.getMessage());
            }
            l.close();
        }
    }

    /**
     * Two threads' predict calls take turns: the second thread's forward pass runs in evaluation mode even after the
     * first call has put the model back into training mode (it ran with dropout and batch statistics).
     */
    @Test
    void predictCallsFromTwoThreadsTakeTurns() throws Exception {
        var firstInForward = new java.util.concurrent.CountDownLatch(1);
        var secondInForward = new java.util.concurrent.CountDownLatch(1);
        var firstDone = new java.util.concurrent.CountDownLatch(1);
        var secondSawTraining = new java.util.concurrent.atomic.AtomicBoolean();
        Module probe = new Module() {
            @Override public io.dltrain.runtime.tensor.Tensor forward(io.dltrain.runtime.tensor.Tensor x) {
                try {
                    if (Thread.currentThread().getName().equals("first")) {
                        firstInForward.countDown();
                        secondInForward.await(300, java.util.concurrent.TimeUnit.MILLISECONDS); // the turn-taking Learner lets it wait in vain
                    } else {
                        secondInForward.countDown();
                        firstDone.await(5, java.util.concurrent.TimeUnit.SECONDS);
                        secondSawTraining.set(isTraining());
                    }
                } catch (InterruptedException e) { throw new IllegalStateException(e); }
                return x;
            }
        };
        try (CpuBackend be = new CpuBackend(1); Module m = new Sequential(new Linear(new Context(be, 3), 8, 3), probe); Learner l = new Learner(m)) {
            Dataset ds = TrainerTest.blobs(4, 1);
            Thread first = new Thread(() -> { l.predict(ds, 0); firstDone.countDown(); }, "first");
            Thread second = new Thread(() -> l.predict(ds, 1), "second");
            first.start();
            assertTrue(firstInForward.await(5, java.util.concurrent.TimeUnit.SECONDS));
            second.start();
            first.join();
            second.join();
            assertFalse(secondSawTraining.get(), "the second predict ran in training mode");
            assertTrue(m.isTraining(), "the model is back in training mode");
        }
    }

    /** A schedule whose minimum is above the base rate is refused (a cosine rose from 0.05 towards 1 without a word). */
    @Test
    void aScheduleMinimumAboveTheBaseRateIsRefused() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32).schedule("cosine:1")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.fit(TrainerTest.blobs(64, 2)));
            assertTrue(e.getMessage().startsWith("the learning-rate schedule cosine:1.0 has a minimum learning rate of 1.0, above the base"
                    + " learning rate 0.05"), e.getMessage());
            l.optimizer("sgd-nesterov", 1.0).fit(TrainerTest.blobs(64, 2)); // a minimum equal to the base rate: a constant rate
        }
    }

    /**
     * A learning rate of 0 trains nothing (PyTorch allows it; every schedule scales the base rate): the CLI prints a
     * notice, and a Learner says it to its listener's info, the library's channel for what a person should know about
     * a fit (early stopping, skipped steps), once per fit at a rate of 0 and not otherwise.
     */
    @Test
    void aLearningRateOfZeroIsSaidToTheListener() {
        List<String> said = new java.util.ArrayList<>();
        TrainListener listener = new TrainListener() {
            @Override public void info(String message) { said.add(message); }
        };
        try (CpuBackend be = new CpuBackend(1); Module m = model(be);
             Learner l = new Learner(m).epochs(1).batchSize(32).optimizer("sgd", 0).listener(listener)) {
            float[] before = m.parameters().getFirst().toFloatArray();
            l.fit(TrainerTest.blobs(64, 2));
            assertArrayEquals(before, m.parameters().getFirst().toFloatArray(), "a rate of 0 leaves the weights as they were");
            assertEquals(List.of("learning rate 0: the weights will not change (each optimiser step, weight decay included, is scaled by"
                    + " the learning rate; batch norm's running statistics still update); give a learning rate above 0 to train"), said);
            said.clear();
            l.optimizer("sgd", 0.05).fit(TrainerTest.blobs(64, 2));
            assertEquals(List.of(), said, "nothing to say at a rate above 0");
        }
    }

    /**
     * A momentum of 1 or more never decays the momentum buffer, so the optimiser usually diverges (PyTorch allows it):
     * the CLI gave a notice and a Learner nothing. It now says it to the listener's info, for an optimiser with a
     * momentum (sgd, sgd-nesterov, rmsprop), and nothing for adam, which has none, or at 0.9.
     */
    @Test
    void aMomentumOfOneOrMoreIsSaidToTheListener() {
        List<String> said = new java.util.ArrayList<>();
        TrainListener listener = new TrainListener() {
            @Override public void info(String message) { said.add(message); }
        };
        for (String opt : List.of("sgd", "adam")) {
            try (CpuBackend be = new CpuBackend(1); Module m = model(be);
                 Learner l = new Learner(m).epochs(1).batchSize(32).momentum(1.0).optimizer(opt, 1e-3).listener(listener)) {
                l.fit(TrainerTest.blobs(64, 2));
            }
        }
        assertEquals(List.of("momentum 1.0: with a momentum of 1 or more the momentum buffer never decays, so sgd usually diverges"
                + " (PyTorch allows it; the usual values are 0.9 to 0.99)"), said, "said for sgd once, not for adam");
        said.clear();
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32).momentum(0.9).listener(listener)) {
            l.fit(TrainerTest.blobs(64, 2));
        }
        assertEquals(List.of(), said);
    }

    /** A first fit refused before any step leaves the optimiser to be chosen (it said "made by the first fit()"), and frees it. */
    @Test
    void aRefusedFirstFitLeavesTheOptimiserOpen() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32)) {
            long inUse = be.memoryInUse();
            assertThrows(IllegalArgumentException.class, () -> l.fit(TrainerTest.blobs(0, 2)));
            assertEquals(inUse, be.memoryInUse());
            l.optimizer("adam", 1e-2).weightDecay(0).fit(TrainerTest.blobs(64, 2));
        }
    }

    /**
     * A null where the Learner needs a value fails at the call that passed it, naming the argument: optimizer(null, lr)
     * threw a NullPointerException without a message (List.of's contains), loss(null) and listener(null) were accepted
     * and the next fit threw a NullPointerException from inside the Trainer, and fit, evaluate and predict threw one
     * about a variable of theirs.
     */
    @Test
    void aNullArgumentIsRefusedWhereItIsPassed() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.optimizer(null, 0.1));
            assertTrue(e.getMessage().startsWith("optimizer name is null; valid names: ") && e.getMessage().contains("adamw"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> l.loss(null));
            assertTrue(e.getMessage().startsWith("loss(null):"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> l.listener(null));
            assertTrue(e.getMessage().startsWith("listener(null):") && e.getMessage().contains("TrainListener.NONE"), e.getMessage());
            for (var call : java.util.List.<Runnable>of(() -> l.fit(null), () -> l.evaluate(null), () -> l.predict(null, 0))) {
                e = assertThrows(IllegalArgumentException.class, call::run);
                assertTrue(e.getMessage().endsWith("the dataset is null"), e.getMessage());
            }
            // nothing was set: the Learner still trains with its defaults
            assertEquals(1, l.fit(TrainerTest.blobs(64, 2)).epochs().size());
        }
    }

    /**
     * predict with an index outside the dataset is refused by the Learner, whatever the dataset does: a split that is a
     * view over a larger array (here the first 32 of 64 samples) read past its end without a word, and predict returned
     * the probabilities of a sample of another split; other datasets threw their own ArrayIndexOutOfBoundsException.
     */
    @Test
    void predictOutsideTheDatasetIsRefused() {
        Dataset all = TrainerTest.blobs(64, 2);
        Dataset head = new Dataset() {
            public String name() { return "blobs/head"; }
            public int size() { return 32; }
            public io.dltrain.runtime.tensor.Shape sampleShape() { return all.sampleShape(); }
            public int numClasses() { return all.numClasses(); }
            public java.util.List<String> classNames() { return all.classNames(); }
            public int read(int i, float[] dst, int off) { return all.read(i, dst, off); }
        };
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m)) {
            assertEquals(3, l.predict(head, 31).length);
            for (int bad : new int[] {32, -1}) {
                IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> l.predict(head, bad));
                assertEquals("predict(): sample index " + bad + " is outside blobs/head, which has samples 0 to 31", e.getMessage());
            }
        }
    }

    /** blobs whose numClasses() and classNames() are the given ones (a dataset of one's own that gets them wrong). */
    static Dataset blobsClaiming(int classes, List<String> names) {
        Dataset all = TrainerTest.blobs(64, 2);
        return new Dataset() {
            public String name() { return "mine"; }
            public int size() { return all.size(); }
            public io.dltrain.runtime.tensor.Shape sampleShape() { return all.sampleShape(); }
            public int numClasses() { return classes; }
            public List<String> classNames() { return names; }
            public int read(int i, float[] dst, int off) { return all.read(i, dst, off); }
        };
    }

    /**
     * A dataset's numClasses() and classNames() were not held to each other: with 3 classes and 2 names, fit and
     * evaluate went on and the README's classNames().get(argmax) threw later; numClasses() 0 failed the first batch
     * with "sample 0 has label 0, outside [0, 0)". Both are refused at fit and evaluate, naming the dataset.
     */
    @Test
    void aDatasetsClassCountAndNamesMustAgree() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32)) {
            Dataset fewNames = blobsClaiming(3, List.of("a", "b"));
            for (var call : List.<java.util.function.Consumer<Dataset>>of(l::fit, l::evaluate)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> call.accept(fewNames));
                assertEquals("mine: numClasses() is 3 but classNames() has 2 names ([a, b]); a classification dataset needs one name per"
                        + " class (a prediction's class c is named classNames().get(c))", e.getMessage());
            }
            IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> l.fit(blobsClaiming(0, List.of())));
            assertEquals("mine: numClasses() is 0; a classification dataset needs at least one class (its labels are in"
                    + " [0, numClasses())); return the number of classes, or Task.REGRESSION from task() for real-valued targets", none.getMessage());
            assertTrue(l.evaluate(blobsClaiming(3, List.of("a", "b", "c"))).loss() > 0, "names that agree pass");
        }
    }

    /**
     * predict read its sample into a zeroed array without the loader's check of what the read wrote: a read that left
     * the last feature unwritten predicted from a 0 there without a word, where fit and evaluate refuse that sample.
     */
    @Test
    void predictOnASampleReadShortIsRefused() {
        // sample 5 leaves its last feature out
        Dataset shortRead = shortRead(i -> i == 5, i -> "sample " + i + " (row " + (i + 2) + ")");
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m)) {
            assertEquals(3, l.predict(shortRead, 4).length);
            io.dltrain.runtime.data.DataLoadException e = assertThrows(io.dltrain.runtime.data.DataLoadException.class, () -> l.predict(shortRead, 5));
            assertEquals("predict(): short: sample 5 (row 7) left element 7 of its 8 features unwritten: Dataset.read must write"
                    + " sampleShape().numel() = 8 floats for sample shape [8]", e.getMessage());
        }
    }

    /**
     * A read that throws in predict came out as the dataset's own exception ("disk gone"), naming neither the dataset nor
     * the sample, where fit and evaluate name both (DataLoadException); one that writes past its sample (a dataset whose
     * sampleShape() is smaller than what it writes) came out as a bare ArrayIndexOutOfBoundsException. Both are
     * DataLoadExceptions now, naming the dataset and the sample, the second saying that read writes too much.
     */
    @Test
    void predictOnASampleWhoseReadFailsNamesIt() {
        Dataset failing = new Dataset() {
            public String name() { return "failing"; }
            public int size() { return 4; }
            public io.dltrain.runtime.tensor.Shape sampleShape() { return io.dltrain.runtime.tensor.Shape.of(8); }
            public int numClasses() { return 3; }
            public List<String> classNames() { return List.of("a", "b", "c"); }
            public int read(int i, float[] dst, int off) {
                if (i == 1) throw new IllegalStateException("disk gone");
                java.util.Arrays.fill(dst, off, off + (i == 2 ? 9 : 8), 0.5f);   // sample 2: one float past its 8
                return 0;
            }
        };
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m)) {
            assertEquals(3, l.predict(failing, 0).length);
            io.dltrain.runtime.data.DataLoadException e = assertThrows(io.dltrain.runtime.data.DataLoadException.class, () -> l.predict(failing, 1));
            assertEquals("predict(): failing: reading sample 1 failed: java.lang.IllegalStateException: disk gone", e.getMessage());
            assertEquals("disk gone", e.getCause().getMessage());
            e = assertThrows(io.dltrain.runtime.data.DataLoadException.class, () -> l.predict(failing, 2));
            assertTrue(e.getMessage().startsWith("predict(): failing: reading sample 2 failed: java.lang.ArrayIndexOutOfBoundsException")
                    && e.getMessage().endsWith("; Dataset.read must write sampleShape().numel() = 8 floats from dstOffset, no more"
                    + " (sample shape [8]): does the dataset write more than its sampleShape()?"), e.getMessage());
        }
    }

    /**
     * Dataset.describe is the dataset's own code, and may fail (an index out of its own list of files): the loader's
     * messages fall back to "sample N" then, and so must predict's refusal of a short read, instead of answering with
     * describe's exception and losing what was wrong with the read.
     */
    @Test
    void predictOnASampleReadShortIsRefusedWhereDescribeFails() {
        // every sample leaves its last feature out
        Dataset shortRead = shortRead(i -> true, i -> { throw new IndexOutOfBoundsException("no file for sample " + i); });
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m)) {
            io.dltrain.runtime.data.DataLoadException e = assertThrows(io.dltrain.runtime.data.DataLoadException.class, () -> l.predict(shortRead, 5));
            assertEquals("predict(): short: sample 5 left element 7 of its 8 features unwritten: Dataset.read must write"
                    + " sampleShape().numel() = 8 floats for sample shape [8]", e.getMessage());
        }
    }

    /**
     * 64 blobs of 8 features, 3 classes, whose read leaves the last feature unwritten for the samples {@code isShort}
     * names, and whose {@link Dataset#describe} is {@code describe}.
     */
    private static Dataset shortRead(java.util.function.IntPredicate isShort, java.util.function.IntFunction<String> describe) {
        Dataset blobs = TrainerTest.blobs(64, 2);
        return new Dataset() {
            public String name() { return "short"; }
            public int size() { return 64; }
            public io.dltrain.runtime.tensor.Shape sampleShape() { return blobs.sampleShape(); }
            public int numClasses() { return 3; }
            public List<String> classNames() { return blobs.classNames(); }
            public int read(int i, float[] dst, int off) {
                float[] all = new float[8];
                int y = blobs.read(i, all, 0);
                System.arraycopy(all, 0, dst, off, isShort.test(i) ? 7 : 8);
                return y;
            }
            @Override public String describe(int i) { return describe.apply(i); }
        };
    }

    /** A Module subclass that keeps its second layer in a field but registers only the first. */
    static final class Unregistered extends Module {
        final Linear first, second;
        Unregistered(CpuBackend be) {
            first = addModule("first", new Linear(new Context(be, 3), 8, 16));
            second = new Linear(new Context(be, 4), 16, 3);   // addModule forgotten: PyTorch would register it on assignment
        }
        @Override public io.dltrain.runtime.tensor.Tensor forward(io.dltrain.runtime.tensor.Tensor x) { return second.forward(first.forward(x)); }
        @Override public void close() { super.close(); second.close(); }
    }

    /** Registers both layers, and keeps in fields a list of them and a frozen layer of its own (requiresGrad off). */
    static final class Registered extends Module {
        final Linear first, second, frozen;
        final java.util.List<Linear> both;
        Registered(CpuBackend be) {
            first = addModule("first", new Linear(new Context(be, 3), 8, 16));
            second = addModule("second", new Linear(new Context(be, 4), 16, 3));
            both = java.util.List.of(first, second);
            frozen = new Linear(new Context(be, 5), 8, 8);
            for (var p : frozen.parameters()) p.requiresGrad(false);
        }
        @Override public io.dltrain.runtime.tensor.Tensor forward(io.dltrain.runtime.tensor.Tensor x) { return second.forward(first.forward(x)); }
        @Override public void close() { super.close(); frozen.close(); }
    }

    /**
     * A layer kept in a field of a Module subclass without addModule (PyTorch registers it on assignment, Java does not)
     * is refused by the Learner, naming the field: it trained the registered layers alone, and the forgotten one kept
     * its random initial weights, without a word (nor was it saved or closed with the model).
     */
    @Test
    void aLayerThatWasNotRegisteredIsNamed() {
        try (CpuBackend be = new CpuBackend(1); Module bad = new Unregistered(be); Module good = new Registered(be)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Learner(bad));
            assertEquals("Unregistered.second holds Linear(16 -> 3), whose parameters the model does not list: it was not registered, so it"
                    + " would be neither trained, saved nor closed; register it in the constructor with addModule(\"second\", ...) (to keep"
                    + " it out of training on purpose, set its parameters' requiresGrad(false))", e.getMessage());
            try (Learner l = new Learner(good).epochs(1).batchSize(32)) {
                assertEquals(1, l.fit(TrainerTest.blobs(64, 2)).epochs().size());
            }
        }
    }

    /**
     * A model class in a named module (a user's module-info.java that exports its package but does not open it) could not
     * have its private fields read, so the unregistered-layer check passed over them and new Learner(model) accepted a
     * layer that was never registered, without a word (on the class path the same model is refused). The field is named
     * now, with the opens clause that lets the check run. The module (usermodel.Forgot) is defined here, in a layer of its own.
     */
    @Test
    void aModelInAModuleThatDoesNotOpenItsPackageIsNamed(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        String pkg = writeUserModule(tmp);
        var cfg = ModuleLayer.boot().configuration().resolve(java.lang.module.ModuleFinder.of(tmp), java.lang.module.ModuleFinder.of(),
                java.util.Set.of("usermodel"));
        var controller = ModuleLayer.defineModulesWithOneLoader(cfg, List.of(ModuleLayer.boot()), LearnerTest.class.getClassLoader());
        java.lang.Module user = controller.layer().findModule("usermodel").orElseThrow();
        controller.addReads(user, LearnerTest.class.getClassLoader().getUnnamedModule());
        Class<?> forgot = controller.layer().findLoader("usermodel").loadClass(pkg + ".Forgot");
        assertEquals(user, forgot.getModule(), "defined in the named module");
        try (CpuBackend be = new CpuBackend(1); Module m = (Module) forgot.getConstructor(Context.class).newInstance(new Context(be, 1))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Learner(m));
            assertTrue(e.getMessage().startsWith("Forgot.a (a Linear field) cannot be read to check that its layer or weight is registered:"
                    + " package " + pkg + " is in module usermodel, which does not open it to dl-train; add 'opens " + pkg + ";'"), e.getMessage());
            assertFalse(e.getMessage().contains("--add-opens"), "a layer of its own is no module of the boot layer: " + e.getMessage());
        }
    }

    /**
     * usermodel.Forgot's module, as a directory of the module path in {@code dir}: Forgot's class file and a
     * module-info.class that exports its package but does not open it. Returns the package.
     */
    static String writeUserModule(java.nio.file.Path dir) throws java.io.IOException {
        String pkg = "io.dltrain.runtime.train.usermodel", cls = pkg.replace('.', '/') + "/Forgot.class";
        java.nio.file.Path classFile = java.nio.file.Files.createDirectories(dir.resolve(pkg.replace('.', '/'))).resolve("Forgot.class");
        try (var in = LearnerTest.class.getClassLoader().getResourceAsStream(cls)) {
            java.nio.file.Files.write(classFile, in.readAllBytes());
        }
        java.nio.file.Files.write(dir.resolve("module-info.class"), java.lang.classfile.ClassFile.of().buildModule(
                java.lang.classfile.attribute.ModuleAttribute.of(java.lang.constant.ModuleDesc.of("usermodel"), m -> m
                        .requires(java.lang.constant.ModuleDesc.of("java.base"), java.lang.reflect.AccessFlag.MANDATED.mask(), null)
                        .exports(java.lang.constant.PackageDesc.of(pkg), 0))));
        return pkg;
    }

    /**
     * The same module on an application's module path (the boot layer), e.g. a library's base class that the user cannot
     * recompile: its module-info cannot get the opens clause there, so the message also gives java's --add-opens option,
     * which opens the package without changing the module (it only said to edit module-info.java). With that option, as
     * given, the check reads the fields and names the unregistered layer. Run in a JVM of its own (NewLearnerOfForgot).
     */
    @Test
    void aModelInABootLayerModuleIsToldTheAddOpensOptionToo(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        String pkg = writeUserModule(tmp);
        String addOpens = "--add-opens usermodel/" + pkg + "=ALL-UNNAMED"; // dl-train is on the class path here
        List<String> jvm = List.of(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--module-path", tmp.toString(), "--add-modules", "usermodel", "--add-reads", "usermodel=ALL-UNNAMED",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"));
        String main = NewLearnerOfForgot.class.getName();
        Child r = child(java.util.stream.Stream.concat(jvm.stream(), java.util.stream.Stream.of(main)).toList());
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.out().startsWith("refused: Forgot.a (a Linear field) cannot be read") && r.out().contains("add 'opens " + pkg + ";'")
                && r.out().contains("or, without changing that module, run java with " + addOpens), r.out());
        r = child(java.util.stream.Stream.concat(jvm.stream(), java.util.stream.Stream.of(addOpens.split(" ")[0], addOpens.split(" ")[1], main)).toList());
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.out().startsWith("refused: Forgot.b holds Linear") && r.out().contains("it was not registered"), r.out());
    }

    record Child(int exit, String out) {}

    /** Runs cmd (a JVM), its stdout and stderr together. */
    static Child child(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)) { p.destroyForcibly(); throw new AssertionError("timed out: " + cmd); }
        return new Child(p.exitValue(), new String(out, java.nio.charset.StandardCharsets.UTF_8));
    }

    /** For {@link #aModelInABootLayerModuleIsToldTheAddOpensOptionToo}: new Learner(usermodel.Forgot), and what refuses it. */
    public static final class NewLearnerOfForgot {
        public static void main(String[] args) throws Exception {
            Class<?> forgot = Class.forName("io.dltrain.runtime.train.usermodel.Forgot");
            if (!forgot.getModule().isNamed()) throw new AssertionError("Forgot is not in its module: " + forgot.getModule());
            try (CpuBackend be = new CpuBackend(1); Module m = (Module) forgot.getConstructor(Context.class).newInstance(new Context(be, 1))) {
                new Learner(m).close();
                System.out.println("accepted");
            } catch (IllegalArgumentException e) {
                System.out.println("refused: " + e.getMessage());
            }
        }
    }

    /** Keeps its layers in a Map field (by name, as a Python dict of layers), registering only the first. */
    static final class InAMap extends Module {
        final java.util.Map<String, Linear> layers = new java.util.LinkedHashMap<>();
        InAMap(CpuBackend be) {
            layers.put("first", addModule("first", new Linear(new Context(be, 3), 8, 16)));
            layers.put("second", new Linear(new Context(be, 4), 16, 3));   // addModule forgotten
        }
        @Override public io.dltrain.runtime.tensor.Tensor forward(io.dltrain.runtime.tensor.Tensor x) {
            return layers.get("second").forward(layers.get("first").forward(x));
        }
        @Override public void close() { super.close(); layers.get("second").close(); }
    }

    /**
     * The unregistered-layer check ran only in new Learner(model): Trainer.fit (the README's hand-written loop, the CLI)
     * trained the registered layers alone without a word, and a layer kept in a Map field was not looked into. Both
     * now refuse it, naming the field (Module.unregistered).
     */
    @Test
    void trainerFitAndMapFieldsAreCheckedForUnregisteredLayers() {
        Dataset ds = TrainerTest.blobs(64, 2);
        try (CpuBackend be = new CpuBackend(1); Module bad = new Unregistered(be); Module inMap = new InAMap(be);
             DataLoader train = new DataLoader(ds, null, 32, true, false, 7, 1, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Learner(inMap));
            assertTrue(e.getMessage().startsWith("InAMap.layers holds Linear(16 -> 3), whose parameters the model does not list: it was not"
                    + " registered"), e.getMessage());
            for (Module m : List.of(bad, inMap)) {
                try (Optimizer opt = Optimizers.create("sgd", m.namedParameters(), 0.1, 0.9, 0)) {
                    Trainer t = new Trainer(be, TrainerTest.config(1, 0.1, 0));
                    e = assertThrows(IllegalArgumentException.class,
                            () -> t.fit(m, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE));
                    assertTrue(e.getMessage().contains("holds Linear(16 -> 3), whose parameters the model does not list: it was not registered"),
                            e.getMessage());
                }
            }
        }
    }

    /**
     * A model with fewer outputs than the dataset has classes (Linear(16, 2) for 3 classes) failed only when a label
     * fell outside its outputs, in the loss, with a message about a label and logits; and a regression model of more
     * than one output was refused by the loss's shapes. Both are refused at the first forward, naming both counts.
     */
    @Test
    void aModelWhoseOutputsDoNotFitTheDataIsRefused() {
        try (CpuBackend be = new CpuBackend(1);
             Module two = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 2));
             Learner l = new Learner(two).epochs(1).batchSize(32)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.fit(TrainerTest.blobs(64, 2)));
            assertEquals("the model gives 2 outputs per sample (output [32, 2]), but blobs has 3 classes: a classifier needs one"
                    + " output per class; make its last layer give 3 (e.g. Linear(..., 3))", e.getMessage());
            IllegalArgumentException ev = assertThrows(IllegalArgumentException.class, () -> l.evaluate(TrainerTest.blobs(64, 2)));
            assertEquals(e.getMessage(), ev.getMessage());
        }
        float[] x = new float[16 * 8], y = new float[16];
        try (CpuBackend be = new CpuBackend(1); Module three = model(be);
             Learner l = new Learner(three).task(Task.REGRESSION).epochs(1).batchSize(8)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.fit(TrainerTaskTest.regression(16, 8, x, y)));
            assertEquals("the model gives 3 outputs per sample (output [8, 3]), but regression-test is a regression dataset with one"
                    + " real-valued target per sample: the model needs one output; make its last layer give 1 (e.g. Linear(..., 1))",
                    e.getMessage());
        }
    }
    /**
     * predict on a regression dataset by a Learner left at its default task (classification: a Learner made anew to
     * predict with a trained regression model, task(Task.REGRESSION) forgotten) returned the softmax of the model's one
     * output, [1.0], for every sample, without a word; fit and evaluate refuse that pair. predict refuses it too, and
     * with the task set it returns the model's output.
     */
    @Test
    void predictOnARegressionDatasetNeedsTheRegressionTask() {
        float[] x = new float[16 * 8], y = new float[16];
        for (int i = 0; i < x.length; i++) x[i] = (i % 7) - 3f;
        Dataset houses = TrainerTaskTest.regression(16, 8, x, y);
        try (CpuBackend be = new CpuBackend(1); Module one = new Sequential(new Linear(new Context(be, 3), 8, 1)); Learner l = new Learner(one)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.predict(houses, 2));
            assertEquals("predict(): regression-test is a regression dataset (real-valued targets), but this Learner's task is"
                    + " classification, which would return the softmax of the model's output (1.0 for one output); call"
                    + " task(Task.REGRESSION) first", e.getMessage());
            float[] p = l.task(Task.REGRESSION).predict(houses, 2);
            float want = one.parameters().get(1).toFloatArray()[0];
            float[] w = one.parameters().getFirst().toFloatArray();
            for (int k = 0; k < 8; k++) want += w[k] * x[2 * 8 + k];
            assertEquals(1, p.length);
            assertEquals(want, p[0], 1e-5f * (1 + Math.abs(want)), "the model's output as it is");
        }
    }
    /**
     * The Learner had no way to clip gradients (it trained with clip norm 0, always), the usual recipe for recurrent
     * models, which the command line has as --clip-norm; a fit that diverged told its caller "Try a lower --lr, or
     * --clip-norm 1", an option a library user did not have. clipNorm(c) clips every step's gradients to global norm c,
     * as torch.nn.utils.clip_grad_norm_: one plain SGD step (lr 1, no momentum or weight decay) moves the weights by the
     * clipped gradient, a vector of norm c; 0 turns clipping off again; a negative or infinite norm is refused there.
     */
    @Test
    void clipNormClipsEachStepsGradients() {
        Dataset ds = TrainerTest.blobs(32, 5);
        float[][] before = weights(ds, l -> l.epochs(1).batchSize(1000).optimizer("sgd", 0.0));
        float[][] free = weights(ds, l -> l.epochs(1).batchSize(1000).optimizer("sgd", 1.0).momentum(0).weightDecay(0));
        float[][] clipped = weights(ds, l -> l.epochs(1).batchSize(1000).optimizer("sgd", 1.0).momentum(0).weightDecay(0).clipNorm(1e-3));
        float[][] off = weights(ds, l -> l.clipNorm(1e-3).clipNorm(0).epochs(1).batchSize(1000).optimizer("sgd", 1.0).momentum(0).weightDecay(0));
        assertTrue(distance(before, free) > 0.01, "the unclipped step is larger than the clip norm: " + distance(before, free));
        assertEquals(1e-3, distance(before, clipped), 1e-5, "one step of lr 1 moves the weights by the clipped gradient");
        assertEquals(distance(before, free), distance(before, off), 1e-6, "clipNorm(0) is off");
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.clipNorm(-1));
            assertTrue(e.getMessage().contains("clip norm must be a finite number >= 0 (0 is off), got -1.0"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> l.clipNorm(Double.POSITIVE_INFINITY));
        }
    }

    /** Every parameter's values after one fit with the Learner as {@code setup} configures it. */
    static float[][] weights(Dataset ds, UnaryOperator<Learner> setup) {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = setup.apply(new Learner(m))) {
            l.fit(ds);
            return m.parameters().stream().map(p -> p.toFloatArray()).toArray(float[][]::new);
        }
    }

    /** The 2-norm of a - b over all parameters together. */
    static double distance(float[][] a, float[][] b) {
        double s = 0;
        for (int p = 0; p < a.length; p++) for (int i = 0; i < a[p].length; i++) s += (double) (a[p][i] - b[p][i]) * (a[p][i] - b[p][i]);
        return Math.sqrt(s);
    }
    /**
     * A Learner's fit that diverged ended with the Trainer's advice for the command line, "Try a lower --lr, or
     * --clip-norm 1, or --skip-nonfinite": flags a library caller has no use for, one of which the Learner does not have
     * at all. It names the Learner's own calls instead; the command line's words are unchanged (FinetuneTest,
     * TrainerNonFiniteTest).
     */
    @Test
    void aDivergedFitAdvisesTheLearnersOwnSettings() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32).optimizer("sgd", 1e30)) {
            TrainingDivergedException e = assertThrows(TrainingDivergedException.class, () -> l.fit(TrainerTest.blobs(200, 1)));
            assertTrue(e.getMessage().startsWith("training diverged: "), e.getMessage());
            assertTrue(e.getMessage().endsWith(". Try a lower learning rate (optimizer(name, lr)), or clipNorm(1)"), e.getMessage());
            assertFalse(e.getMessage().contains("--"), e.getMessage());
        }
    }

    /**
     * schedule("plateau") was taken, and the fit then refused it with the command line's words: "... this run has no
     * validation data; give it some (--val-fraction) or choose another --schedule", though a Learner fits without
     * validation data and has neither. schedule() refuses it at once in the Learner's words; the command line keeps
     * its own (Trainer.withoutValidationOnTheCommandLine).
     */
    @Test
    void aPlateauScheduleIsRefusedInTheLearnersWords() {
        try (CpuBackend be = new CpuBackend(1); Module m = model(be); Learner l = new Learner(m).epochs(1).batchSize(32)) {
            for (String spec : List.of("plateau", "plateau:0.5:3")) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.schedule(spec));
                assertTrue(e.getMessage().startsWith("schedule(\"" + spec + "\"): the learning-rate schedule plateau"), e.getMessage());
                assertTrue(e.getMessage().contains("a Learner fits without validation data"), e.getMessage());
                assertFalse(e.getMessage().contains("--"), e.getMessage());
            }
            assertEquals(1, l.schedule("cosine").fit(TrainerTest.blobs(64, 1)).epochs().size(), "another schedule trains");
        }
    }
}
