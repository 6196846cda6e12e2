package io.dltrain.datasets;

import io.dltrain.runtime.data.Batch;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Synthetic: reproducible, the requested shape, near-balanced, learnable (a nearest-class-mean classifier fits it). */
class SyntheticTest {
    @Test
    void defaultsAndRegistryOptions() {
        DatasetRegistry.Entry e = DatasetRegistry.get("synthetic");
        assertFalse(e.readsFiles());
        DatasetRegistry.Splits s = e.load(null);
        assertEquals(Shape.of(3, 32, 32), s.train().sampleShape());
        assertEquals(1024, s.train().size());
        assertEquals(256, s.test().size());
        assertEquals(10, s.train().numClasses());
        assertEquals("synthetic/train", s.train().name());

        DatasetRegistry.Entry o = DatasetRegistry.get("synthetic:1x28x28,classes=5,train=100,test=7,seed=3,noise=0.5");
        assertEquals("synthetic:1x28x28,classes=5,train=100,test=7,seed=3,noise=0.5", o.name());
        DatasetRegistry.Splits t = o.load(null);
        assertEquals(Shape.of(1, 28, 28), t.train().sampleShape());
        assertEquals(100, t.train().size());
        assertEquals(7, t.test().size());
        assertEquals(5, t.train().numClasses());
        // Same parameters through the factory: the same samples.
        DatasetRegistry.Splits f = Synthetic.of(1, 28, 28, 5, 100, 7, 3, 0.5f);
        float[] a = new float[784], b = new float[784];
        for (int i = 0; i < 100; i += 9) {
            assertEquals(f.train().read(i, a, 0), t.train().read(i, b, 0));
            assertArrayEquals(a, b);
        }
        assertEquals(Shape.of(1, 8, 9), DatasetRegistry.get("synthetic:8x9").load(null).train().sampleShape());

        for (String bad : new String[]{"synthetic:3x32x32x3", "synthetic:3x32x32,clases=4", "synthetic:classes=0", "synthetic:axbxc",
                "synthetic:train=5,train=6", "synthetic:noise=-1", "synthetic:3x32x32,4"}) {
            DatasetException x = assertThrows(DatasetException.class, () -> DatasetRegistry.get(bad).load(null), bad);
            assertTrue(x.getMessage().contains("valid options: classes, train, test, seed, noise"), x.getMessage());
        }
        DatasetException x = assertThrows(DatasetException.class, () -> DatasetRegistry.get("synthetic").load(Path.of("/tmp")));
        assertTrue(x.getMessage().startsWith("data directory /tmp: synthetic is generated in memory") && x.getMessage().contains("load(null)"), x.getMessage());
        x = assertThrows(DatasetException.class, () -> DatasetRegistry.get("synthetic").load(Path.of("/tmp"), "--data-dir"));
        assertTrue(x.getMessage().startsWith("--data-dir /tmp: synthetic is generated in memory") && x.getMessage().contains("drop --data-dir"), x.getMessage());
        x = assertThrows(DatasetException.class, () -> DatasetRegistry.get("mnist:size=3"));
        assertTrue(x.getMessage().contains("takes no options"), x.getMessage());
    }

    @Test
    void readsAreReproducibleAndIndependentOfLoaderThreads() {
        Dataset train = Synthetic.of(2, 5, 6, 4, 300, 50, 42).train();
        float[][] byZero = epoch(train, 0), byTwo = epoch(train, 2);
        assertArrayEquals(byZero[0], byTwo[0], "features: same with 0 and 2 workers");
        assertArrayEquals(byZero[1], byTwo[1], "labels");
        float[] x1 = new float[60], x2 = new float[60];
        Synthetic s = (Synthetic) train;
        assertEquals(s.label(17), train.read(17, x1, 0));
        train.read(17, x2, 0);
        assertArrayEquals(x1, x2);
        train.read(18, x2, 0);
        assertFalse(Arrays.equals(x1, x2), "different samples differ");
        // Another seed gives other data; train and test are different draws.
        Dataset other = Synthetic.of(2, 5, 6, 4, 300, 50, 43).train();
        other.read(17, x2, 0);
        assertFalse(Arrays.equals(x1, x2));
        Synthetic.of(2, 5, 6, 4, 300, 300, 42).test().read(17, x2, 0);
        assertFalse(Arrays.equals(x1, x2));
    }

    /** All features (in loader order, unshuffled) and labels of one epoch. */
    private static float[][] epoch(Dataset ds, int workers) {
        int n = ds.size(), numel = (int) ds.sampleShape().numel();
        float[] x = new float[n * numel], y = new float[n];
        try (DataLoader dl = new DataLoader(ds, null, 32, false, false, 1, workers, 3)) {
            int at = 0;
            for (Iterator<Batch> it = dl.epoch(0); it.hasNext(); ) {
                Batch b = it.next();
                System.arraycopy(b.x, 0, x, at * numel, b.size() * numel);
                for (int i = 0; i < b.size(); i++) y[at + i] = b.y[i];
                at += b.size();
                b.release();
            }
        }
        return new float[][]{x, y};
    }

    @Test
    void isLearnableAndRoughlyBalanced() {
        int classes = 10;
        DatasetRegistry.Splits s = Synthetic.of(3, 16, 16, classes, 2000, 500, 7);
        int numel = 3 * 16 * 16;
        double[][] centroid = new double[classes][numel];
        int[] count = new int[classes];
        float[] x = new float[numel];
        for (int i = 0; i < 2000; i++) {
            int y = s.train().read(i, x, 0);
            count[y]++;
            for (int j = 0; j < numel; j++) centroid[y][j] += x[j];
        }
        for (int k = 0; k < classes; k++) {
            // 2000 uniform draws over 10 classes: 200 +- 13.4 (1 sd); allow 5 sd.
            assertTrue(count[k] > 133 && count[k] < 267, "class " + k + " has " + count[k] + " of 2000");
            for (int j = 0; j < numel; j++) centroid[k][j] /= count[k];
        }
        // Nearest class mean (estimated from the training split) classifies the test split: the data is learnable.
        int correct = 0;
        for (int i = 0; i < 500; i++) {
            int y = s.test().read(i, x, 0), best = -1;
            double bestD = Double.MAX_VALUE;
            for (int k = 0; k < classes; k++) {
                double d = 0;
                for (int j = 0; j < numel; j++) d += (x[j] - centroid[k][j]) * (x[j] - centroid[k][j]);
                if (d < bestD) { bestD = d; best = k; }
            }
            if (best == y) correct++;
        }
        assertTrue(correct >= 490, "nearest-class-mean test accuracy " + correct + "/500");

        // The noise is N(0, noise^2) around the class pattern: sample - pattern has the requested spread.
        Synthetic tr = (Synthetic) Synthetic.of(3, 16, 16, classes, 200, 0, 7, 0.25f).train();
        float[] p = new float[numel];
        double ss = 0;
        for (int i = 0; i < 200; i++) {
            tr.pattern(tr.read(i, x, 0), p, 0);
            for (int j = 0; j < numel; j++) ss += (x[j] - p[j]) * (x[j] - p[j]);
        }
        assertEquals(0.25, Math.sqrt(ss / (200.0 * numel)), 0.01, "noise std");
        // Class patterns differ per channel on average (what global average pooling sees).
        float[] p0 = new float[numel], p1 = new float[numel];
        tr.pattern(0, p0, 0);
        tr.pattern(1, p1, 0);
        assertNotEquals(mean(p0, 0, 256), mean(p1, 0, 256));
    }

    private static double mean(float[] a, int from, int n) {
        double s = 0;
        for (int j = from; j < from + n; j++) s += a[j];
        return s / n;
    }
}
