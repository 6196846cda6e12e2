package io.dltrain.datasets;

import io.dltrain.datasets.idx.IdxFile;
import io.dltrain.datasets.transform.CenterCrop;
import io.dltrain.datasets.transform.Normalize;
import io.dltrain.datasets.transform.RandomCrop;
import io.dltrain.datasets.transform.RandomHorizontalFlip;
import io.dltrain.datasets.transform.RandomResizedCrop;
import io.dltrain.datasets.transform.Resize;
import io.dltrain.datasets.transform.Transform;
import io.dltrain.runtime.Names;
import io.dltrain.runtime.data.Dataset;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * The datasets dl-train knows by name, as plain code: one {@link Entry} per dataset with its description, default
 * directory and loader. {@code Entry.load(dir)} reads the files from {@code --data-dir} if given, else from the
 * default directory. Fashion-MNIST alone has a fallback: when no {@code --data-dir} is given and the Debian package
 * is not installed, it loads a bundled 10,000-image sample from the classpath and says so in {@link Splits#notice()}.
 * An explicit {@code --data-dir} with missing files is always an error, never a fallback.
 *
 * <p>Some datasets take options after a colon in the name, e.g. {@code synthetic:1x28x28,classes=10} or
 * {@code imagenet-subset:size=160,skipbad=true}; {@link Entry#usage()} lists them. {@link #get} rejects unknown or
 * repeated keys before anything is loaded; values are checked when the dataset is loaded.
 */
public final class DatasetRegistry {
    private DatasetRegistry() {}

    /** File names of the four IDX files (each also accepted without the .gz suffix, uncompressed). */
    public static final String TRAIN_IMAGES = "train-images-idx3-ubyte.gz";
    public static final String TRAIN_LABELS = "train-labels-idx1-ubyte.gz";
    public static final String TEST_IMAGES = "t10k-images-idx3-ubyte.gz";
    public static final String TEST_LABELS = "t10k-labels-idx1-ubyte.gz";
    private static final List<String> FILES = List.of(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS);

    /** Where datasets without a system package live by default: ~/.dl-train/datasets/NAME. */
    public static Path userDir(String name) {
        return Path.of(System.getProperty("user.home"), ".dl-train", "datasets", name);
    }

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

    /** Reads a dataset's splits from a directory; {@code where} describes it for messages. */
    @FunctionalInterface
    private interface DirLoader {
        Splits load(DatasetOptions options, Path dir, String where);

        /** As load, with a test split read a batch at a time where the format allows it (csv); else as load. */
        default Splits loadStreamingTest(DatasetOptions options, Path dir, String where) { return load(options, dir, where); }
    }

    /** One registered dataset. */
    public static final class Entry {
        private final String name;
        private final String title;
        private final String description;
        private final Path defaultDir;
        private final List<String> classNames;
        /** What the data directory must hold, for "does not exist" messages. */
        private final String expects;
        /** How to obtain the files, appended to "not found" messages. */
        private final String installHint;
        /** Reads the files; null for a generated dataset. */
        private final DirLoader loader;
        /** Builds a generated dataset (no files); null for file-based ones. */
        private final Function<DatasetOptions, Splits> generator;
        /** Classpath folder of a bundled sample, or null. */
        private final String sampleResourceDir;
        /** With a sample: the command that installs the full set, quoted in the notice. */
        private final String fullSetCommand;
        private final List<String> optionKeys;
        private final boolean positionalOption;
        private final String optionsUsage;
        /** Options given in the name (after the colon); never null. */
        private final DatasetOptions options;

        private Entry(String name, String title, String description, Path defaultDir, List<String> classNames, String expects,
                      String installHint, DirLoader loader, Function<DatasetOptions, Splits> generator,
                      String sampleResourceDir, String fullSetCommand, List<String> optionKeys, boolean positionalOption,
                      String optionsUsage, DatasetOptions options) {
            this.name = name;
            this.title = title;
            this.description = description;
            this.defaultDir = defaultDir;
            this.classNames = classNames;
            this.expects = expects;
            this.installHint = installHint;
            this.loader = loader;
            this.generator = generator;
            this.sampleResourceDir = sampleResourceDir;
            this.fullSetCommand = fullSetCommand;
            this.optionKeys = optionKeys;
            this.positionalOption = positionalOption;
            this.optionsUsage = optionsUsage;
            this.options = options != null ? options : new DatasetOptions(name, "", optionKeys, positionalOption);
        }

        private static Entry files(String name, String title, String description, Path defaultDir, List<String> classNames,
                                   String expects, String installHint, DirLoader loader, List<String> optionKeys, String optionsUsage) {
            return new Entry(name, title, description, defaultDir, classNames, expects, installHint, loader, null, null, null,
                    optionKeys, false, optionsUsage, null);
        }

        /** A copy bound to the options of {@code fullName} ("base:options"). */
        private Entry withOptions(String fullName, String text) {
            DatasetOptions o = new DatasetOptions(name, text, optionKeys, positionalOption);
            return new Entry(fullName, title, description, defaultDir, classNames, expects, installHint, loader, generator,
                    sampleResourceDir, fullSetCommand, optionKeys, positionalOption, optionsUsage, o);
        }

        /** The name, including any options it was looked up with ("synthetic:1x28x28"). */
        public String name() { return name; }

        public String description() { return description; }

        /**
         * Where the files are looked for when no --data-dir is given. For a generated dataset ({@link #readsFiles()}
         * false) nothing is read from it: it is the placeholder {@code (generated in memory)}.
         */
        public Path defaultDir() { return defaultDir; }

        /** The class names when fixed by the dataset; empty when they come from the data (image folders, synthetic). */
        public List<String> classNames() { return classNames; }

        /** Whether the dataset is read from files (false: generated, takes no --data-dir). */
        public boolean readsFiles() { return generator == null; }

        /** Whether a small sample ships inside the jar, used when the default directory does not exist. */
        public boolean hasBundledSample() { return sampleResourceDir != null; }

        /**
         * The validation pipeline of an image folder dataset ({@code imagefolder}, {@code imagenet-subset}) with these
         * options, for samples of {@code height} x {@code width} (the sample shape, which for {@code imagefolder}
         * without size= is the first training image's): the transform its validation split applies to a decoded
         * image. Empty for the other datasets. {@code dl-train predict} uses it so that a file gets the same input
         * as in validation.
         */
        public java.util.Optional<Transform> evalTransform(int height, int width) {
            return switch (options.dataset()) {
                case "imagefolder" -> java.util.Optional.of(imageFolderEval(options, height, width));
                case "imagenet-subset" -> java.util.Optional.of(imageNetEval(options));
                default -> java.util.Optional.empty();
            };
        }

        /**
         * The name with its options, e.g. "synthetic[:CxHxW][,classes=N]...", or just the name if it takes none. An
         * optional option shows its default ([,seed=0]), or a choice its default first ([,norm=none|imagenet]):
         * {@link #optionDifferences} reads them there.
         */
        public String usage() { return optionsUsage != null ? optionsUsage : name; }

        /**
         * Loads the train and test splits from {@code dataDirOrNull} or, if null, from {@link #defaultDir()} (falling
         * back to the bundled sample where there is one and the default directory does not exist). A generated dataset
         * takes no directory. Errors name the directory as this method's argument ("data directory /x"); a command
         * that takes it from an option of its own calls {@link #load(Path, String)}.
         *
         * @throws DatasetException if files are missing, corrupt or inconsistent; the message says which and what to do
         */
        public Splits load(Path dataDirOrNull) { return load(dataDirOrNull, null, defaultDir, false); }

        /**
         * {@link #load(Path)} for a command that takes the directory from its option {@code dirOption} ("--data-dir"),
         * which the errors then name ("--data-dir /x: does not exist").
         */
        public Splits load(Path dataDirOrNull, String dirOption) { return load(dataDirOrNull, dirOption, defaultDir, false); }

        /**
         * As {@link #load(Path, String)}, for an evaluation: where the format allows it (csv), the test split's rows are
         * not read here but a batch at a time as they are evaluated ({@link CsvDataset#streamed()}, {@link CsvDataset#rows()}),
         * so that a test file larger than memory can be evaluated; its header is checked here. Other datasets load as
         * {@link #load(Path, String)} does.
         */
        public Splits loadStreamingTest(Path dataDirOrNull, String dirOption) { return load(dataDirOrNull, dirOption, defaultDir, true); }

        /** {@link #load(Path)} with the default directory overridden (tests use a directory that doesn't exist). */
        Splits load(Path dataDirOrNull, Path defaultDirectory) { return load(dataDirOrNull, null, defaultDirectory, false); }

        private Splits load(Path dataDirOrNull, String dirOption, Path defaultDirectory, boolean streamTest) {
            String given = dirOption != null ? dirOption + " " + dataDirOrNull : "data directory " + dataDirOrNull;
            if (generator != null) {
                if (dataDirOrNull != null)
                    throw new DatasetException(given + ": " + title + " is generated in memory and reads no files; "
                            + (dirOption != null ? "drop " + dirOption : "load it with no directory (load(null))")
                            + " (set its parameters in the name instead: " + usage() + ")");
                return generator.apply(options);
            }
            if (dataDirOrNull != null) {
                if (!Files.isDirectory(dataDirOrNull))
                    throw new DatasetException(given + ": " + (Files.exists(dataDirOrNull) ? "is not a directory" : "does not exist")
                            + ". It must contain " + expects + ". " + installHint);
                return streamTest ? loader.loadStreamingTest(options, dataDirOrNull, given) : loader.load(options, dataDirOrNull, given);
            }
            if (!Files.exists(defaultDirectory) && sampleResourceDir != null) {
                Splits sample = fromClasspath();
                return new Splits(sample.train(), sample.test(), String.format(Locale.ROOT,
                        "%s not installed at %s; using the bundled %,d-image sample (%,d test images). For the full set: %s",
                        title, defaultDirectory, sample.train().size(), sample.test().size(), fullSetCommand));
            }
            String where = "default directory " + defaultDirectory;
            return streamTest ? loader.loadStreamingTest(options, defaultDirectory, where) : loader.load(options, defaultDirectory, where);
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
            return new Splits(idxDataset(name + "-sample/train", f[0], f[1]), idxDataset(name + "-sample/test", f[2], f[3]));
        }

        private IdxDataset idxDataset(String dsName, IdxFile images, IdxFile labels) { return ((Idx) loader).dataset(dsName, images, labels); }

        @Override public String toString() { return name + ": " + description; }
    }

    // ---------------------------------------------------------------------------------------------------------- IDX

    /**
     * The MNIST-format parameters of an IDX entry. {@code torchvisionFolder} is the folder torchvision's dataset class
     * keeps the files in, under its root: {@code root/<torchvisionFolder>/raw/} ("MNIST", "FashionMNIST").
     */
    private record Idx(String title, List<String> classNames, float mean, float std, String installHint,
                       String torchvisionFolder) implements DirLoader {
        @Override public Splits load(DatasetOptions options, Path dir, String where) {
            String name = options.dataset();
            // the files in dir, else where torchvision's MNIST(root=dir, download=True) put them (dir may be its root or
            // root/MNIST; a raw/ folder of another name may be another dataset's)
            Path tv = dir.resolve(torchvisionFolder).resolve("raw");
            List<Path> places = new ArrayList<>(List.of(dir, tv));
            if (dir.getFileName() != null && dir.getFileName().toString().equals(torchvisionFolder)) places.add(dir.resolve("raw"));
            Path base = places.stream().filter(p -> FILES.stream().allMatch(f -> idxFile(p, f) != null)).findFirst().orElse(dir);
            List<Path> found = new ArrayList<>();
            List<String> missing = new ArrayList<>();
            for (String f : FILES) {
                Path file = idxFile(base, f);
                if (file != null) found.add(file);
                else missing.add(base.resolve(f) + " (nor " + f.substring(0, f.length() - 3) + ")");
            }
            if (!missing.isEmpty())
                throw new DatasetException(title + " file" + (missing.size() > 1 ? "s" : "") + " not found in " + where + ": "
                        + String.join(", ", missing) + " (nor in " + String.join(" or ", places.subList(1, places.size()).stream()
                        .map(Path::toString).toList()) + ", where torchvision keeps them). " + installHint);
            Dataset train = dataset(name + "/train", IdxFile.read(found.get(0), IdxFile.IMAGES_U8), IdxFile.read(found.get(1), IdxFile.LABELS_U8));
            Dataset test = dataset(name + "/test", IdxFile.read(found.get(2), IdxFile.IMAGES_U8), IdxFile.read(found.get(3), IdxFile.LABELS_U8));
            return new Splits(train, test);
        }

        /** dir's IDX file f (its .gz name), or the same uncompressed; null when neither is there. */
        private static Path idxFile(Path dir, String f) {
            Path gz = dir.resolve(f), plain = dir.resolve(f.substring(0, f.length() - 3));
            return Files.isRegularFile(gz) ? gz : Files.isRegularFile(plain) ? plain : null;
        }

        IdxDataset dataset(String dsName, IdxFile images, IdxFile labels) {
            if (images.dims().length == 3 && (images.dim(1) != 28 || images.dim(2) != 28))
                throw new DatasetException(images.source() + ": images are " + images.dim(1) + "x" + images.dim(2) + ", but "
                        + title + " images are 28x28: wrong file?");
            return new IdxDataset(dsName, images, labels, classNames, mean, std);
        }
    }

    /** How to give another directory, in both the command's terms and the library's, for the hints below. */
    static final String GIVE_DIR = "--data-dir DIR on the command line, DatasetRegistry.get(name).load(dir) in Java";

    private static final String FASHION_HINT = "Install the full dataset with: apt-get install dataset-fashion-mnist (it puts the files in"
            + " /usr/share/datasets/fashion-mnist), or give a directory holding them: " + GIVE_DIR + ".";
    private static final Idx FASHION_IDX = new Idx("Fashion-MNIST",
            List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            0.2860f, 0.3530f, FASHION_HINT, "FashionMNIST");
    private static final Entry FASHION_MNIST = new Entry(
            "fashion-mnist", "Fashion-MNIST",
            "Zalando's 28x28 grayscale clothing images, 10 classes, 60,000 train / 10,000 test (MIT licence)",
            Path.of("/usr/share/datasets/fashion-mnist"), FASHION_IDX.classNames(),
            "the Fashion-MNIST files " + String.join(", ", FILES), FASHION_HINT, FASHION_IDX, null,
            "io/dltrain/datasets/sample/fashion-mnist", "apt-get install dataset-fashion-mnist", List.of(), false, null, null);

    private static final String MNIST_HINT = "MNIST is not packaged for Debian: download " + String.join(", ", FILES) + " from an MNIST mirror into "
            + userDir("mnist") + ", or give a directory holding them: " + GIVE_DIR + ".";
    private static final Idx MNIST_IDX = new Idx("MNIST", List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), 0.1307f, 0.3081f, MNIST_HINT, "MNIST");
    private static final Entry MNIST = Entry.files(
            "mnist", "MNIST",
            "LeCun et al.'s 28x28 grayscale handwritten digits, 10 classes, 60,000 train / 10,000 test",
            userDir("mnist"), MNIST_IDX.classNames(), "the MNIST files " + String.join(", ", FILES), MNIST_HINT, MNIST_IDX, List.of(), null);

    // -------------------------------------------------------------------------------------------------------- CIFAR

    private static Entry cifar(String name, CifarDataset.Kind kind, String description) {
        Path dir = userDir(name);
        return Entry.files(name, kind.title, description, dir, kind.standardClassNames(),
                "the " + kind.title + " binary files " + String.join(", ", kind.files()) + " (or a " + kind.subfolder + "/ folder holding them)",
                kind.installHint(dir), (o, d, where) -> CifarDataset.load(kind, o.dataset(), d, where), List.of(), null);
    }

    private static final Entry CIFAR10 = cifar("cifar10", CifarDataset.Kind.CIFAR10,
            "Krizhevsky's 32x32 colour images, 10 classes, 50,000 train / 10,000 test (binary version)");
    private static final Entry CIFAR100 = cifar("cifar100", CifarDataset.Kind.CIFAR100,
            "Krizhevsky's 32x32 colour images, 100 fine classes (20 coarse), 50,000 train / 10,000 test (binary version)");

    // ---------------------------------------------------------------------------------------------------- synthetic

    private static final Entry SYNTHETIC = new Entry("synthetic", "synthetic",
            "Generated, learnable random data (class pattern + noise); default 3x32x32, 10 classes, 1,024 train / 256 test",
            Path.of("(generated in memory)"), List.of(), "nothing", "", null, Synthetic::fromOptions, null, null,
            Synthetic.OPTION_KEYS, true, "synthetic[:CxHxW][,classes=10][,train=1024][,test=256][,seed=0][,noise=1.0]", null);

    // ------------------------------------------------------------------------------------------------ image folders

    private static final List<String> FOLDER_KEYS = List.of("size", "augment", "norm", "seed", "skipbad");

    /** The image folder at dir, or a DatasetException saying what it must hold and how to get one. */
    private static void requireTree(Path dir, String where, String title, String hint) {
        if (!Files.isDirectory(dir))
            throw new DatasetException(title + ": " + where + " " + (Files.exists(dir) ? "is not a directory" : "does not exist")
                    + ". It must contain " + FOLDER_EXPECTS + ". " + hint);
    }

    /**
     * imagefolder: samples H x W = size=S, else the first training image's size; eval pipeline Resize(min(H, W)) +
     * CenterCrop(H, W) (no-ops on images of that size); training adds the chosen augmentation; values stay in [0, 1]
     * unless norm=imagenet.
     */
    private static Splits imageFolder(DatasetOptions o, Path dir, String where) {
        int size = imageSize(o, 0);
        requireTree(dir, where, IMAGEFOLDER_TITLE, IMAGEFOLDER_HINT);
        String augment = o.getString("augment", "none").toLowerCase(Locale.ROOT);
        if (!List.of("none", "flip", "crop", "rrc").contains(augment))
            throw o.error("augment must be none, flip (RandomHorizontalFlip), crop (RandomCrop with padding size/8 + flip)"
                    + " or rrc (RandomResizedCrop + flip), got '" + augment + "'");
        Transform n = folderNorm(o);
        Function<ImageFolderDataset.Tree, int[]> target =
                t -> o.has("size") ? new int[]{size, size} : ImageFolderDataset.firstImageSize(t);
        Function<ImageFolderDataset.Tree, Transform> eval = t -> {
            int[] hw = target.apply(t);
            return imageFolderEval(o, hw[0], hw[1]);
        };
        Function<ImageFolderDataset.Tree, Transform> train = t -> {
            int[] hw = target.apply(t);
            Transform fit = Transform.compose(new Resize(Math.min(hw[0], hw[1])), new CenterCrop(hw[0], hw[1]));
            return switch (augment) {
                case "flip" -> Transform.compose(fit, new RandomHorizontalFlip(), n);
                case "crop" -> Transform.compose(fit, new RandomCrop(hw[0], hw[1], Math.min(hw[0], hw[1]) / 8), new RandomHorizontalFlip(), n);
                case "rrc" -> Transform.compose(new RandomResizedCrop(hw[0], hw[1], 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0), new RandomHorizontalFlip(), n);
                default -> Transform.compose(fit, n);
            };
        };
        return ImageFolderDataset.load(o.dataset(), dir, train, eval, o.getLong("seed", 0), o.getBoolean("skipbad", false));
    }

    /**
     * The largest size=S of imagefolder and imagenet-subset: a sample, 3 x S x S floats, is one Java array (at most
     * 2^31-9 values), so S is at most 26,754. Larger, 3 * S * S overflows an int and the model is built for a
     * negative input size ("Linear: features must be >= 1, got -65371069").
     */
    static final int MAX_IMAGE_SIZE = (int) Math.sqrt((Integer.MAX_VALUE - 8) / 3.0);

    /** The size= option of the image-folder datasets (dflt when not given; 0: the first image's size), checked. */
    private static int imageSize(DatasetOptions o, int dflt) {
        int size = o.getInt("size", dflt);
        if (o.has("size") && (size < 1 || size > MAX_IMAGE_SIZE))
            throw o.error(String.format(Locale.ROOT, "size must be from 1 to %d (a sample is 3 x size x size floats, one Java array,"
                    + " which holds at most %,d), got %d", MAX_IMAGE_SIZE, Integer.MAX_VALUE - 8, size));
        return size;
    }

    /** imagefolder's norm= option as the last step of its pipelines. */
    private static Transform folderNorm(DatasetOptions o) {
        String norm = o.getString("norm", "none").toLowerCase(Locale.ROOT);
        if (!List.of("none", "imagenet").contains(norm)) throw o.error("norm must be none or imagenet, got '" + norm + "'");
        return norm.equals("imagenet") ? Normalize.IMAGENET : Transform.identity();
    }

    /** imagefolder's validation pipeline for H x W samples: Resize(min(H, W)) + CenterCrop(H, W) + its norm=. */
    private static Transform imageFolderEval(DatasetOptions o, int h, int w) {
        return Transform.compose(new Resize(Math.min(h, w)), new CenterCrop(h, w), folderNorm(o));
    }

    /** imagenet-subset's validation pipeline: Resize(size * 256 / 224) + CenterCrop(size) + ImageNet mean/std. */
    private static Transform imageNetEval(DatasetOptions o) {
        int size = imageSize(o, 224);
        return Transform.compose(new Resize((int) Math.round(size * 256.0 / 224.0)), new CenterCrop(size), Normalize.IMAGENET);
    }

    /** imagenet-subset: ImageNet recipe. Train: RandomResizedCrop(size) + flip; val: Resize(size * 256 / 224) + CenterCrop(size). */
    private static Splits imageNetSubset(DatasetOptions o, Path dir, String where) {
        int size = imageSize(o, 224);
        requireTree(dir, where, IMAGENET_TITLE, IMAGENET_HINT);
        Transform train = Transform.compose(new RandomResizedCrop(size), new RandomHorizontalFlip(), Normalize.IMAGENET);
        Transform val = imageNetEval(o);
        return ImageFolderDataset.load(o.dataset(), dir, train, val, o.getLong("seed", 0), o.getBoolean("skipbad", false));
    }

    private static final String FOLDER_EXPECTS = "train/<class>/<image> and val/<class>/<image> folders of .jpg/.png images"
            + " (or <class>/<image> folders without splits)";
    private static final String IMAGEFOLDER_TITLE = "Image folder", IMAGENET_TITLE = "ImageNet subset";
    private static final String IMAGEFOLDER_HINT = "Give such a tree as the data directory (" + GIVE_DIR + "; dl-train datasets prepare can write one from another dataset).";
    private static final String IMAGENET_HINT = "Put a subset of ImageNet (e.g. Imagenette) there as train/<wnid>/*.JPEG and"
            + " val/<wnid>/*.JPEG, or give another directory (" + GIVE_DIR + ").";
    private static final Entry IMAGEFOLDER = Entry.files("imagefolder", IMAGEFOLDER_TITLE,
            "Any DIR/{train,val}/<class>/<image>.jpg|png tree; sample size = first image's unless size=S; no augmentation by default",
            userDir("imagefolder"), List.of(), FOLDER_EXPECTS, IMAGEFOLDER_HINT, DatasetRegistry::imageFolder, FOLDER_KEYS,
            "imagefolder[:size=S][,augment=none|flip|crop|rrc][,norm=none|imagenet][,seed=0][,skipbad=false]");
    private static final Entry IMAGENET_SUBSET = Entry.files("imagenet-subset", IMAGENET_TITLE,
            "An ImageNet-style DIR/{train,val}/<class>/<image>.jpg tree with the ImageNet recipe (RandomResizedCrop 224 + flip;"
                    + " Resize 256 + CenterCrop 224; ImageNet mean/std)",
            userDir("imagenet-subset"), List.of(), FOLDER_EXPECTS, IMAGENET_HINT, DatasetRegistry::imageNetSubset,
            List.of("size", "seed", "skipbad"), "imagenet-subset[:size=224][,seed=0][,skipbad=false]");

    // ---------------------------------------------------------------------------------------------------------- CSV

    private static final String CSV_HINT = "Put train.csv and test.csv (a header row, then one sample per row) there, or give a directory"
            + " holding them (" + GIVE_DIR + "); train=FILE, test=FILE name other files in that directory.";
    private static final Entry CSV = Entry.files("csv", "CSV",
            "Tabular data: DIR/train.csv and DIR/test.csv with a header row, numeric features standardised with the training split's"
                    + " mean/std, a label column (classification, default: the last) or target=COLUMN (regression)",
            userDir("csv"), List.of(), "train.csv and test.csv", CSV_HINT,
            new DirLoader() {
                @Override public Splits load(DatasetOptions o, Path dir, String where) { return csv(o, dir, false); }

                @Override public Splits loadStreamingTest(DatasetOptions o, Path dir, String where) { return csv(o, dir, true); }
            },
            List.of("label", "target", "ignore", "train", "test", "standardize", "keepna"),
            "csv[:label=COLUMN|target=COLUMN][,ignore=COLUMN[+COLUMN...]][,train=train.csv][,test=test.csv][,standardize=true][,keepna=false]");

    private static Splits csv(DatasetOptions o, Path dir, boolean streamTest) {
        return CsvDataset.load(o.dataset(), dir.resolve(o.getString("train", "train.csv")),
                dir.resolve(o.getString("test", "test.csv")), o.getString("label", null), o.getString("target", null),
                o.has("ignore") ? List.of(o.getString("ignore", "").split("\\+")) : List.of(), o.getBoolean("standardize", true),
                o.getBoolean("keepna", false), streamTest);
    }

    private static final List<Entry> ENTRIES = List.of(FASHION_MNIST, MNIST, CIFAR10, CIFAR100, SYNTHETIC, IMAGEFOLDER, IMAGENET_SUBSET, CSV);

    /** Every registered dataset, in the order {@code dl-train datasets} lists them; {@link Entry#name()} is what {@link #get} takes. */
    public static List<Entry> entries() { return ENTRIES; }

    /**
     * The options in which {@code evaluated} differs from {@code trained}, two specs of the same dataset
     * ("seed: 2 here, 1 for the model; noise: ..."), or null when they agree or name different datasets. Options left
     * out take the default the dataset's usage shows ({@code [,seed=0]}; a choice's first value, {@code [,norm=none|imagenet]}), numbers compare by value (1 is 1.0) and text
     * in any case; the positional sample shape is left out (eval compares shapes itself).
     *
     * @throws DatasetException for a spec the registry does not take
     */
    public static String optionDifferences(String trained, String evaluated) {
        Entry t = get(trained), e = get(evaluated);
        if (!t.options.dataset().equals(e.options.dataset())) return null;
        java.util.Map<String, String> defaults = new java.util.HashMap<>();
        // "[,seed=0]" gives seed's default, "[,norm=none|imagenet]" (a choice) its first value; "size=S" and
        // "label=COLUMN|target=COLUMN" (placeholders) give none
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("[\\[,:]([a-z]+)=([^\\]\\[,|]+)(?:\\|[^\\]\\[,]*)?\\]").matcher(t.usage());
        while (m.find()) if (!m.group(2).matches("[A-Z][A-Z_]*")) defaults.put(m.group(1), m.group(2));
        List<String> diffs = new ArrayList<>();
        for (String key : t.optionKeys) {
            if (!changesEvaluatedSamples(t.options.dataset(), key)) continue;
            String a = t.options.getString(key, defaults.get(key)), b = e.options.getString(key, defaults.get(key));
            if (!sameOption(a, b)) diffs.add(key + ": " + (b == null ? "not given" : b) + " here, " + (a == null ? "not given" : a) + " for the model");
        }
        return diffs.isEmpty() ? null : String.join("; ", diffs);
    }

    /**
     * Whether option key of dataset can make the samples eval reads differ: not the training-time ones (augmentation,
     * an image folder's seed, which draws only its augmentation and shuffling, skipping bad files), nor csv's file
     * names (evaluating other rows is what eval is for) or its keepna (which only lets labels 'NA', ... be classes).
     */
    private static boolean changesEvaluatedSamples(String dataset, String key) {
        return switch (key) {
            case "augment", "skipbad" -> false;
            case "seed" -> !dataset.equals("imagefolder") && !dataset.equals("imagenet-subset");
            case "train", "test", "keepna" -> !dataset.equals("csv");
            default -> true;
        };
    }

    private static boolean sameOption(String a, String b) {
        if (a == null || b == null) return a == b;
        if (a.equalsIgnoreCase(b)) return true;
        try {
            return new java.math.BigDecimal(a).compareTo(new java.math.BigDecimal(b)) == 0;
        } catch (NumberFormatException notNumbers) {
            return false;
        }
    }

    /** The registered datasets' names (without options), which {@link #get} takes, as {@code ModelRegistry.names()}. */
    public static List<String> names() { return ENTRIES.stream().map(Entry::name).toList(); }

    /**
     * The dataset called {@code name}, optionally with options after a colon ("synthetic:1x28x28,classes=10").
     *
     * @throws DatasetException for an unknown name (listing the valid ones, and the one meant where that is clear: names are
     *                          case-sensitive, so "Fashion-MNIST" is refused with "did you mean 'fashion-mnist'?") or a bad
     *                          option (listing the valid ones)
     */
    public static Entry get(String name) {
        int colon = name.indexOf(':');
        String base = colon < 0 ? name : name.substring(0, colon);
        for (Entry e : ENTRIES) {
            if (!e.name.equals(base)) continue;
            if (colon < 0 || name.substring(colon + 1).isBlank()) return e;
            return e.withOptions(name, name.substring(colon + 1));
        }
        throw new DatasetException("unknown dataset '" + base + "'" + Names.didYouMean(base, names()) + "; valid names: " + String.join(", ", names()));
    }
}
