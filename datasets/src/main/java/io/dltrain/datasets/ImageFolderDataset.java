package io.dltrain.datasets;

import io.dltrain.datasets.transform.CenterCrop;
import io.dltrain.datasets.transform.Image;
import io.dltrain.datasets.transform.Resize;
import io.dltrain.datasets.transform.Seeds;
import io.dltrain.datasets.transform.Transform;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Shape;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.random.RandomGenerator;

/**
 * A classification dataset read from a directory tree of JPEG/PNG images, one folder per class
 * ({@code dir/<class>/<image>}), decoded on every read: mirrors {@code torchvision.datasets.ImageFolder(dir,
 * transform)} with the default PIL loader. Classes are the sorted names of {@code dir}'s sub-folders (index = rank);
 * the images of a class are every .jpg/.jpeg/.png file (extension case-insensitive) anywhere under its folder, in
 * the order of torchvision's {@code make_dataset}: sorted by folder path, then by file name. Decoding: see
 * {@link ImageCodec} (RGB, [0, 1], CHW); then the {@link Transform} pipeline, which must end in a fixed
 * [3, H, W] (e.g. with a crop), which is the sample shape.
 *
 * <p>Stricter than torchvision, on purpose: a file with another extension under a class folder is an error (not
 * silently skipped) and so is a class folder without images; hidden files and folders (names starting with '.'),
 * the files Windows writes into picture folders by itself (Thumbs.db, desktop.ini) and plain files directly in
 * {@code dir} are ignored. Symbolic links are followed, but one back to an
 * enclosing folder is an error (torchvision lists the images again at each level until the OS refuses the path).
 *
 * <p><b>Randomness.</b> Random transforms draw from a per-sample stream seeded from (seed, epoch, index) by
 * {@link Seeds#sample}, so a sample's augmentation is the same whichever loader thread reads it. A DataLoader reads
 * through {@link #readInEpoch} with its own epoch, so two loaders over this dataset at once (two trainings on two
 * threads) do not change each other's samples; {@link #read} has no epoch argument and uses the field set by
 * {@link #setEpoch(int)}, which {@code DataLoader.epoch} also calls before each epoch (see {@link EpochAware}).
 *
 * <p><b>Bad files.</b> A file that cannot be decoded throws a {@link DatasetException} naming it. With
 * {@code skipBadFiles}, it is instead remembered as bad and the read moves on to the next index (wrapping around)
 * until a good image is found, whose label is returned; so the batch keeps its size and one good sample is seen
 * twice that epoch. Files are not pre-scanned (decoding a large tree twice is too slow), so bad files are only
 * discovered when read; {@link #skippedReads()} and {@link #badFiles()} report them. A tree with no good file at
 * all fails on the first read. Running out of memory while decoding is not a bad file: it throws, skipBadFiles or not.
 */
public final class ImageFolderDataset implements Dataset, EpochAware {
    /** The file extensions read (lower case; matched case-insensitively). */
    public static final List<String> EXTENSIONS = List.of("jpg", "jpeg", "png");

    private final String name;
    private final Path dir;
    private final List<String> classNames;
    private final Path[] files;
    private final int[] labels;
    private final Transform transform;
    private final Shape shape;
    private final long seed;
    private final boolean skipBadFiles;
    private volatile int epoch;
    private final Map<Integer, String> bad = new ConcurrentHashMap<>();
    private final LongAdder skipped = new LongAdder();

    /** The result of scanning a tree: classes, and every image file with its label, in dataset order. */
    public record Tree(Path dir, List<String> classNames, List<Path> files, int[] labels) {
        public int size() { return files.size(); }
    }

    /**
     * @param name      registry name and split, e.g. "imagenet-subset/train"
     * @param tree      the scanned images ({@link #scan})
     * @param transform the pipeline from a decoded [3, H, W] image in [0, 1] to the sample; must end in a fixed size
     * @param seed      seed of the random transforms
     * @param skipBadFiles on an undecodable file, read the next good one instead of throwing (see the class comment)
     * @throws DatasetException if the pipeline's output size depends on the input image
     */
    public ImageFolderDataset(String name, Tree tree, Transform transform, long seed, boolean skipBadFiles) {
        this.name = Objects.requireNonNull(name, "name");
        this.dir = tree.dir();
        this.classNames = List.copyOf(tree.classNames());
        this.files = tree.files().toArray(new Path[0]);
        this.labels = tree.labels().clone();
        this.transform = Objects.requireNonNull(transform, "transform");
        int[] out;
        try {
            out = transform.outputShape(new int[]{3, -1, -1});
        } catch (IllegalArgumentException e) {
            throw new DatasetException(name + ": the transform pipeline " + transform + " does not accept RGB images: " + e.getMessage(), e);
        }
        if (out.length != 3 || out[0] < 1 || out[1] < 1 || out[2] < 1)
            throw new DatasetException(name + ": the transform pipeline " + transform + " gives images of shape " + Arrays.toString(out)
                    + " (-1: depends on the image), but a dataset needs one fixed sample shape: end it with a crop or a"
                    + " fixed-size resize (CenterCrop, RandomResizedCrop, Resize.exact)");
        this.shape = Shape.of(out);
        this.seed = seed;
        this.skipBadFiles = skipBadFiles;
    }

    /**
     * Scans {@code dir} for {@code dir/<class>/.../<image>} files.
     *
     * @param classes the class list to use (the training split's, when scanning a validation tree, which may lack
     *                some classes but not add any), or null to use the sorted sub-folder names
     * @throws DatasetException if dir is missing, has no class folders, a class folder has no images or holds a file
     *                          of another type, or (with {@code classes}) has a folder that is not one of them
     */
    public static Tree scan(Path dir, List<String> classes) {
        if (!Files.isDirectory(dir))
            throw new DatasetException(dir + ": " + (Files.exists(dir) ? "is not a directory" : "does not exist")
                    + "; an image folder dataset is a directory with one sub-folder of images per class");
        List<Path> classDirs = new ArrayList<>();
        int looseImages = 0;
        for (Path p : list(dir)) {
            String n = p.getFileName().toString();
            if (n.startsWith(".")) continue;
            if (Files.isDirectory(p)) classDirs.add(p);
            else if (EXTENSIONS.contains(extension(n))) looseImages++;
        }
        if (classDirs.isEmpty())
            throw new DatasetException(dir + ": no class folders: expected " + dir + "/<class>/<image>"
                    + (looseImages > 0 ? "; found " + looseImages + " images directly in " + dir + ": put them in one folder per class" : "")
                    + (classes != null ? " (validation classes must be among " + classes + ")" : ""));
        List<String> names = classDirs.stream().map(p -> p.getFileName().toString()).toList();
        List<String> classList = classes != null ? List.copyOf(classes) : names;
        if (classes != null)
            for (String n : names)
                if (!classes.contains(n))
                    throw new DatasetException(dir.resolve(n) + ": '" + n + "' is not one of the " + classes.size()
                            + " training classes; the validation tree must use the training tree's class folder names");
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (Path cd : classDirs) {
            int label = classList.indexOf(cd.getFileName().toString());
            List<Path> images = new ArrayList<>();
            collect(cd, images);
            if (images.isEmpty())
                throw new DatasetException(cd + ": class folder has no images (." + String.join(", .", EXTENSIONS)
                        + "): add images or remove the folder");
            // torchvision make_dataset: sorted(os.walk(...)), then sorted file names within each folder.
            images.sort(Comparator.comparing((Path p) -> p.getParent().toString()).thenComparing(p -> p.getFileName().toString()));
            for (Path f : images) {
                files.add(f);
                labels.add(label);
            }
        }
        return new Tree(dir, classList, List.copyOf(files), labels.stream().mapToInt(Integer::intValue).toArray());
    }

    private static void collect(Path folder, List<Path> out) { collect(folder, out, new ArrayList<>()); }

    /** {@code ancestors}: the real paths of folder's enclosing folders, up to its class folder, to tell a link loop. */
    private static void collect(Path folder, List<Path> out, List<Path> ancestors) {
        Path real;
        try {
            real = folder.toRealPath();
        } catch (IOException e) {
            throw new DatasetException(folder + ": cannot resolve the directory: " + e, e);
        }
        if (ancestors.contains(real))
            throw new DatasetException(folder + ": a symbolic link loop: this is " + real + ", which holds the link; symbolic links"
                    + " are followed (as torchvision's ImageFolder follows them), so remove this one or point it elsewhere");
        ancestors.add(real);
        for (Path p : list(folder)) {
            String n = p.getFileName().toString();
            if (passedOver(n)) continue;
            if (Files.isDirectory(p)) collect(p, out, ancestors);
            else if (EXTENSIONS.contains(extension(n))) out.add(p);
            else throw new DatasetException(p + ": unsupported file type " + (extension(n).isEmpty() ? "(no extension)" : "'." + extension(n) + "'")
                    + "; image folders may hold only ." + String.join(", .", EXTENSIONS) + " files (case-insensitive; names"
                    + " starting with '.' and Windows' Thumbs.db and desktop.ini are ignored): convert the file or move it out of " + folder);
        }
        ancestors.removeLast();
    }

    private static List<Path> list(Path dir) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) out.add(p);
        } catch (IOException e) {
            throw new DatasetException(dir + ": cannot list the directory: " + e, e);
        }
        out.sort(Comparator.comparing(p -> p.getFileName().toString()));
        return out;
    }

    /** What the operating system writes into picture folders by itself: Windows Explorer's thumbnail caches and folder settings. */
    private static final List<String> OS_FILES = List.of("thumbs.db", "ehthumbs.db", "desktop.ini");

    /**
     * Whether a name under a class folder is passed over: hidden (starting with '.', as a Mac's .DS_Store and ._NAME
     * files) or one of the files Windows writes into picture folders itself (Thumbs.db, desktop.ini; any case).
     */
    static boolean passedOver(String name) {
        return name.startsWith(".") || OS_FILES.contains(name.toLowerCase(Locale.ROOT));
    }

    /** Whether a file is an image this dataset reads: one of {@link #EXTENSIONS}, case-insensitive. */
    public static boolean isImage(Path file) {
        return file.getFileName() != null && EXTENSIONS.contains(extension(file.getFileName().toString()));
    }

    /**
     * Whether an ImageIO read warning is one that decoding here lets through (as PIL does: extraneous bytes before a
     * marker, an unusable ICC profile or thumbnail); any other warning means a truncated or damaged image, an error
     * (see {@code ImageCodec.decode}). For readers of image files outside this class, such as {@code dl-train predict}.
     */
    public static boolean isBenignReadWarning(String warning) {
        return ImageCodec.isBenign(warning);
    }

    /**
     * The bytes of an image file as these datasets hand them to ImageIO: a JPEG without its embedded ICC profile,
     * which PIL ignores and ImageIO's reader would convert every pixel through (see {@code ImageCodec}); other bytes
     * as they are. For readers of image files outside this class, such as {@code dl-train predict}.
     */
    public static byte[] withoutIccProfile(byte[] bytes) {
        return ImageCodec.withoutIccProfile(bytes);
    }

    /**
     * A decoded picture as these datasets read its pixels: RGB CHW floats v / 255, grey replicated, and CMYK converted
     * as PIL's convert("RGB") does it rather than through ImageIO's CMYK colour space. For readers of image files
     * outside this class, such as {@code dl-train predict}.
     *
     * @throws IllegalArgumentException for a picture too large to hold as floats
     */
    public static Image rgb(java.awt.image.BufferedImage img) {
        return ImageCodec.toImage(img);
    }

    /**
     * The error for an image whose decoding ran out of memory, as this dataset reports it: the file, its size (width or
     * height -1 where unknown) and the error as its cause. For {@code dl-train predict}, which decodes files itself.
     */
    public static DatasetException tooLarge(String source, int width, int height, OutOfMemoryError e) {
        return ImageCodec.tooLarge(source, width, height, e);
    }

    private static String extension(String fileName) {
        int dot = fileName.lastIndexOf('.');
        return dot < 0 ? "" : fileName.substring(dot + 1).toLowerCase(Locale.ROOT);
    }

    /**
     * Loads an image folder root: {@code root/train} and {@code root/val} as the two splits when both exist (val's
     * classes must be among train's); {@code root/train} alone, or else {@code root} itself as one tree, as the
     * training split with an empty test split (said in the notice: hold out a validation part instead).
     *
     * @param registryName   for dataset names ("imagefolder/train", ".../val")
     * @param trainTransform the training pipeline, or null for {@link #fitTo} the first training image's size
     * @param valTransform   the validation pipeline, or null likewise
     */
    public static DatasetRegistry.Splits load(String registryName, Path root, Transform trainTransform, Transform valTransform,
                                              long seed, boolean skipBadFiles) {
        return load(registryName, root, t -> trainTransform != null ? trainTransform : fitTo(t),
                t -> valTransform != null ? valTransform : fitTo(t), seed, skipBadFiles);
    }

    /**
     * {@link #load(String, Path, Transform, Transform, long, boolean)} with pipelines built from the scanned training
     * tree (e.g. to size them after its first image, {@link #firstImageSize}).
     */
    public static DatasetRegistry.Splits load(String registryName, Path root, Function<Tree, Transform> trainTransform,
                                              Function<Tree, Transform> valTransform, long seed, boolean skipBadFiles) {
        Path trainDir = root.resolve("train"), valDir = root.resolve("val");
        boolean hasTrain = Files.isDirectory(trainDir), hasVal = Files.isDirectory(valDir);
        if (hasVal && !hasTrain)
            throw new DatasetException(root + ": has a val/ folder but no train/ folder; expected " + root + "/train/<class>/<image>"
                    + " and " + root + "/val/<class>/<image>, or " + root + "/<class>/<image> without splits");
        Tree train = scan(hasTrain ? trainDir : root, null);
        Tree val = hasVal ? scan(valDir, train.classNames()) : new Tree(root, train.classNames(), List.of(), new int[0]);
        ImageFolderDataset tr = new ImageFolderDataset(registryName + "/train", train, trainTransform.apply(train), seed, skipBadFiles);
        ImageFolderDataset va = new ImageFolderDataset(registryName + "/val", val, valTransform.apply(train), seed, skipBadFiles);
        if (!tr.sampleShape().equals(va.sampleShape()))
            throw new DatasetException(registryName + ": the training pipeline gives samples " + tr.sampleShape()
                    + " but the validation pipeline " + va.sampleShape() + "; they must agree");
        String notice = hasVal ? "" : String.format(Locale.ROOT, "%s has no %s folder%s: using %s as the training split"
                        + " (%,d images, %d classes); the test split is empty, so hold out a validation part"
                        + " (DataLoader.split; --val-fraction on the command line)",
                root, hasTrain ? "val/" : "train/ and val/", hasTrain ? "" : "s", hasTrain ? trainDir : root, train.size(),
                train.classNames().size());
        return new DatasetRegistry.Splits(tr, va, notice);
    }

    /** {height, width} of the tree's first image, read from its header. */
    public static int[] firstImageSize(Tree tree) {
        if (tree.size() == 0) throw new DatasetException(tree.dir() + ": no images");
        return ImageCodec.size(tree.files().getFirst());
    }

    /**
     * The pipeline that brings every image to the size of the tree's first image, H x W: {@code Resize(min(H, W))}
     * then {@code CenterCrop(H, W)}; both are no-ops on images that already have that size (the usual case: trees
     * written by {@link ImageFolderWriter}).
     */
    public static Transform fitTo(Tree tree) {
        int[] hw = firstImageSize(tree);
        return Transform.compose(new Resize(Math.min(hw[0], hw[1])), new CenterCrop(hw[0], hw[1]));
    }

    @Override public String name() { return name; }

    @Override public int size() { return files.length; }

    @Override public Shape sampleShape() { return shape; }

    /** Every sample is a JPEG or PNG decoded on read. */
    @Override public boolean decodesFiles() { return true; }

    @Override public int numClasses() { return classNames.size(); }

    @Override public List<String> classNames() { return classNames; }

    public Path dir() { return dir; }

    public Transform transform() { return transform; }

    /** The image file of sample index. */
    public Path file(int index) { return files[Objects.checkIndex(index, files.length)]; }

    @Override
    public String describe(int index) { return "sample " + index + " (" + file(index) + ")"; }

    /** Label of sample index, without decoding it. */
    public int label(int index) { return labels[Objects.checkIndex(index, files.length)]; }

    @Override public void setEpoch(int epoch) {
        if (epoch < 0) throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        this.epoch = epoch;
    }

    @Override public int epoch() { return epoch; }

    /** Whether an undecodable file is replaced by the next good one (skipBadFiles) rather than thrown. */
    public boolean skipsBadFiles() { return skipBadFiles; }

    /** Reads replaced by another index because the file was bad (only with skipBadFiles). */
    public long skippedReads() { return skipped.sum(); }

    /** The bad files found so far, with why, in index order (only with skipBadFiles). */
    public Map<Path, String> badFiles() {
        Map<Path, String> out = new LinkedHashMap<>();
        new TreeMap<>(bad).forEach((i, why) -> out.put(files[i], why));
        return out;
    }

    /** Decodes and transforms sample index (no normalisation beyond the pipeline's) as an image. */
    public Image image(int index) {
        Objects.checkIndex(index, files.length);
        return transform.apply(ImageCodec.decode(files[index]), Seeds.sample(seed, epoch, index));
    }

    /** {@link #readInEpoch} in the epoch last set ({@link #setEpoch}; 0 before any). */
    @Override
    public int read(int index, float[] dst, int dstOffset) { return readInEpoch(epoch, index, dst, dstOffset); }

    /**
     * Sample index with the random transforms of {@code epoch}, whatever {@link #setEpoch} said last: a DataLoader reads
     * this way, so two loaders over this dataset at once each get their own epoch's crops and flips.
     */
    @Override
    public int readInEpoch(int epoch, int index, float[] dst, int dstOffset) {
        if (epoch < 0) throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        int n = files.length;
        if (index < 0 || index >= n)
            throw new IndexOutOfBoundsException(name + ": sample index " + index + " outside [0, " + n + ")");
        int numel = shape.size();
        Objects.checkFromIndexSize(dstOffset, numel, dst.length);
        int i = index;
        Image img = null;
        for (int tries = 0; img == null; tries++) {
            if (tries == n)
                throw new DatasetException(name + ": all " + n + " images under " + dir + " are unreadable (skipBadFiles), e.g. "
                        + files[index] + ": " + bad.get(index));
            if (skipBadFiles && bad.containsKey(i)) {
                skipped.increment();
                i = (i + 1) % n;
                continue;
            }
            try {
                img = ImageCodec.decode(files[i]);
            } catch (DatasetException e) {
                // out of memory decoding (ImageCodec.tooLarge) is not a bad file: a heap full of activations can fail any
                // image, and skipping it for the rest of the run would lose good images depending on the heap's timing
                if (!skipBadFiles || e.getCause() instanceof OutOfMemoryError) throw e;
                bad.put(i, e.getMessage());
                skipped.increment();
                i = (i + 1) % n;
            }
        }
        Image out = transformed(files[i], img, transform, Seeds.sample(seed, epoch, i));
        if (out.c() != shape.dim(0) || out.h() != shape.dim(1) || out.w() != shape.dim(2))
            throw new IllegalStateException(files[i] + ": the transform pipeline " + transform + " produced " + out
                    + ", not the sample shape " + shape);
        System.arraycopy(out.data(), 0, dst, dstOffset, numel);
        return labels[i];
    }

    /**
     * One image file as a sample of a dataset with pipeline {@code transform}: decoded as {@link #read} decodes
     * (RGB, [0, 1], CHW), then transformed. {@code dl-train predict} feeds files through the validation pipeline this
     * way, so that a file gives the model the same input as it does in the validation split.
     *
     * @throws DatasetException if the file cannot be decoded or the pipeline rejects the image
     */
    public static Image sample(Path file, Transform transform, RandomGenerator rng) {
        return transformed(file, ImageCodec.decode(file), transform, rng);
    }

    private static Image transformed(Path file, Image img, Transform transform, RandomGenerator rng) {
        try {
            return transform.apply(img, rng);
        } catch (IllegalArgumentException e) {
            throw new DatasetException(file + " (" + img.h() + "x" + img.w() + "): the transform pipeline failed: " + e.getMessage(), e);
        }
    }

    @Override public String toString() { return name + " (" + files.length + " images under " + dir + ", " + shape + ")"; }
}
