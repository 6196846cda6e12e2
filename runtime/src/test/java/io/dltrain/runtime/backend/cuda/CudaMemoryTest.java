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

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Device memory over a training run: a small convolutional network (Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten,
 * Linear) trains for three "epochs" of a few steps with SGD and momentum, one {@link Scope} per step as the Trainer
 * does. After epoch 1 every long-lived tensor exists (parameters, gradients, momentum buffers, batch-norm
 * statistics), so the bytes in use after epoch 3 must equal those after epoch 1: anything more is a per-step leak.
 * Also: filling the device with 4 GiB blocks until it has no more fails with a message that names the size and tells the
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
        // Blocks of 2^30 floats (4 GiB, within the int element count every backend accepts) until the device is full,
        // as a too-large batch fills it in training. 64 blocks = 256 GiB: more than any single GPU has.
        long elements = 1L << 30, bytes = elements * 4;
        List<Tensor> held = new ArrayList<>();
        Throwable t = null;
        try {
            for (int i = 0; i < 64 && t == null; i++) {
                try {
                    held.add(Scope.outside(() -> dev.empty(Shape.of((int) elements))));
                } catch (Throwable e) {
                    t = e;
                }
            }
        } finally {
            for (Tensor h : held) h.close();
        }
        assertNotNull(t, "allocating 64 blocks of " + bytes + " bytes on the device should fail");
        String msg = String.valueOf(t.getMessage());
        assertTrue(msg.toLowerCase(Locale.ROOT).contains("batch"),
                "the out-of-memory message should suggest a smaller batch size: " + msg);
        assertTrue(mentionsSize(msg, bytes), "the out-of-memory message should name the requested size (" + bytes
                + " bytes, 4 GiB) after " + held.size() + " successful blocks: " + msg);
        // The failed request must not poison the allocator or the stream, and the blocks must be usable again.
        try (Scope s = Scope.open()) {
            Tensor ok = dev.fromHost(new float[] {1f, 2f, 3f}, Shape.of(3));
            dev.scale(ok, 2f, ok);
            assertArrayEquals(new float[] {2f, 4f, 6f}, ok.toFloatArray(), "the backend must keep working after an OOM");
            Tensor again = dev.empty(Shape.of((int) elements));
            // A kernel writes both ends of the 4 GiB block and they read back: the block is real memory again. (Only
            // the ends: a fill of all 2^30 elements takes the emulated device half a minute.)
            int end = 1 << 20;
            Tensor head = again.view(0, Shape.of(end)), tail = again.view(elements - end, Shape.of(end));
            dev.fill(head, 1f);
            dev.fill(tail, 2f);
            float[] h = head.toFloatArray(), tl = tail.toFloatArray();
            assertEquals(1f, h[0]);
            assertEquals(1f, h[end - 1]);
            assertEquals(2f, tl[0]);
            assertEquals(2f, tl[end - 1], "the last element of the 4 GiB block");
        }
        // The 4 GiB blocks are cached now; emptying the cache (which waits for the device first) returns them.
        if (dev instanceof CudaBackend cuda) {
            long reserved = cuda.memoryStats().reservedBytes();
            cuda.emptyCache();
            assertTrue(cuda.memoryStats().reservedBytes() <= reserved - bytes, "emptyCache() returned no 4 GiB block: reserved "
                    + reserved + " -> " + cuda.memoryStats().reservedBytes());
        }
    }

    private static final Pattern SIZE = Pattern.compile(
            "(\\d[\\d,_']*(?:\\.\\d+)?)\\s*(bytes|byte|B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)?\\b");

    /**
     * Whether msg names a size within 5% of {@code bytes} (a rounded "4.3 GB" counts): a plain number as bytes, or a
     * number with a binary (KiB..TiB) or decimal (kB..TB) unit.
     */
    static boolean mentionsSize(String msg, long bytes) {
        Matcher m = SIZE.matcher(msg);
        while (m.find()) {
            double v;
            try { v = Double.parseDouble(m.group(1).replaceAll("[,_']", "")); } catch (NumberFormatException e) { continue; }
            String unit = m.group(2) == null ? "B" : m.group(2);
            double scale = switch (unit) {
                case "KiB" -> 1L << 10; case "MiB" -> 1L << 20; case "GiB" -> 1L << 30; case "TiB" -> 1L << 40;
                case "kB", "KB" -> 1e3; case "MB" -> 1e6; case "GB" -> 1e9; case "TB" -> 1e12;
                default -> 1;
            };
            if (Math.abs(v * scale - bytes) <= 0.05 * bytes) return true;
        }
        return false;
    }

    @Test
    void sizeRenderingsAreRecognised() {
        long b = 1L << 32;
        assertTrue(mentionsSize("cannot allocate 4294967296 bytes", b));
        assertTrue(mentionsSize("cannot allocate 4,294,967,296 bytes on cuda:0", b));
        assertTrue(mentionsSize("out of memory: 4.0 GiB requested (lower --batch-size)", b));
        assertTrue(mentionsSize("out of memory allocating 4096 MiB", b));
        assertTrue(mentionsSize("out of memory allocating 4.3 GB", b));
        assertFalse(mentionsSize("cannot allocate 512 MiB on cuda:0", b));
        assertFalse(mentionsSize("out of memory; 78 GiB in use; reduce the batch size", b));
    }
}
