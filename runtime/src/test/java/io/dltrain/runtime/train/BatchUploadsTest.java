package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.AsyncUpload;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.nn.Tanh;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.nn.loss.Loss;
import io.dltrain.runtime.nn.loss.MSELoss;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trainer's batch uploads on a backend with {@link AsyncUpload}, simulated on the CPU: a {@link CpuBackend} behind a
 * proxy whose async copy lands in the destination only at {@code await()} (until then the destination holds NaN, or -1
 * for labels), as on a GPU where the copy stream runs behind the host. Checked: the upload of batch k+1 is queued
 * before the forward pass of step k, every batch is awaited before the model reads it, a stop or an exception leaves no
 * batch or copy behind (memory in use back to its baseline), a resume uploads only the batches it trains on, and every
 * task trains bit for bit as with the synchronous uploads of the plain CPU backend.
 */
class BatchUploadsTest {
    static final int B = 8, F = 4, BATCHES = 4;

    /**
     * A CpuBackend that also implements {@link AsyncUpload}. Each async copy snapshots its source at once (the
     * contract: the caller may reuse the host array when the call returns), poisons dst, and writes dst at await().
     * {@link #log} records "upload NAME" and "await NAME", NAME being x&lt;batch&gt; (from the order dataset's first
     * feature) or y&lt;label&gt;.
     */
    static final class FakeAsync implements InvocationHandler {
        final CpuBackend cpu;
        final Backend backend;
        final List<String> log;
        final List<Copy> copies = new ArrayList<>();
        final List<String> errors = new ArrayList<>();
        /** Copies whose await() throws (as on a GPU whose context died), by NAME. */
        final java.util.Set<String> failing = new java.util.HashSet<>();

        FakeAsync(CpuBackend cpu, List<String> log) {
            this.cpu = cpu;
            this.log = log;
            this.backend = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
                    new Class<?>[] {Backend.class, AsyncUpload.class}, this);
        }

        final class Copy implements AsyncUpload.Pending {
            final float[] f;
            final int[] i;
            final Tensor dst;
            final String name;
            boolean done;

            Copy(float[] f, int[] i, Tensor dst) {
                this.f = f;
                this.i = i;
                this.dst = dst;
                this.name = f != null ? "x" + (int) f[0] / B : "y" + i[0];
                if (f != null) cpu.fill(dst, Float.NaN);
                else { int[] bad = new int[i.length]; Arrays.fill(bad, -1); cpu.copyFromHost(bad, 0, dst); }
                log.add("upload " + name);
            }

            @Override
            public void await() {
                if (done) return;
                done = true;
                if (dst.isClosed()) { errors.add(name + " was closed before its copy was awaited"); return; }
                if (failing.contains(name)) {
                    log.add("await-failed " + name);
                    throw new IllegalStateException("copy " + name + " failed (fake)");
                }
                if (f != null) cpu.copyFromHost(f, 0, dst);
                else cpu.copyFromHost(i, 0, dst);
                log.add("await " + name);
            }
        }

        @Override
        public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
            if (m.getDeclaringClass() == AsyncUpload.class) {
                int off = (Integer) args[1];
                Tensor dst = (Tensor) args[2];
                int n = (int) dst.numel();
                Copy c = args[0] instanceof float[] f
                        ? new Copy(Arrays.copyOfRange(f, off, off + n), null, dst)
                        : new Copy(null, Arrays.copyOfRange((int[]) args[0], off, off + n), dst);
                copies.add(c);
                return c;
            }
            try {
                return m.invoke(cpu, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }

        /** Every copy awaited before its tensor was closed, and every uploaded tensor closed. */
        void assertNothingLeft() {
            assertTrue(errors.isEmpty(), errors.toString());
            for (Copy c : copies) {
                assertTrue(c.done, "copy " + c.name + " was never awaited");
                assertTrue(c.dst.isClosed(), "the tensor of " + c.name + " was never closed");
            }
        }
    }

    /** Records "forward x&lt;batch&gt;" from its input's first value (NaN: the copy was not awaited), and passes x on. */
    static final class Recorder extends Module {
        final List<String> log;

        Recorder(List<String> log) { this.log = log; }

        @Override
        public Tensor forward(Tensor x) {
            float v = x.toFloatArray()[0];
            log.add("forward " + (Float.isNaN(v) ? "x? (not awaited)" : "x" + (int) v / B));
            return x;
        }
    }

    /** BATCHES batches of B unshuffled samples: sample s has first feature s and label s / B (its batch). */
    static Dataset ordered() {
        return new Dataset() {
            public String name() { return "ordered"; }
            public int size() { return B * BATCHES; }
            public Shape sampleShape() { return Shape.of(F); }
            public int numClasses() { return BATCHES; }
            public List<String> classNames() { return List.of("0", "1", "2", "3"); }
            public int read(int i, float[] dst, int off) {
                dst[off] = i;
                for (int k = 1; k < F; k++) dst[off + k] = (float) Math.sin(i * k);
                return i / B;
            }
        };
    }

    static Module recordedModel(CpuBackend cpu, List<String> log) {
        return new Sequential(new Recorder(log), new Linear(new Context(cpu, 3), F, BATCHES));
    }

    static TrainConfig config(int epochs) { return new TrainConfig(epochs, B, 0.001, "sgd", 0.9, 0, "constant", 0f, 0f, 7, 0, 0, 0.0, 1); }

    /** The recorded model, its optimiser and the ordered loader, on a CPU backend that uploads through {@link FakeAsync}. */
    static final class Rig implements AutoCloseable {
        final List<String> log;
        final CpuBackend cpu = new CpuBackend(1);
        final Module model;
        final Optimizer opt;
        final DataLoader train;
        final FakeAsync fake;
        final long before;

        Rig() { this(new ArrayList<>(), ordered()); }

        Rig(List<String> log, Dataset data) {
            this.log = log;
            model = recordedModel(cpu, log);
            opt = Optimizers.create("sgd", model.namedParameters(), 0.001, 0.9, 0);
            train = new DataLoader(data, null, B, false, false, 7, 1, 4);
            fake = new FakeAsync(cpu, log);
            before = cpu.memoryInUse();
        }

        Trainer.Result fit(Trainer t) {
            return t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE);
        }

        /** Every copy awaited and every batch tensor freed: only the gradients and the momentum stay allocated. */
        void assertNothingLeft() {
            fake.assertNothingLeft();
            assertEquals(before + 2L * 4 * model.parameterCount(), cpu.memoryInUse(), "memory in use = before + gradients + momentum");
        }

        @Override
        public void close() {
            train.close();
            opt.close();
            model.close();
            cpu.close();
        }
    }

    /** The log up to step 1's forward: batch 0 uploaded and awaited, batch 1 uploaded ahead, ... batch 2 uploaded ahead. */
    static final List<String> FIRST_TWO_STEPS = List.of(
            "upload x0", "upload y0", "await x0", "await y0", "upload x1", "upload y1", "forward x0",
            "await x1", "await y1", "upload x2", "upload y2", "forward x1");

    static List<String> then(List<String> first, String... more) {
        List<String> all = new ArrayList<>(first);
        all.addAll(List.of(more));
        return all;
    }

    @Test
    void theNextUploadIsQueuedBeforeTheStepsForwardAndAwaitedBeforeUse() {
        try (Rig rig = new Rig()) {
            Trainer t = new Trainer(rig.fake.backend, config(1));
            rig.fit(t);
            List<String> all = then(FIRST_TWO_STEPS, "await x2", "await y2", "upload x3", "upload y3", "forward x2",
                    "await x3", "await y3", "forward x3");
            assertEquals(all, rig.log, "no upload past the last batch");
            rig.assertNothingLeft();

            // evaluation uploads ahead in the same way
            rig.log.clear();
            t.evaluate(rig.model, rig.train, new CrossEntropyLoss(0f));
            assertEquals(all, rig.log);
            rig.assertNothingLeft();
        }
    }

    @Test
    void aStopFreesTheBatchUploadedAhead() {
        try (Rig rig = new Rig()) {
            Trainer.Result r = rig.fit(new Trainer(rig.fake.backend, config(1)).maxSteps(2));
            assertTrue(r.interrupted());
            assertEquals(then(FIRST_TWO_STEPS, "await x2", "await y2"), rig.log,
                    "batch 2 was uploaded ahead; the stop awaits its copy, then frees it");
            rig.assertNothingLeft();
        }
    }

    /**
     * A stop while the batch after the next one cannot be read (its read hangs, deaf to interrupts: a hung file system):
     * handing out batch 1, the upload ahead waits for batch 2, the stop ends that wait, and batch 1, uploaded but never
     * trained, is freed with its copies awaited.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void aStopWhileTheBatchAheadHangsFreesTheBatchInHand() {
        java.util.concurrent.CountDownLatch back = new java.util.concurrent.CountDownLatch(1);
        Dataset hangs = TrainerResumeTest.beforeRead(ordered(), "hangs", i -> {
            boolean answered = i != 2 * B; // batch 2's first sample
            while (!answered) {
                try { answered = back.await(1, java.util.concurrent.TimeUnit.DAYS); } catch (InterruptedException ignored) { }
            }
        });
        Trainer[] t = {null};
        List<String> log = new ArrayList<>() {
            @Override public boolean add(String event) {
                if (event.equals("await y1")) t[0].requestStop(); // the signal, as step 2's next() waits to upload batch 2
                return super.add(event);
            }
        };
        try (Rig rig = new Rig(log, hangs)) {
            t[0] = new Trainer(rig.fake.backend, config(1));
            Trainer.Result r = rig.fit(t[0]);
            back.countDown();
            assertTrue(r.interrupted());
            assertEquals(FIRST_TWO_STEPS.subList(0, 9), rig.log, "batch 1 was uploaded and awaited, never trained; batch 2 never uploaded");
            rig.assertNothingLeft();
        }
    }

    @Test
    void aFailedCopyIsReportedAndStillLeavesNothingBehind() {
        try (Rig rig = new Rig()) {
            rig.fake.failing.add("x2");
            Trainer t = new Trainer(rig.fake.backend, config(1));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> rig.fit(t));
            assertEquals("copy x2 failed (fake)", e.getMessage(), "the copy's own failure reaches the caller");
            assertEquals(then(FIRST_TWO_STEPS, "await-failed x2", "await y2"), rig.log,
                    "the labels' copy is awaited after the inputs' failed");
            rig.assertNothingLeft();   // batch 2's tensors too
        }
    }

    @Test
    void aResumeUploadsOnlyTheBatchesItTrainsOnAndMatchesTheUninterruptedRun(@TempDir Path dir) {
        List<EpochMetrics> whole;
        try (CpuBackend cpu = new CpuBackend(1);
             Module model = recordedModel(cpu, new ArrayList<>());
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.001, 0.9, 0);
             DataLoader train = new DataLoader(ordered(), null, B, false, false, 7, 1, 4)) {
            whole = new Trainer(cpu, config(2)) // synchronous reference
                    .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE).epochs();
        }
        CheckpointPolicy policy = new CheckpointPolicy(dir, 0, 1, 2, "recorded-linear", "ordered", Map.of());
        Path ck;
        try (CpuBackend cpu = new CpuBackend(1);
             Module model = recordedModel(cpu, new ArrayList<>());
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.001, 0.9, 0);
             DataLoader train = new DataLoader(ordered(), null, B, false, false, 7, 1, 4)) {
            FakeAsync fake = new FakeAsync(cpu, new ArrayList<>());
            ck = new Trainer(fake.backend, config(2)).checkpoints(policy).maxSteps(BATCHES + 2) // epoch 2, after its step 2
                    .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE).checkpoint();
            fake.assertNothingLeft();
        }
        List<String> log = new ArrayList<>();
        try (CpuBackend cpu = new CpuBackend(1);
             Module model = recordedModel(cpu, log);
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.001, 0.9, 0);
             DataLoader train = new DataLoader(ordered(), null, B, false, false, 7, 1, 4)) {
            FakeAsync fake = new FakeAsync(cpu, log);
            Trainer t = new Trainer(fake.backend, config(2)).checkpoints(policy).resumeFrom(Checkpoint.load(ck, model, opt));
            List<EpochMetrics> rest = t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null,
                    TrainListener.NONE).epochs();
            assertEquals(List.of(
                    "upload x2", "upload y2", "await x2", "await y2", "upload x3", "upload y3", "forward x2",
                    "await x3", "await y3", "forward x3"), log, "batches 0 and 1 of epoch 2 are skipped without an upload");
            fake.assertNothingLeft();
            assertSameTraining(whole, rest);
        }
    }

    @Test
    void aDivergedRunLeavesNothingBehind() {
        try (CpuBackend cpu = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(cpu, 3), 8, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(TrainerNonFiniteTest.poisoned(), null, 32, false, false, 7, 1, 4)) {
            FakeAsync fake = new FakeAsync(cpu, new ArrayList<>());
            assertThrows(TrainingDivergedException.class, () -> new Trainer(fake.backend, TrainerNonFiniteTest.config())
                    .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE));
            assertEquals(2 * 3, fake.copies.size(), "batches 1 and 2 ran, batch 3 was uploaded ahead");
            fake.assertNothingLeft();
        }
    }

    // ------------------------------------------------------------ bit for bit against the synchronous path

    record Outcome(List<EpochMetrics> epochs, List<float[]> params, EvalResult eval, int asyncCopies) {}

    /** Trains a Linear-Tanh-Linear model with Adam; async: through {@link FakeAsync}, else on the plain CpuBackend. */
    static Outcome train(boolean async, Dataset ds, Task task, int outputs, Loss loss, float[] mean, float[] std, boolean skipNonfinite) {
        int in = ds.sampleShape().size();
        int[][] split = DataLoader.split(ds.size(), 0.2, 7);
        try (CpuBackend cpu = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(cpu, 3), in, 16), new Tanh(), new Linear(new Context(cpu, 4), 16, outputs));
             Optimizer opt = Optimizers.create("adam", model.namedParameters(), 0.01, 0.9, 0);
             DataLoader train = new DataLoader(ds, split[0], 16, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(ds, split[1], 16, false, false, 7, 1, 4)) {
            FakeAsync fake = async ? new FakeAsync(cpu, new ArrayList<>()) : null;
            long before = cpu.memoryInUse();
            Trainer t = new Trainer(async ? fake.backend : cpu, new TrainConfig(3, 16, 0.01, "adam", 0.9, 0, "constant", 0f, 0f, 7, 0.2, 0, 0.0, 1))
                    .task(task).skipNonfinite(skipNonfinite);
            if (mean != null) t.reconstructionScale(mean, std);
            List<EpochMetrics> epochs = t.fit(model, loss, opt, LrSchedules.parse("cosine"), train, val, TrainListener.NONE).epochs();
            EvalResult eval = t.evaluate(model, val, loss);
            assertEquals(before + 3L * 4 * model.parameterCount(), cpu.memoryInUse(), "memory in use = before + gradients + Adam's m and v");
            if (async) fake.assertNothingLeft();
            List<float[]> params = new ArrayList<>();
            for (Tensor p : model.parameters()) params.add(p.toFloatArray());
            return new Outcome(epochs, params, eval, async ? fake.copies.size() : 0);
        }
    }

    static void assertSameTraining(List<EpochMetrics> a, List<EpochMetrics> b) {
        assertEquals(a.size(), b.size(), "epochs");
        for (int e = 0; e < a.size(); e++) {
            EpochMetrics x = a.get(e), y = b.get(e);
            String at = "epoch " + (e + 1);
            assertEquals(x.trainLoss(), y.trainLoss(), "train loss, " + at); // assertEquals(double, double): bit for bit
            assertEquals(x.trainAcc(), y.trainAcc(), "train accuracy, " + at);
            assertEquals(x.valLoss(), y.valLoss(), "validation loss, " + at);
            assertEquals(x.valAcc(), y.valAcc(), "validation accuracy, " + at);
            assertEquals(x.lr(), y.lr(), "lr, " + at);
            assertEquals(x.skippedSteps(), y.skippedSteps(), "skipped steps, " + at);
        }
    }

    static void assertSame(Outcome sync, Outcome async) {
        assertTrue(async.asyncCopies() > 0, "the async run used AsyncUpload");
        assertSameTraining(sync.epochs(), async.epochs());
        assertEquals(sync.params().size(), async.params().size());
        for (int i = 0; i < sync.params().size(); i++) assertArrayEquals(sync.params().get(i), async.params().get(i), "parameter " + i);
        assertEquals(sync.eval().loss(), async.eval().loss(), "evaluate: loss");
        assertEquals(sync.eval().top1(), async.eval().top1(), "evaluate: top-1");
        assertEquals(sync.eval().top5(), async.eval().top5(), "evaluate: top-5");
    }

    @Test
    void classificationMatchesTheSynchronousPathBitForBit() {
        Dataset ds = TrainerTest.blobs(200, 4);
        Outcome sync = train(false, ds, Task.CLASSIFICATION, 3, new CrossEntropyLoss(0.1f), null, null, false);
        assertSame(sync, train(true, ds, Task.CLASSIFICATION, 3, new CrossEntropyLoss(0.1f), null, null, false));
    }

    @Test
    void skippedNonfiniteStepsMatchTheSynchronousPathBitForBit() {
        Dataset ds = TrainerNonFiniteTest.poisoned();
        Outcome sync = train(false, ds, Task.CLASSIFICATION, 3, new CrossEntropyLoss(0f), null, null, true);
        assertTrue(sync.epochs().stream().mapToLong(EpochMetrics::skippedSteps).sum() > 0, "some steps were skipped");
        assertSame(sync, train(true, ds, Task.CLASSIFICATION, 3, new CrossEntropyLoss(0f), null, null, true));
    }

    @Test
    void regressionMatchesTheSynchronousPathBitForBit() {
        int n = 150, d = 3;
        SplittableRandom r = new SplittableRandom(11);
        float[] x = new float[n * d], y = new float[n];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int s = 0; s < n; s++) y[s] = x[s * d] - 2 * x[s * d + 1] + 0.5f * x[s * d + 2] + (float) r.nextGaussian() * 0.1f;
        Dataset ds = TrainerTaskTest.regression(n, d, x, y);
        Outcome sync = train(false, ds, Task.REGRESSION, 1, new MSELoss(), null, null, false);
        assertSame(sync, train(true, ds, Task.REGRESSION, 1, new MSELoss(), null, null, false));
    }

    @Test
    void scaledReconstructionMatchesTheSynchronousPathBitForBit() {
        Shape shape = Shape.of(8); // one channel: the Linear layers see the sample as it is
        int n = 120;
        SplittableRandom r = new SplittableRandom(12);
        float[] v = new float[n * shape.size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        Dataset ds = TrainerTaskTest.data(n, shape, v);
        float[] mean = {0.5f}, std = {2f};
        Outcome sync = train(false, ds, Task.RECONSTRUCTION, 8, new MSELoss(), mean, std, false);
        Outcome async = train(true, ds, Task.RECONSTRUCTION, 8, new MSELoss(), mean, std, false);
        assertSame(sync, async);
    }
}
