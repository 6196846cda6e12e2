package io.dltrain.datasets;

import io.dltrain.runtime.data.Batch;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static io.dltrain.datasets.IdxTestFiles.gzip;
import static io.dltrain.datasets.IdxTestFiles.idx;
import static io.dltrain.datasets.IdxTestFiles.labels;
import static io.dltrain.datasets.IdxTestFiles.pixels;
import static io.dltrain.datasets.IdxTestFiles.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * DatasetRegistry: the real Fashion-MNIST (when the Debian package is installed), the bundled sample, and the
 * error paths for missing or broken directories.
 */
class DatasetRegistryTest {
    static final Path REAL = Path.of("/usr/share/datasets/fashion-mnist");
    static DatasetRegistry.Splits real;

    @TempDir Path dir;

    static DatasetRegistry.Splits real() {
        assumeTrue(Files.isDirectory(REAL), REAL + " is absent (apt-get install dataset-fashion-mnist): skipping real-data checks");
        if (real == null) real = DatasetRegistry.get("fashion-mnist").load(null);
        return real;
    }

    /** Raw bytes of a gzip'd IDX file after its header, read independently of IdxFile. */
    static byte[] rawData(Path gz, int headerBytes, int maxBytes) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
            new DataInputStream(in).skipNBytes(headerBytes);
            return in.readNBytes(maxBytes);
        }
    }

    @Test
    void registryListsBothDatasetsAndRejectsUnknownNames() {
        assertEquals(List.of("fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic", "imagefolder", "imagenet-subset", "csv"),
                DatasetRegistry.names());
        assertEquals(DatasetRegistry.names(), DatasetRegistry.entries().stream().map(DatasetRegistry.Entry::name).toList());
        // eval's notice: the options two specs of one dataset differ in, the usage's defaults filled in
        assertEquals("seed: 2 here, 0 for the model", DatasetRegistry.optionDifferences("synthetic", "synthetic:3x32x32,seed=2"));
        assertEquals(null, DatasetRegistry.optionDifferences("synthetic:seed=0,noise=1", "synthetic:3x32x32"));
        assertEquals(null, DatasetRegistry.optionDifferences("csv", "csv:test=test.csv,standardize=TRUE"));
        assertEquals(null, DatasetRegistry.optionDifferences("imagefolder:size=32", "imagefolder:size=32,seed=0"));
        assertEquals("size: not given here, 32 for the model", DatasetRegistry.optionDifferences("imagefolder:size=32", "imagefolder"));
        // a choice's default is its first value (norm=none|imagenet): norm=none is what leaving norm out means
        assertEquals(null, DatasetRegistry.optionDifferences("imagefolder:size=32,norm=none", "imagefolder:size=32"));
        assertEquals("norm: none here, imagenet for the model", DatasetRegistry.optionDifferences("imagefolder:size=32,norm=imagenet", "imagefolder:size=32"));
        assertEquals("label: not given here, y for the model", DatasetRegistry.optionDifferences("csv:label=y", "csv"), "COLUMN|COLUMN: no default");
        // options that do not change the evaluated samples: training augmentation, its seed, skipping bad files, csv's files
        assertEquals(null, DatasetRegistry.optionDifferences("imagefolder:size=32,augment=flip,seed=3,skipbad=true", "imagefolder:size=32"));
        assertEquals(null, DatasetRegistry.optionDifferences("imagenet-subset:seed=7", "imagenet-subset"));
        assertEquals(null, DatasetRegistry.optionDifferences("csv:label=y", "csv:label=y,test=holdout.csv,train=other.csv"));
        assertEquals("label: z here, y for the model", DatasetRegistry.optionDifferences("csv:label=y", "csv:label=z"));
        assertEquals(null, DatasetRegistry.optionDifferences("mnist", "fashion-mnist"), "another dataset: not this comparison");
        for (DatasetRegistry.Entry e : DatasetRegistry.entries()) {
            assertFalse(e.description().isBlank(), e.name());
            assertFalse(e.description().contains("\n"), e.name() + ": one-line description");
            assertTrue(e.usage().startsWith(e.name()), e.usage());
        }
        assertEquals(Path.of(System.getProperty("user.home"), ".dl-train", "datasets", "cifar10"), DatasetRegistry.get("cifar10").defaultDir());
        DatasetRegistry.Entry f = DatasetRegistry.get("fashion-mnist");
        assertEquals(REAL, f.defaultDir());
        assertFalse(f.description().isBlank());
        assertTrue(f.hasBundledSample());
        DatasetRegistry.Entry m = DatasetRegistry.get("mnist");
        assertEquals(Path.of(System.getProperty("user.home"), ".dl-train", "datasets", "mnist"), m.defaultDir());
        assertFalse(m.hasBundledSample());
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("svhn:x=1"));
        assertTrue(e.getMessage().contains("'svhn'") && e.getMessage().contains("fashion-mnist, mnist, cifar10"), e.getMessage());
        assertFalse(e.getMessage().contains("did you mean"), e.getMessage());
        // names are case-sensitive; another spelling of one is refused with the name meant
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("Fashion_MNIST:1x28x28"));
        assertTrue(e.getMessage().contains("unknown dataset 'Fashion_MNIST' (did you mean 'fashion-mnist'?); valid names: "), e.getMessage());
    }

    @Test
    void realFashionMnistHasTheKnownCountsBalanceAndNormalisation() throws IOException {
        DatasetRegistry.Splits s = real();
        assertEquals("", s.notice());
        Dataset train = s.train(), test = s.test();
        assertEquals(60000, train.size());
        assertEquals(10000, test.size());
        assertEquals("fashion-mnist/train", train.name());
        assertEquals(List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
                train.classNames());
        int[] hist = new int[10];
        for (int i = 0; i < train.size(); i++) hist[((IdxDataset) train).label(i)]++;
        int[] sixThousand = new int[10];
        java.util.Arrays.fill(sixThousand, 6000);
        assertArrayEquals(sixThousand, hist, "Fashion-MNIST train has 6000 images per class");

        // Normalised with the training set's mean/std, the first 1000 images average near 0 with spread near 1.
        float[] x = new float[784];
        double sum = 0, sumSq = 0;
        for (int i = 0; i < 1000; i++) {
            train.read(i, x, 0);
            for (float v : x) { sum += v; sumSq += (double) v * v; }
        }
        double mean = sum / (1000 * 784), std = Math.sqrt(sumSq / (1000 * 784) - mean * mean);
        assertEquals(0.0, mean, 0.05, "normalised mean of the first 1000 images");
        assertEquals(1.0, std, 0.05, "normalised std of the first 1000 images");

        // Against the raw file, decoded independently: image 0 and the first labels.
        byte[] px = rawData(REAL.resolve("train-images-idx3-ubyte.gz"), 16, 784);
        int label0 = train.read(0, x, 0);
        for (int j = 0; j < 784; j++)
            assertEquals(((px[j] & 0xFF) / 255.0 - 0.2860) / 0.3530, x[j], 1e-6, "pixel " + j + " of image 0");
        byte[] lb = rawData(REAL.resolve("train-labels-idx1-ubyte.gz"), 8, 100);
        assertEquals(lb[0], label0);
        for (int i = 0; i < 100; i++) assertEquals(lb[i], ((IdxDataset) train).label(i));
    }

    @Test
    void bundledSampleLoadsWhenTheDefaultDirectoryIsMissing() throws IOException {
        Path absent = dir.resolve("not-installed");
        DatasetRegistry.Splits s = DatasetRegistry.get("fashion-mnist").load(null, absent);
        assertEquals(10000, s.train().size());
        assertEquals(2000, s.test().size());
        assertTrue(s.hasNotice());
        assertTrue(s.notice().contains(absent.toString()) && s.notice().contains("10,000")
                && s.notice().contains("apt-get install dataset-fashion-mnist"), s.notice());
        assertEquals(10, s.train().numClasses());
        int[] hist = new int[10];
        for (int i = 0; i < 10000; i++) hist[((IdxDataset) s.train()).label(i)]++;
        for (int c = 0; c < 10; c++) assertTrue(hist[c] > 800 && hist[c] < 1200, "class " + c + " has " + hist[c] + " of 10000");

        if (Files.isDirectory(REAL)) {
            // The sample is the real data's prefix: compare against the raw files.
            byte[] px = rawData(REAL.resolve("t10k-images-idx3-ubyte.gz"), 16, 2000 * 784);
            byte[] lb = rawData(REAL.resolve("t10k-labels-idx1-ubyte.gz"), 8, 2000);
            float[] x = new float[784];
            for (int i = 0; i < 2000; i += 199) {
                assertEquals(lb[i], s.test().read(i, x, 0));
                for (int j = 0; j < 784; j++)
                    assertEquals(((px[i * 784 + j] & 0xFF) / 255.0 - 0.2860) / 0.3530, x[j], 1e-6, "test image " + i + " pixel " + j);
            }
        }

        // It feeds a DataLoader: one epoch over the sample test split sees every label once.
        int[] want = new int[10], got = new int[10];
        for (int i = 0; i < 2000; i++) want[((IdxDataset) s.test()).label(i)]++;
        try (DataLoader dl = new DataLoader(s.test(), null, 256, true, false, 1, 2, 3)) {
            for (Iterator<Batch> it = dl.epoch(0); it.hasNext(); ) {
                Batch b = it.next();
                for (int i = 0; i < b.size(); i++) got[b.y[i]]++;
                b.release();
            }
        }
        assertArrayEquals(want, got);
    }

    /**
     * Entry.load(dir) is the library's: its errors spoke of the command's option to a Java caller, who has none
     * ("--data-dir /x: does not exist. ... or pass --data-dir DIR ..."). Every registered dataset, given a directory
     * that does not exist or an empty one, now names it as load's data directory, and its hint gives both ways of giving
     * another one (GIVE_DIR); a command that passes its option's name gets that name, as before.
     */
    @Test
    void loadSpeaksOfItsDirectoryArgumentAndTheCommandOfItsOption() throws IOException {
        Path nowhere = dir.resolve("nowhere"), empty = Files.createDirectory(dir.resolve("empty"));
        for (DatasetRegistry.Entry entry : DatasetRegistry.entries()) {
            for (Path d : List.of(nowhere, empty)) {
                DatasetException e = assertThrows(DatasetException.class, () -> entry.load(d), entry.name() + " " + d);
                String m = e.getMessage();
                assertFalse(m.replace(DatasetRegistry.GIVE_DIR, "").contains("--data-dir"), entry.name() + ": " + m);
                if (d == nowhere || !entry.readsFiles())
                    assertTrue(m.startsWith("data directory " + d + ": "), entry.name() + ": " + m);
                DatasetException c = assertThrows(DatasetException.class, () -> entry.load(d, "--data-dir"), entry.name() + " " + d);
                if (d == nowhere || !entry.readsFiles())
                    assertTrue(c.getMessage().startsWith("--data-dir " + d + ": "), entry.name() + ": " + c.getMessage());
            }
        }
    }

    @Test
    void explicitDataDirWithMissingFilesIsAnErrorNeverAFallback() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("empty"));
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("fashion-mnist").load(empty));
        String m = e.getMessage();
        assertTrue(m.contains(empty.resolve("train-images-idx3-ubyte.gz").toString())
                && m.contains(empty.resolve("t10k-labels-idx1-ubyte.gz").toString())
                && m.contains("apt-get install dataset-fashion-mnist") && m.contains("--data-dir"), m);

        Path nowhere = dir.resolve("nowhere");
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("fashion-mnist").load(nowhere));
        assertTrue(e.getMessage().contains(nowhere.toString()) && e.getMessage().contains("does not exist")
                && e.getMessage().contains("apt-get install dataset-fashion-mnist"), e.getMessage());

        // A default directory that exists but is incomplete is a broken install, not a reason to use the sample.
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("fashion-mnist").load(null, empty));
        assertTrue(e.getMessage().contains(empty.resolve("train-labels-idx1-ubyte.gz").toString()), e.getMessage());

        // MNIST has no sample: a missing default directory is an error saying where the files go.
        Path mnistHome = dir.resolve("home/.dl-train/datasets/mnist");
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("mnist").load(null, mnistHome));
        assertTrue(e.getMessage().contains(mnistHome.resolve("train-images-idx3-ubyte.gz").toString())
                && e.getMessage().contains("--data-dir"), e.getMessage());
    }

    /**
     * torchvision keeps the files of MNIST(root, download=True) in root/MNIST/raw/ (FashionMNIST: root/FashionMNIST/raw/),
     * each uncompressed beside its .gz. --data-dir root (or root/MNIST) was refused with "MNIST files not found in
     * --data-dir root: root/train-images-idx3-ubyte.gz (nor ...)", though CIFAR accepts the folder its tarball makes.
     * Both are found now; the message for a tree with neither names the places looked.
     */
    @Test
    void torchvisionsRawFolderIsFoundUnderTheDataDir() {
        for (String[] c : new String[][] {{"mnist", "MNIST"}, {"fashion-mnist", "FashionMNIST"}}) {
            Path root = dir.resolve("torchvision-" + c[0]), raw = root.resolve(c[1]).resolve("raw");
            raw.toFile().mkdirs();
            for (String split : List.of("train", "t10k")) {
                int n = split.equals("train") ? 12 : 4;
                byte[] images = idx(0x803, new int[]{n, 28, 28}, pixels(n, 28, 28)), labels = idx(0x801, new int[]{n}, labels(n, 10));
                write(raw.resolve(split + "-images-idx3-ubyte"), images);
                write(raw.resolve(split + "-images-idx3-ubyte.gz"), gzip(images));
                write(raw.resolve(split + "-labels-idx1-ubyte"), labels);
                write(raw.resolve(split + "-labels-idx1-ubyte.gz"), gzip(labels));
            }
            for (Path d : List.of(root, root.resolve(c[1]))) {
                DatasetRegistry.Splits s = DatasetRegistry.get(c[0]).load(d);
                assertEquals(12, s.train().size(), d.toString());
                assertEquals(4, s.test().size(), d.toString());
                assertEquals(7, s.train().read(7, new float[784], 0));
            }
            // the other dataset's name is not taken for this one's
            String other = c[0].equals("mnist") ? "fashion-mnist" : "mnist";
            DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get(other).load(root));
            assertTrue(e.getMessage().contains(root.resolve("train-images-idx3-ubyte.gz").toString())
                    && e.getMessage().contains("/raw"), e.getMessage());
        }
    }

    @Test
    void dataDirWithUncompressedFilesLoadsAndValidates() {
        Path d = dir.resolve("mnist-plain");
        d.toFile().mkdirs();
        write(d.resolve("train-images-idx3-ubyte"), idx(0x803, new int[]{12, 28, 28}, pixels(12, 28, 28)));
        write(d.resolve("train-labels-idx1-ubyte"), idx(0x801, new int[]{12}, labels(12, 10)));
        write(d.resolve("t10k-images-idx3-ubyte.gz"), gzip(idx(0x803, new int[]{4, 28, 28}, pixels(4, 28, 28))));
        write(d.resolve("t10k-labels-idx1-ubyte.gz"), gzip(idx(0x801, new int[]{4}, labels(4, 10))));
        DatasetRegistry.Splits s = DatasetRegistry.get("mnist").load(d);
        assertEquals(12, s.train().size());
        assertEquals(4, s.test().size());
        assertEquals("mnist/test", s.test().name());
        assertEquals(List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), s.train().classNames());
        assertFalse(s.hasNotice());
        float[] x = new float[784];
        assertEquals(5, s.train().read(5, x, 0));
        assertEquals(((pixels(12, 28, 28)[5 * 784 + 100] & 0xFF) / 255.0 - 0.1307) / 0.3081, x[100], 1e-6);

        // Wrong image size for an MNIST-format dataset.
        write(d.resolve("t10k-images-idx3-ubyte.gz"), gzip(idx(0x803, new int[]{4, 32, 32}, pixels(4, 32, 32))));
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("mnist").load(d));
        assertTrue(e.getMessage().contains("32x32") && e.getMessage().contains("t10k-images"), e.getMessage());
        // Label count that disagrees with the image count.
        write(d.resolve("t10k-images-idx3-ubyte.gz"), gzip(idx(0x803, new int[]{5, 28, 28}, pixels(5, 28, 28))));
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("mnist").load(d));
        assertTrue(e.getMessage().contains("5 images") && e.getMessage().contains("4 labels"), e.getMessage());
    }
}
