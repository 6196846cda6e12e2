package io.dltrain.datasets;

import io.dltrain.datasets.idx.IdxFile;
import io.dltrain.runtime.data.Dataset;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The datasets dl-train knows by name, as plain code: one {@link Entry} per dataset with its description, default
 * directory and loader. {@code Entry.load(dir)} reads the four standard IDX files from {@code --data-dir} if given,
 * else from the default directory. Fashion-MNIST alone has a fallback: when no {@code --data-dir} is given and the
 * Debian package is not installed, it loads a bundled 10,000-image sample from the classpath and says so in
 * {@link Splits#notice()}. An explicit {@code --data-dir} with missing files is always an error, never a fallback.
 */
public final class DatasetRegistry {
    private DatasetRegistry() {}

    /** File names of the four IDX files (each also accepted without the .gz suffix, uncompressed). */
    public static final String TRAIN_IMAGES = "train-images-idx3-ubyte.gz";
    public static final String TRAIN_LABELS = "train-labels-idx1-ubyte.gz";
    public static final String TEST_IMAGES = "t10k-images-idx3-ubyte.gz";
    public static final String TEST_LABELS = "t10k-labels-idx1-ubyte.gz";
    private static final List<String> FILES = List.of(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS);

    /**
     * A dataset's train and test splits.
     *
     * @param notice a line for the caller to print (e.g. that the bundled sample is used instead of the full set),
     *               or "" when there is nothing to say; never null
     */
    public record Splits(Dataset train, Dataset test, String notice) {
        public Splits {
            notice = notice == null ? "" : notice;
        }

        public Splits(Dataset train, Dataset test) { this(train, test, ""); }

        public boolean hasNotice() { return !notice.isEmpty(); }
    }

    /** One registered dataset. */
    public static final class Entry {
        private final String name;
        private final String title;
        private final String description;
        private final Path defaultDir;
        private final List<String> classNames;
        private final float mean;
        private final float std;
        /** How to obtain the files, appended to "not found" messages. */
        private final String installHint;
        /** Classpath folder of a bundled sample, or null. */
        private final String sampleResourceDir;
        /** With a sample: the command that installs the full set, quoted in the notice. */
        private final String fullSetCommand;

        private Entry(String name, String title, String description, Path defaultDir, List<String> classNames,
                      float mean, float std, String installHint, String sampleResourceDir, String fullSetCommand) {
            this.name = name;
            this.title = title;
            this.description = description;
            this.defaultDir = defaultDir;
            this.classNames = classNames;
            this.mean = mean;
            this.std = std;
            this.installHint = installHint;
            this.sampleResourceDir = sampleResourceDir;
            this.fullSetCommand = fullSetCommand;
        }

        public String name() { return name; }

        public String description() { return description; }

        /** Where the files are looked for when no --data-dir is given. */
        public Path defaultDir() { return defaultDir; }

        public List<String> classNames() { return classNames; }

        /** Whether a small sample ships inside the jar, used when the default directory does not exist. */
        public boolean hasBundledSample() { return sampleResourceDir != null; }

        /**
         * Loads the train and test splits from {@code dataDirOrNull} (the --data-dir option) or, if null, from
         * {@link #defaultDir()} (falling back to the bundled sample where there is one and the default directory
         * does not exist).
         *
         * @throws DatasetException if files are missing, corrupt or inconsistent; the message says which and what to do
         */
        public Splits load(Path dataDirOrNull) { return load(dataDirOrNull, defaultDir); }

        /** {@link #load(Path)} with the default directory overridden (tests use a directory that doesn't exist). */
        Splits load(Path dataDirOrNull, Path defaultDirectory) {
            if (dataDirOrNull != null) {
                if (!Files.isDirectory(dataDirOrNull))
                    throw new DatasetException("--data-dir " + dataDirOrNull + ": " + (Files.exists(dataDirOrNull) ? "is not a directory" : "does not exist")
                            + ". It must contain the " + title + " files " + String.join(", ", FILES) + ". " + installHint);
                return fromDirectory(dataDirOrNull, "--data-dir " + dataDirOrNull);
            }
            if (!Files.exists(defaultDirectory) && sampleResourceDir != null) {
                Splits sample = fromClasspath();
                return new Splits(sample.train(), sample.test(), String.format(Locale.ROOT,
                        "%s not installed at %s; using the bundled %,d-image sample (%,d test images). For the full set: %s",
                        title, defaultDirectory, sample.train().size(), sample.test().size(), fullSetCommand));
            }
            return fromDirectory(defaultDirectory, "default directory " + defaultDirectory);
        }

        private Splits fromDirectory(Path dir, String where) {
            List<Path> found = new ArrayList<>();
            List<String> missing = new ArrayList<>();
            for (String f : FILES) {
                Path gz = dir.resolve(f), plain = dir.resolve(f.substring(0, f.length() - 3));
                if (Files.isRegularFile(gz)) found.add(gz);
                else if (Files.isRegularFile(plain)) found.add(plain);
                else missing.add(gz + " (nor " + plain.getFileName() + ")");
            }
            if (!missing.isEmpty())
                throw new DatasetException(title + " file" + (missing.size() > 1 ? "s" : "") + " not found in " + where + ": "
                        + String.join(", ", missing) + ". " + installHint);
            Dataset train = dataset(name + "/train", IdxFile.read(found.get(0), IdxFile.IMAGES_U8), IdxFile.read(found.get(1), IdxFile.LABELS_U8));
            Dataset test = dataset(name + "/test", IdxFile.read(found.get(2), IdxFile.IMAGES_U8), IdxFile.read(found.get(3), IdxFile.LABELS_U8));
            return new Splits(train, test);
        }

        private Splits fromClasspath() {
            IdxFile[] f = new IdxFile[4];
            for (int i = 0; i < 4; i++) {
                String resource = sampleResourceDir + "/" + FILES.get(i);
                String source = "classpath:" + resource;
                try (InputStream in = DatasetRegistry.class.getClassLoader().getResourceAsStream(resource)) {
                    if (in == null)
                        throw new DatasetException(source + ": bundled sample missing from the classpath (a broken build of"
                                + " dl-train-datasets?). " + installHint);
                    f[i] = IdxFile.read(source, in, -1, true, i % 2 == 0 ? IdxFile.IMAGES_U8 : IdxFile.LABELS_U8);
                } catch (IOException e) { // only close() can throw here, after the data was read
                    throw new DatasetException(source + ": cannot close the bundled resource: " + e, e);
                }
            }
            return new Splits(dataset(name + "-sample/train", f[0], f[1]), dataset(name + "-sample/test", f[2], f[3]));
        }

        private IdxDataset dataset(String dsName, IdxFile images, IdxFile labels) {
            if (images.dims().length == 3 && (images.dim(1) != 28 || images.dim(2) != 28))
                throw new DatasetException(images.source() + ": images are " + images.dim(1) + "x" + images.dim(2) + ", but "
                        + title + " images are 28x28: wrong file?");
            return new IdxDataset(dsName, images, labels, classNames, mean, std);
        }

        @Override public String toString() { return name + ": " + description; }
    }

    private static final Entry FASHION_MNIST = new Entry(
            "fashion-mnist", "Fashion-MNIST",
            "Zalando's 28x28 grayscale clothing images, 10 classes, 60,000 train / 10,000 test (MIT licence)",
            Path.of("/usr/share/datasets/fashion-mnist"),
            List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            0.2860f, 0.3530f,
            "Install the full dataset with: apt-get install dataset-fashion-mnist (it puts the files in"
                    + " /usr/share/datasets/fashion-mnist), or pass --data-dir DIR pointing to a directory holding them.",
            "io/dltrain/datasets/sample/fashion-mnist", "apt-get install dataset-fashion-mnist");

    private static final Entry MNIST = new Entry(
            "mnist", "MNIST",
            "LeCun et al.'s 28x28 grayscale handwritten digits, 10 classes, 60,000 train / 10,000 test",
            Path.of(System.getProperty("user.home"), ".dl-train", "datasets", "mnist"),
            List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
            0.1307f, 0.3081f,
            "MNIST is not packaged for Debian: download " + String.join(", ", FILES) + " from an MNIST mirror into "
                    + Path.of(System.getProperty("user.home"), ".dl-train", "datasets", "mnist")
                    + ", or pass --data-dir DIR pointing to a directory holding them.",
            null, null);

    private static final List<Entry> ENTRIES = List.of(FASHION_MNIST, MNIST);

    /** All registered datasets, in a fixed order. */
    public static List<Entry> entries() { return ENTRIES; }

    /** The dataset called {@code name}; an unknown name is a DatasetException listing the valid ones. */
    public static Entry get(String name) {
        for (Entry e : ENTRIES) if (e.name.equals(name)) return e;
        throw new DatasetException("unknown dataset '" + name + "'; valid names: "
                + ENTRIES.stream().map(Entry::name).collect(Collectors.joining(", ")));
    }
}
