package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.MemoryStats;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Flatten;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.MaxPool2d;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.SGD;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Locale;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Device memory over a training run: a small convolutional network (Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten,
 * Linear) trains for three "epochs" of a few steps with SGD and momentum, one {@link Scope} per step as the Trainer
 * does. After epoch 1 every long-lived tensor exists (parameters, gradients, momentum buffers, batch-norm
 * statistics), so the bytes in use after epoch 3 must equal those after epoch 1: anything more is a per-step leak.
 * Also: asking the device for far more memory than it has fails with a message that names the size and tells the
 * user to lower the batch size, and the backend keeps working afterwards.
 *
 * <p>The device tests skip with "no usable GPU: reason" when CUDA cannot be used; the check of the size-matching
 * helper runs everywhere.
 */
@Tag("gpu")
class CudaMemoryTest {
    static Backend dev;
    static String unusable;

    @BeforeAll
    static void open() {
        unusable = Backends.cudaUnavailableReason();
        if (unusable == null) dev = Backends.create("cuda", 0, msg -> {});
    }

    @AfterAll
    static void close() { if (dev != null) dev.close(); }

    static void needsDevice() { Assumptions.assumeTrue(unusable == null, "no usable GPU: " + unusable); }

    @Test
    void inUseBytesAreStableAcrossEpochs() {
        needsDevice();
        int n = 16, steps = 5;
        SplittableRandom rng = new SplittableRandom(21);
        float[][] xs = new float[steps][];
        int[][] labels = new int[steps][];
        for (int s = 0; s < steps; s++) {
            xs[s] = Check.uniform(rng, n * 16 * 16, -1, 1);
            labels[s] = new int[n];
            for (int i = 0; i < n; i++) labels[s][i] = rng.nextInt(10);
        }
        try (Module model = Scope.outside(() -> {
                 Context ctx = new Context(dev, 5);
                 return new Sequential(new Conv2d(ctx, 1, 8, 3, 1, 1), new BatchNorm2d(ctx, 8), new ReLU(),
                         new MaxPool2d(2, 2, 0), new Flatten(), new Linear(ctx, 8 * 8 * 8, 10));
             });
             SGD opt = new SGD(model.namedParameters(), 0.05).momentum(0.9)) {
            long[] inUse = new long[4];
            for (int epoch = 1; epoch <= 3; epoch++) {
                for (int s = 0; s < steps; s++) {
                    try (Scope scope = Scope.open()) {
                        Tensor x = dev.fromHost(xs[s], Shape.of(n, 1, 16, 16));
                        Tensor y = dev.fromHost(labels[s], Shape.of(n));
                        Tensor loss = Losses.crossEntropy(model.forward(x), y, 0f);
                        loss.backward();
                        opt.step();
                        opt.zeroGrad();
                        float l = loss.item();
                        assertTrue(Float.isFinite(l), "loss became " + l + " at epoch " + epoch + " step " + s);
                    }
                }
                dev.synchronize();
                MemoryStats m = dev.memoryStats();
                inUse[epoch] = m.inUseBytes();
                assertTrue(m.inUseBytes() > 0, "memoryStats() should count the model's tensors: " + m);
                assertTrue(m.reservedBytes() >= m.inUseBytes() && m.peakBytes() >= m.inUseBytes(), "inconsistent " + m);
            }
            assertEquals(inUse[1], inUse[3], String.format(Locale.ROOT,
                    "device bytes in use grew from %d after epoch 1 to %d after epoch 3 (epoch 2: %d): tensors leak per step",
                    inUse[1], inUse[3], inUse[2]));
        }
    }

    @Test
    void outOfMemoryNamesTheSizeAndTheBatch() {
        needsDevice();
        // 2^38 floats = 1 TiB: more than any single GPU has.
        long elements = 1L << 38, bytes = elements * 4;
        Throwable t = null;
        try (Scope s = Scope.open()) {
            dev.empty(Shape.of(1 << 20, 1 << 18));
        } catch (Throwable e) {
            t = e;
        }
        assertNotNull(t, "allocating " + bytes + " bytes on the device should fail");
        String msg = String.valueOf(t.getMessage());
        assertTrue(msg.toLowerCase(Locale.ROOT).contains("batch"),
                "the out-of-memory message should suggest a smaller batch size: " + msg);
        assertTrue(mentionsSize(msg, bytes), "the out-of-memory message should name the requested size (" + bytes
                + " bytes, 1 TiB): " + msg);
        // The failed request must not poison the allocator or the stream.
        try (Scope s = Scope.open()) {
            Tensor ok = dev.fromHost(new float[] {1f, 2f, 3f}, Shape.of(3));
            dev.scale(ok, 2f, ok);
            assertArrayEquals(new float[] {2f, 4f, 6f}, ok.toFloatArray(), "the backend must keep working after an OOM");
        }
    }

    /** Whether msg names {@code bytes} (2^40) in any usual rendering: raw digits (any grouping), TiB/GiB or TB/GB. */
    static boolean mentionsSize(String msg, long bytes) {
        String digits = msg.replaceAll("(?<=\\d)[,_' ](?=\\d)", "");
        if (digits.contains(Long.toString(bytes))) return true;
        return msg.matches("(?s).*\\b1(\\.0+)?\\s*TiB.*") || msg.matches("(?s).*\\b1024(\\.0+)?\\s*GiB.*")
                || msg.matches("(?s).*\\b1\\.1\\s*TB.*") || msg.matches("(?s).*\\b1099(\\.5\\d*)?\\s*GB.*")
                || msg.matches("(?s).*\\b1048576(\\.0+)?\\s*MiB.*");
    }

    @Test
    void sizeRenderingsAreRecognised() {
        long b = 1L << 40;
        assertTrue(mentionsSize("cannot allocate 1099511627776 bytes", b));
        assertTrue(mentionsSize("cannot allocate 1,099,511,627,776 bytes", b));
        assertTrue(mentionsSize("cannot allocate 1.0 TiB", b));
        assertTrue(mentionsSize("cannot allocate 1024.0 GiB (lower --batch-size)", b));
        assertFalse(mentionsSize("cannot allocate 512 MiB", b));
    }
}
