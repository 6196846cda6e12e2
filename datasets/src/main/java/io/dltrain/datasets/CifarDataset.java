package io.dltrain.datasets;

import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Shape;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * CIFAR-10 and CIFAR-100 from the official binary distributions (cs.toronto.edu/~kriz/cifar.html), held in memory
 * as raw bytes (50,000 x 3,072 = 154 MB for a training set) and converted on read.
 *
 * <p>Format: a file is a sequence of records, each {@code labelBytes} label bytes followed by 3,072 pixel bytes, the
 * R, G and B planes of a 32x32 image, rows top to bottom. CIFAR-10 ({@code data_batch_1.bin} .. {@code _5.bin},
 * {@code test_batch.bin}) has 1 label byte in [0, 10); CIFAR-100 ({@code train.bin}, {@code test.bin}) has 2: the
 * coarse label in [0, 20), then the fine label in [0, 100), which is the one used ({@link #coarseLabel} gives the
 * other). Class names come from {@code batches.meta.txt} (CIFAR-10) or {@code fine_label_names.txt} (CIFAR-100)
 * when present, else the standard names built in here.
 *
 * <p>A sample is [3, 32, 32] and mirrors torchvision's {@code Compose([ToTensor(), Normalize(mean, std)])} with the
 * per-channel statistics of the training set ({@link Kind#mean}, {@link Kind#std}). Validation before anything is
 * trusted: every file must be a non-empty whole number of records (the message names the file, the record size and
 * the actual size) and every label must be in range (the message names the file and the record). Immutable after
 * construction, so safe to read from several loader threads.
 */
public final class CifarDataset implements Dataset {
    /** Pixel bytes per record: 3 channels of 32x32. */
    public static final int IMAGE_BYTES = 3 * 32 * 32;

    /** The two CIFAR variants: file names, record layout, class names and normalisation statistics. */
    public enum Kind {
        CIFAR10("CIFAR-10", 1, 10,
                List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"),
                List.of("test_batch.bin"), "cifar-10-batches-bin", "batches.meta.txt",
                "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                // Training-set per-channel mean and (population) std of pixel / 255.
                new float[]{0.4914f, 0.4822f, 0.4465f}, new float[]{0.2470f, 0.2435f, 0.2616f}),
        CIFAR100("CIFAR-100", 2, 100, List.of("train.bin"), List.of("test.bin"), "cifar-100-binary", "fine_label_names.txt",
                "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                List.of("apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
                        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
                        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
                        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
                        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
                        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
                        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
                        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
                        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
                        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm"),
                new float[]{0.5071f, 0.4865f, 0.4409f}, new float[]{0.2673f, 0.2564f, 0.2762f});

        final String title;
        /** Label bytes before the pixels of each record; the last one is the class label. */
        final int labelBytes;
        final int numClasses;
        final List<String> trainFiles, testFiles;
        /** The folder the official tarball extracts to, accepted inside the data directory. */
        final String subfolder;
        final String namesFile;
        final String url;
        final List<String> standardNames;
        final float[] mean, std;

        Kind(String title, int labelBytes, int numClasses, List<String> trainFiles, List<String> testFiles, String subfolder,
             String namesFile, String url, List<String> standardNames, float[] mean, float[] std) {
            this.title = title;
            this.labelBytes = labelBytes;
            this.numClasses = numClasses;
            this.trainFiles = trainFiles;
            this.testFiles = testFiles;
            this.subfolder = subfolder;
            this.namesFile = namesFile;
            this.url = url;
            this.standardNames = standardNames;
            this.mean = mean;
            this.std = std;
            if (standardNames.size() != numClasses) throw new AssertionError(title + ": " + standardNames.size() + " names");
        }

        /** Bytes per record: label bytes + 3,072 pixel bytes. */
        public int recordBytes() { return labelBytes + IMAGE_BYTES; }

        public int numClasses() { return numClasses; }

        public List<String> standardClassNames() { return standardNames; }

        /** Per-channel (R, G, B) normalisation mean of pixel / 255. */
        public float[] mean() { return mean.clone(); }

        /** Per-channel normalisation standard deviation. */
        public float[] std() { return std.clone(); }

        /** Every file the dataset needs, train then test. */
        public List<String> files() {
            List<String> all = new ArrayList<>(trainFiles);
            all.addAll(testFiles);
            return all;
        }

        /** How to get the files into {@code dir}, appended to "not found" messages. */
        String installHint(Path dir) {
            String tar = url.substring(url.lastIndexOf('/') + 1);
            return "Download the binary version " + url + " and extract it into " + dir + " (mkdir -p " + dir + " && tar xzf "
                    + tar + " -C " + dir + "; the " + subfolder + "/ folder it creates is accepted), or give a directory holding "
                    + String.join(", ", files()) + " (" + DatasetRegistry.GIVE_DIR + ").";
        }
    }

    private final String name;
    private final Kind kind;
    private final int count;
    private final byte[] pixels;
    private final byte[] labels;
    private final byte[] coarse; // CIFAR-100 only, else null
    private final List<String> classNames;
    /** Normalised value of each pixel value per channel: lut[c * 256 + v]. */
    private final float[] lut = new float[3 * 256];

    private CifarDataset(String name, Kind kind, int count, byte[] pixels, byte[] labels, byte[] coarse, List<String> classNames) {
        this.name = name;
        this.kind = kind;
        this.count = count;
        this.pixels = pixels;
        this.labels = labels;
        this.coarse = coarse;
        this.classNames = List.copyOf(classNames);
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255f - kind.mean[c]) / kind.std[c]; // as ToTensor + Normalize
    }

    /**
     * Loads both splits from {@code dir}, or from {@code dir/<subfolder>} (the folder the official tarball extracts
     * to) when that holds the files instead.
     *
     * @param registryName the registry name, for dataset names ("cifar10/train")
     * @param where        how to describe dir in messages ("--data-dir /x", "data directory /x", "default directory /y")
     * @throws DatasetException if files are missing (naming every place looked and how to get them), corrupt or
     *                          inconsistent
     */
    public static DatasetRegistry.Splits load(Kind kind, String registryName, Path dir, String where) {
        Path sub = dir.resolve(kind.subfolder);
        Path base = !Files.isRegularFile(dir.resolve(kind.trainFiles.getFirst())) && Files.isDirectory(sub) ? sub : dir;
        List<String> missing = new ArrayList<>();
        for (String f : kind.files()) if (!Files.isRegularFile(base.resolve(f))) missing.add(f);
        if (!missing.isEmpty()) {
            String looked = base.equals(dir) ? dir + " (nor in " + sub + ")" : sub.toString();
            // The python tarball (cifar-10-batches-py/data_batch_1, cifar-100-python/train) is the common mistake.
            String pyFolder = kind == Kind.CIFAR10 ? "cifar-10-batches-py" : "cifar-100-python";
            String pyFile = kind.trainFiles.getFirst().replace(".bin", "");
            String python = Files.isRegularFile(dir.resolve(pyFile)) || Files.isRegularFile(dir.resolve(pyFolder).resolve(pyFile))
                    ? " There is a '" + pyFile + "' file: that is the Python (pickle) version of " + kind.title
                    + "; dl-train reads the binary version." : "";
            throw new DatasetException(kind.title + " file" + (missing.size() > 1 ? "s " : " ") + String.join(", ", missing)
                    + " not found in " + where + ": looked in " + looked + "." + python + " " + kind.installHint(dir));
        }
        List<String> names = classNames(kind, base.resolve(kind.namesFile));
        CifarDataset train = read(kind, registryName + "/train", kind.trainFiles.stream().map(base::resolve).toList(), names);
        CifarDataset test = read(kind, registryName + "/test", kind.testFiles.stream().map(base::resolve).toList(), names);
        return new DatasetRegistry.Splits(train, test);
    }

    /**
     * Reads records from {@code files} in order into one dataset.
     *
     * @throws DatasetException if a file is empty, not a whole number of records, or has a label out of range
     */
    public static CifarDataset read(Kind kind, String name, List<Path> files, List<String> classNames) {
        Objects.requireNonNull(name, "name");
        if (classNames.size() != kind.numClasses)
            throw new IllegalArgumentException(name + ": " + kind.title + " has " + kind.numClasses + " classes, got " + classNames.size() + " names");
        int rec = kind.recordBytes();
        long total = 0;
        long[] records = new long[files.size()];
        for (int i = 0; i < files.size(); i++) {
            Path f = files.get(i);
            long size;
            try {
                size = Files.size(f);
            } catch (IOException e) {
                throw new DatasetException(f + ": cannot read the file: " + e, e);
            }
            if (size == 0 || size % rec != 0) {
                int otherRec = kind == Kind.CIFAR10 ? Kind.CIFAR100.recordBytes() : Kind.CIFAR10.recordBytes();
                String other = size > 0 && size % otherRec == 0 ? String.format(Locale.ROOT, " (it is a whole number of %d-byte"
                        + " records: a %s file?)", otherRec, kind == Kind.CIFAR10 ? "CIFAR-100" : "CIFAR-10") : "";
                throw new DatasetException(String.format(Locale.ROOT, "%s: file size %,d bytes is not a whole number of %s records:"
                        + " expected a non-zero multiple of %,d bytes (%d label byte%s + %,d pixel bytes; the official files hold"
                        + " 10,000 records = %,d bytes%s), got %,d records and %,d bytes left over%s. The file is truncated or"
                        + " not a %s binary file; re-download it", f, size, kind.title, rec, kind.labelBytes, kind.labelBytes > 1 ? "s" : "",
                        IMAGE_BYTES, 10_000L * rec, kind == Kind.CIFAR100 ? " per 10,000 images" : "", size / rec, size % rec, other, kind.title));
            }
            records[i] = size / rec;
            total += records[i];
        }
        if (total > (Integer.MAX_VALUE - 8) / IMAGE_BYTES)
            throw new DatasetException(name + ": " + total + " records in " + files + " is more than this reader holds in memory ("
                    + (Integer.MAX_VALUE - 8) / IMAGE_BYTES + ")");
        int n = (int) total;
        byte[] pixels = new byte[n * IMAGE_BYTES], labels = new byte[n];
        byte[] coarse = kind.labelBytes == 2 ? new byte[n] : null;
        int at = 0;
        for (int i = 0; i < files.size(); i++) {
            Path f = files.get(i);
            try (InputStream in = new BufferedInputStream(Files.newInputStream(f), 1 << 20)) {
                byte[] head = new byte[kind.labelBytes];
                for (long r = 0; r < records[i]; r++, at++) {
                    if (in.readNBytes(head, 0, head.length) != head.length
                            || in.readNBytes(pixels, at * IMAGE_BYTES, IMAGE_BYTES) != IMAGE_BYTES)
                        throw new DatasetException(f + ": ended early at record " + r + " (the file shrank while being read?)");
                    int label = head[kind.labelBytes - 1] & 0xFF;
                    if (label >= kind.numClasses)
                        throw badLabel(f, r, kind.labelBytes == 2 ? "fine label" : "label", label, kind.numClasses, kind);
                    if (coarse != null) {
                        int c = head[0] & 0xFF;
                        if (c >= 20) throw badLabel(f, r, "coarse label", c, 20, kind);
                        coarse[at] = head[0];
                    }
                    labels[at] = (byte) label;
                }
            } catch (IOException e) {
                throw new DatasetException(f + ": cannot read the file: " + e, e);
            }
        }
        return new CifarDataset(name, kind, n, pixels, labels, coarse, classNames);
    }

    private static DatasetException badLabel(Path f, long record, String what, int label, int classes, Kind kind) {
        return new DatasetException(String.format(Locale.ROOT, "%s: record %d (byte offset %,d) has %s %d, outside [0, %d]: the"
                + " file is corrupt or not a %s binary file; re-download it", f, record, record * kind.recordBytes(), what, label,
                classes - 1, kind.title));
    }

    /**
     * The class names from {@code file} (one per line; blank lines ignored, surrounding spaces trimmed) if it exists,
     * else the standard names. A names file with the wrong number of names is an error.
     */
    static List<String> classNames(Kind kind, Path file) {
        if (!Files.isRegularFile(file)) return kind.standardNames;
        List<String> names;
        try {
            names = Files.readAllLines(file, StandardCharsets.UTF_8).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
        } catch (IOException e) {
            throw new DatasetException(file + ": cannot read the class names: " + e, e);
        }
        if (names.size() != kind.numClasses)
            throw new DatasetException(file + ": lists " + names.size() + " class names, " + kind.title + " has " + kind.numClasses
                    + ": the file is corrupt or belongs to another dataset; delete it to use the standard names");
        return names;
    }

    @Override public String name() { return name; }

    @Override public int size() { return count; }

    @Override public Shape sampleShape() { return Shape.of(3, 32, 32); }

    @Override public int numClasses() { return kind.numClasses; }

    @Override public List<String> classNames() { return classNames; }

    public Kind kind() { return kind; }

    /** Label of sample {@code index} (the fine label for CIFAR-100), without decoding its image. */
    public int label(int index) {
        Objects.checkIndex(index, count);
        return labels[index] & 0xFF;
    }

    /** CIFAR-100's coarse (superclass) label in [0, 20) of sample {@code index}. */
    public int coarseLabel(int index) {
        if (coarse == null) throw new UnsupportedOperationException(name + ": CIFAR-10 has no coarse labels");
        Objects.checkIndex(index, count);
        return coarse[index] & 0xFF;
    }

    /** The raw pixel byte of channel c, row y, column x of sample index (for tests and exporters). */
    public int pixel(int index, int c, int y, int x) {
        Objects.checkIndex(index, count);
        return pixels[index * IMAGE_BYTES + (c * 32 + y) * 32 + x] & 0xFF;
    }

    @Override
    public int read(int index, float[] dst, int dstOffset) {
        if (index < 0 || index >= count)
            throw new IndexOutOfBoundsException(name + ": sample index " + index + " outside [0, " + count + ")");
        Objects.checkFromIndexSize(dstOffset, IMAGE_BYTES, dst.length);
        int src = index * IMAGE_BYTES;
        for (int c = 0; c < 3; c++) {
            int lo = c * 256, plane = c * 1024;
            for (int j = 0; j < 1024; j++) dst[dstOffset + plane + j] = lut[lo + (pixels[src + plane + j] & 0xFF)];
        }
        return labels[index] & 0xFF;
    }

    @Override public String toString() { return name + " (" + count + " samples, " + sampleShape() + ")"; }
}
