package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.AsyncUpload;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
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
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * On a GPU: a fit whose batches are uploaded one ahead on the CUDA backend's copy stream ({@link AsyncUpload}) trains
 * bit for bit as the same fit with synchronous uploads on the compute stream (the same backend seen through a proxy
 * that hides AsyncUpload), and no fit leaves device memory behind, a fit stopped with a batch uploaded ahead included:
 * once its model, optimiser and loaders are closed, the bytes in use are back where they were before it.
 *
 * <p>(Not compared: the bytes in use while the model is open. The caching allocator may serve a 512-byte request
 * with a cached 1024-byte block, so that figure depends on which blocks earlier fits left in the cache; the emulated
 * device showed it differing by 1024 bytes between two fits that hold exactly the same tensors.)
 * Skips with "no usable GPU: reason" without CUDA.
 */
@Tag("gpu")
public class BatchUploadsGpuTest {

    /** The backend without its AsyncUpload capability: the trainer then uploads each batch with copyFromHost. */
    static Backend synchronous(Backend be) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, (p, m, args) -> {
            try { return m.invoke(be, args); } catch (InvocationTargetException e) { throw e.getCause(); }
        });
    }

    /** leftBehind: the bytes in use after everything the fit opened is closed, minus those before it. */
    record Run(List<EpochMetrics> epochs, List<float[]> params, long leftBehind) {}

    static Run fit(Backend cuda, boolean async, long maxSteps) {
        long before = cuda.memoryStats().inUseBytes();
        List<EpochMetrics> epochs;
        List<float[]> params = new ArrayList<>();
        Dataset ds = TrainerTest.blobs(2000, 5);
        int[][] split = DataLoader.split(ds.size(), 0.2, 7);
        try (Module model = Scope.outside(() -> new Sequential(new Linear(new Context(cuda, 3), 8, 256), new ReLU(),
                     new Linear(new Context(cuda, 4), 256, 3)));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(ds, split[0], 64, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(ds, split[1], 64, false, false, 7, 1, 4)) {
            Trainer t = new Trainer(async ? cuda : synchronous(cuda), TrainerTest.config(2, 0.05, 0));
            if (maxSteps > 0) t.maxSteps(maxSteps);
            epochs = t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, val,
                    TrainListener.NONE).epochs();
            for (Tensor p : model.parameters()) params.add(p.toFloatArray());
        }
        return new Run(epochs, params, cuda.memoryStats().inUseBytes() - before);
    }

    @Test
    void uploadsAheadTrainBitForBitAsSynchronousUploadsAndLeaveNothingBehind() {
        String why = Backends.cudaUnavailableReason();
        Assumptions.assumeTrue(why == null, "no usable GPU: " + why);
        try (Backend cuda = Backends.create("cuda", 0, msg -> {})) {
            assertTrue(cuda instanceof AsyncUpload, "the CUDA backend offers AsyncUpload: " + cuda.getClass().getName());
            Run sync = fit(cuda, false, 0), ahead = fit(cuda, true, 0);
            assertEquals(sync.epochs().size(), ahead.epochs().size());
            for (int e = 0; e < sync.epochs().size(); e++) {
                assertEquals(sync.epochs().get(e).trainLoss(), ahead.epochs().get(e).trainLoss(), "train loss, epoch " + (e + 1));
                assertEquals(sync.epochs().get(e).valLoss(), ahead.epochs().get(e).valLoss(), "validation loss, epoch " + (e + 1));
            }
            for (int i = 0; i < sync.params().size(); i++) assertArrayEquals(sync.params().get(i), ahead.params().get(i), "parameter " + i);
            assertEquals(0, sync.leftBehind(), "bytes left in use by a fit with synchronous uploads");
            assertEquals(0, ahead.leftBehind(), "bytes left in use by a fit with uploads ahead");
            Run stopped = fit(cuda, true, 5); // stops with batch 6 uploaded ahead
            assertEquals(List.of(), stopped.epochs(), "a fit stopped at step 5 of 25 completes no epoch");
            assertEquals(0, stopped.leftBehind(), "a stop frees the batch uploaded ahead");
        }
    }
}
