package io.dltrain.runtime.train;

import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.BatchNorm1d;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Dropout;
import io.dltrain.runtime.nn.Flatten;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.MaxPool2d;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The library used from several threads at once, as a service or a batch job uses it, gives the single-threaded results. */
class ConcurrentUseTest {

    /** A small convolutional classifier of 1 x 16 x 16 images with batch norm and dropout (which eval mode turns off). */
    static Module convNet(CpuBackend be) {
        var ctx = new Context(be, 3);
        return new Sequential(new Conv2d(ctx, 1, 8, 3, 1, 1), new BatchNorm2d(ctx, 8), new ReLU(), new MaxPool2d(2, 2, 0),
                new Conv2d(ctx, 8, 16, 3, 1, 1), new ReLU(), new Flatten(), new Dropout(ctx, 0.3f), new Linear(ctx, 16 * 8 * 8, 10));
    }

    /** n random images, seeded by i. */
    static float[] images(int i, int n) {
        var r = new SplittableRandom(i);
        float[] x = new float[n * 256];
        for (int j = 0; j < x.length; j++) x[j] = (float) r.nextGaussian();
        return x;
    }

    /** The model's output for n images, as the README's service code computes it: no graph, eval mode on this thread, one Scope. */
    static float[] infer(CpuBackend be, Module m, float[] x, int n) {
        try (Scope s = Scope.open(); var g = GradMode.noGrad(); var e = Module.evaluating()) {
            return m.forward(be.fromHost(x, Shape.of(n, 1, 16, 16))).toFloatArray();
        }
    }

    /**
     * 32 threads predicting with one model on one 2-thread backend (batches of 1 to 36 images, so the backend's pool,
     * CpuConv's scratch and OpenBLAS are all used at once) get the single-threaded outputs bit for bit, and give every
     * array back to the allocator. The model is left in training mode (as a fit leaves it): each call opens
     * Module.evaluating(), and the platform threads' model is also put into eval mode before they start.
     */
    void predictsFromManyThreads(boolean virtual) throws Exception {
        try (var be = new CpuBackend(2); var m = convNet(be)) {
            if (!virtual) m.eval();
            int inputs = 8;
            float[][] x = new float[inputs][], want = new float[inputs][];
            for (int i = 0; i < inputs; i++) want[i] = infer(be, m, x[i] = images(i, 1 + i * 5), 1 + i * 5);
            long inUse = be.memoryStats().inUseBytes();
            int threads = 32, calls = 6;
            var start = new CountDownLatch(1);
            try (ExecutorService ex = virtual ? Executors.newVirtualThreadPerTaskExecutor() : Executors.newFixedThreadPool(threads)) {
                List<Future<String>> results = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    results.add(ex.submit(() -> {
                        start.await();
                        for (int k = 0; k < calls; k++) {
                            int i = (thread + k) % inputs;
                            if (!Arrays.equals(want[i], infer(be, m, x[i], 1 + i * 5))) return "thread " + thread + ", call " + k + ": input " + i + " differs";
                        }
                        return null;
                    }));
                }
                start.countDown();
                for (var r : results) assertNull(r.get(60, TimeUnit.SECONDS));
            }
            assertEquals(inUse, be.memoryStats().inUseBytes(), "every call's arrays are back in the pool");
            assertEquals(virtual, m.isTraining(), "the model's own mode is as it was (training unless set to eval)");
        }
    }

    @Test void predictsFromManyPlatformThreadsMatchOneThread() throws Exception { predictsFromManyThreads(false); }

    @Test void predictsFromManyVirtualThreadsMatchOneThread() throws Exception { predictsFromManyThreads(true); }

    /** Every FP32 parameter and buffer of a model (batch norm, dropout, Adam) after 3 epochs on blobs of {@code seed}, concatenated. */
    static float[] trainedState(CpuBackend be, long seed) {
        Dataset ds = TrainerTest.blobs(256, seed);
        var ctx = new Context(be, seed);
        try (var m = new Sequential(new Linear(ctx, 8, 32), new BatchNorm1d(ctx, 32), new ReLU(), new Dropout(ctx, 0.2f), new Linear(ctx, 32, 3));
             var l = new Learner(m).optimizer("adam", 1e-2).epochs(3).batchSize(32)) {
            l.fit(ds);
            float[] all = new float[0];
            for (Tensor t : m.stateDict().values()) {
                if (t.dtype() != DType.FP32) continue;
                float[] v = t.toFloatArray(), both = Arrays.copyOf(all, all.length + v.length);
                System.arraycopy(v, 0, both, all.length, v.length);
                all = both;
            }
            return all;
        }
    }

    /** Two models trained at once on two threads, on one backend, end bit for bit as when trained one after the other. */
    @Test
    void twoTrainingsAtOnceMatchOneAfterTheOther() throws Exception {
        try (var be = new CpuBackend(2)) {
            float[] a = trainedState(be, 11), b = trainedState(be, 12);
            var start = new CountDownLatch(1);
            try (ExecutorService ex = Executors.newFixedThreadPool(2)) {
                var fa = ex.submit(() -> { start.await(); return trainedState(be, 11); });
                var fb = ex.submit(() -> { start.await(); return trainedState(be, 12); });
                start.countDown();
                assertArrayEquals(a, fa.get(60, TimeUnit.SECONDS), "the first model");
                assertArrayEquals(b, fb.get(60, TimeUnit.SECONDS), "the second model");
            }
        }
    }

    /**
     * Two Learners over one model (a service making one per request; an evaluation beside a prediction) predict and
     * evaluate at once without switching the model's mode under each other. The model is in training mode, as a fit
     * leaves it; the first call's forward is held until the second's has begun, and the second's until the first has
     * returned. Both must give the results they give alone, in eval mode, and leave batch norm's statistics as they were.
     */
    @Test
    void aPredictAndAnEvaluateOnOneModelDoNotSwitchEachOthersMode() throws Exception {
        var firstIn = new CountDownLatch(1);
        var secondIn = new CountDownLatch(1);
        var firstDone = new CountDownLatch(1);
        Module probe = new Module() {
            @Override public Tensor forward(Tensor x) {
                try {
                    switch (Thread.currentThread().getName()) {
                        case "first" -> { firstIn.countDown(); secondIn.await(5, TimeUnit.SECONDS); }
                        case "second" -> { secondIn.countDown(); firstDone.await(5, TimeUnit.SECONDS); }
                        default -> { }
                    }
                } catch (InterruptedException e) { throw new IllegalStateException(e); }
                return x;
            }
        };
        try (CpuBackend be = new CpuBackend(1);
             Module m = new Sequential(probe, new Linear(new Context(be, 3), 8, 16), new BatchNorm1d(new Context(be, 4), 16), new ReLU(),
                     new Dropout(new Context(be, 5), 0.5f), new Linear(new Context(be, 6), 16, 3));
             Learner predicting = new Learner(m); Learner evaluating = new Learner(m)) {
            Dataset ds = TrainerTest.blobs(6, 1);
            m.train(false);
            float[] wantPrediction = predicting.predict(ds, 0);
            double wantLoss = evaluating.evaluate(ds).loss();
            m.train(true);
            float[] runningMean = m.stateDict().get("2.running_mean").toFloatArray();
            float[][] prediction = new float[1][];
            double[] loss = new double[1];
            Thread first = new Thread(() -> { prediction[0] = predicting.predict(ds, 0); firstDone.countDown(); }, "first");
            Thread second = new Thread(() -> loss[0] = evaluating.evaluate(ds).loss(), "second");
            first.start();
            assertTrue(firstIn.await(5, TimeUnit.SECONDS));
            second.start();
            first.join();
            second.join();
            assertArrayEquals(wantPrediction, prediction[0], "the prediction, in eval mode");
            assertEquals(wantLoss, loss[0], "the evaluation's loss, in eval mode");
            assertArrayEquals(runningMean, m.stateDict().get("2.running_mean").toFloatArray(), "batch norm's running mean is untouched");
            assertTrue(m.isTraining(), "the model is still in training mode");
        }
    }

    /**
     * Another thread putting the model into eval mode while it trains (to predict with it) is refused at the next step,
     * rather than letting batch norm and dropout train in evaluation mode for the rest of the epoch without a word.
     */
    @Test
    void evalModeSetOnAnotherThreadDuringFitIsRefused() throws Exception {
        try (CpuBackend be = new CpuBackend(1);
             Module m = new Sequential(new Linear(new Context(be, 3), 8, 16), new BatchNorm1d(new Context(be, 4), 16), new ReLU(),
                     new Dropout(new Context(be, 5), 0.5f), new Linear(new Context(be, 6), 16, 3));
             Learner l = new Learner(m).epochs(2).batchSize(16)) {
            l.listener(new TrainListener() {
                @Override public void epochStarted(int epoch, int epochs, int steps) {
                    if (epoch != 2) return;
                    Thread predictor = Thread.ofPlatform().start(m::eval);
                    try { predictor.join(); } catch (InterruptedException e) { throw new IllegalStateException(e); }
                }
            });
            var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> l.fit(TrainerTest.blobs(64, 2)));
            assertTrue(e.getMessage().startsWith("fit: the model left training mode during epoch 2, at step 1 (model.eval() or"
                    + " train(false) was called while fit was training it"), e.getMessage());
            assertTrue(e.getMessage().contains("Module.evaluating()"), e.getMessage());
        }
    }
    /**
     * fit on a thread where a Module.evaluating() guard is open (called inside one, or one opened without
     * try-with-resources and not closed by an earlier task of a pooled thread): every forward on the thread is in
     * evaluation mode, so fit's check after the first forward refused it saying "model.eval() or train(false) was called
     * ... on another thread or by a listener", which nobody did. fit now refuses before training, naming the guard.
     */
    @Test
    void fitInsideAnOpenEvaluatingGuardNamesTheGuard() {
        try (CpuBackend be = new CpuBackend(1);
             Module m = new Sequential(new Linear(new Context(be, 3), 8, 16), new BatchNorm1d(new Context(be, 4), 16), new ReLU(),
                     new Linear(new Context(be, 6), 16, 3));
             Learner l = new Learner(m).epochs(1).batchSize(16)) {
            GradMode.Guard leaked = Module.evaluating();
            try {
                var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> l.fit(TrainerTest.blobs(64, 2)));
                assertTrue(e.getMessage().startsWith("fit: a Module.evaluating() guard is open on this thread"), e.getMessage());
                assertTrue(!e.getMessage().contains("model.eval() or train(false) was called"), e.getMessage());
            } finally {
                leaked.close();
            }
            l.fit(TrainerTest.blobs(64, 2));   // once it is closed, fit trains
            assertTrue(m.isTraining());
        }
    }

    /**
     * The fine-tuning recipe that freezes batch norm's statistics: a listener puts the batch norm layers (not the model)
     * into evaluation mode at each epoch's start. fit's leftTrainingMode check looks at the model's own mode, so this is
     * not refused, and the layer stays in evaluation mode for the epoch: its running statistics do not move. A bn.eval()
     * before fit, without the listener, is undone at the epoch's start (as README says).
     */
    @Test
    void aListenerPuttingBatchNormIntoEvalModeIsNotRefused() {
        try (CpuBackend be = new CpuBackend(1);
             BatchNorm1d bn = new BatchNorm1d(new Context(be, 4), 16);
             Module m = new Sequential(new Linear(new Context(be, 3), 8, 16), bn, new ReLU(), new Linear(new Context(be, 6), 16, 3));
             Learner l = new Learner(m).epochs(2).batchSize(16)) {
            l.listener(new TrainListener() {
                @Override public void epochStarted(int epoch, int epochs, int steps) { bn.eval(); }
            });
            float[] mean = m.namedBuffers().get("1.running_mean").toFloatArray();
            l.fit(TrainerTest.blobs(64, 2));
            assertArrayEquals(mean, m.namedBuffers().get("1.running_mean").toFloatArray(), "the frozen batch norm's running mean moved");
            assertTrue(m.isTraining() && !bn.isTraining());
        }
        // without the listener, a bn.eval() before fit is undone by fit's model.train(true) at each epoch's start (README)
        try (CpuBackend be = new CpuBackend(1);
             BatchNorm1d bn = new BatchNorm1d(new Context(be, 4), 16);
             Module m = new Sequential(new Linear(new Context(be, 3), 8, 16), bn, new ReLU(), new Linear(new Context(be, 6), 16, 3));
             Learner l = new Learner(m).epochs(1).batchSize(16)) {
            bn.eval();
            float[] mean = m.namedBuffers().get("1.running_mean").toFloatArray();
            l.fit(TrainerTest.blobs(64, 2));
            assertFalse(Arrays.equals(mean, m.namedBuffers().get("1.running_mean").toFloatArray()), "fit left the batch norm in eval mode");
            assertTrue(bn.isTraining());
        }
    }
}
