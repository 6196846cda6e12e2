package io.dltrain.datasets;

import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Shape;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Exports an image {@link Dataset} ([1 or 3, H, W] samples, e.g. Fashion-MNIST or CIFAR-10) as an image folder tree
 * {@code root/train/<class>/<n>.png} and {@code root/val/<class>/<n>.png} (or .jpg), which
 * {@link ImageFolderDataset} and torchvision's {@code ImageFolder} read back. For {@code dl-train datasets prepare}.
 *
 * <p>Samples are normalised floats; they are turned back into 8-bit pixels with the dataset's normalisation:
 * {@code round((x * std[c] + mean[c]) * 255)}, clamped to [0, 255]. For {@link IdxDataset} and {@link CifarDataset}
 * the statistics are known ({@link #write(Dataset, Dataset, Path, Format)}); for others pass them. This inverts
 * their {@code (v / 255 - mean) / std} exactly (the float error is far below half a grey level), so a PNG export
 * reads back bit-exact.
 *
 * <p>File {@code <n>} is the sample's index in its split, zero-padded so that name order is index order. Class
 * folders are the class names with characters that cannot appear in a file name ('/', '\', ':', control
 * characters, a leading '.') replaced by '_' (Fashion-MNIST's "T-shirt/top" becomes "T-shirt_top"). ImageFolder
 * numbers classes in sorted folder-name order, which can differ from the dataset's label order (Fashion-MNIST:
 * "Ankle boot" becomes class 0); names are kept, indices may not be. A class with no sample in a split gets no
 * folder there.
 *
 * <p>Each split is written into a hidden {@code root/.<split>.partial} folder, and both are renamed to
 * {@code root/<split>} once both are complete, so an interrupted export never leaves a half-written split that looks
 * finished, nor a finished {@code train/} without its {@code val/} (a tree that trains without a test split, and
 * that the export run again refuses to overwrite). An existing non-empty {@code root/train} or {@code root/val} is an
 * error (never overwritten); an interrupted export's partial folders are deleted by the next one.
 */
public final class ImageFolderWriter {
    private ImageFolderWriter() {}

    /** Output image format. PNG is lossless; JPEG is smaller and lossy (see {@link ImageCodec#DEFAULT_JPEG_QUALITY}). */
    public enum Format {
        PNG("png"), JPEG("jpg");

        final String extension;

        Format(String extension) { this.extension = extension; }
    }

    /**
     * What was written.
     *
     * @param root        the tree's root
     * @param trainImages files under root/train
     * @param valImages   files under root/val (0 without a val split)
     * @param classDirs   the class folder names, in the dataset's label order
     * @param classFolders how many distinct class folders were made (a class with no sample in either split has none)
     */
    public record Summary(Path root, int trainImages, int valImages, List<String> classDirs, int classFolders) {}

    /** Exports an {@link IdxDataset} or {@link CifarDataset} pair (val may be null), undoing their known normalisation. */
    public static Summary write(Dataset train, Dataset val, Path root, Format format) {
        float[][] ms = stats(train);
        if (val != null) {
            float[][] v = stats(val);
            if (!java.util.Arrays.equals(ms[0], v[0]) || !java.util.Arrays.equals(ms[1], v[1]))
                throw new IllegalArgumentException(train.name() + " and " + val.name() + " are normalised differently");
        }
        return write(train, val, root, format, ms[0], ms[1], ImageCodec.DEFAULT_JPEG_QUALITY);
    }

    /**
     * Exports a train split and optionally a val split (null for none).
     *
     * @param mean        per-channel normalisation mean of the samples (of pixel / 255), one value or C values
     * @param std         per-channel normalisation std, likewise
     * @param jpegQuality JPEG quality in (0, 1], ignored for PNG
     * @throws IllegalArgumentException for samples that are not [1 or 3, H, W], or class names that collide once
     *                                  sanitised
     * @throws DatasetException         if root/train or root/val already holds files, or on write errors (naming the file)
     */
    public static Summary write(Dataset train, Dataset val, Path root, Format format, float[] mean, float[] std, float jpegQuality) {
        Shape s = train.sampleShape();
        if (s.rank() != 3 || (s.dim(0) != 1 && s.dim(0) != 3))
            throw new IllegalArgumentException(train.name() + ": samples are " + s + "; an image folder needs [1 or 3, H, W] (grey or RGB)");
        if (val != null && (!val.sampleShape().equals(s) || !val.classNames().equals(train.classNames())))
            throw new IllegalArgumentException(val.name() + " (" + val.sampleShape() + ", " + val.numClasses() + " classes) does not match "
                    + train.name() + " (" + s + ", " + train.numClasses() + " classes)");
        int c = s.dim(0);
        if ((mean.length != 1 && mean.length != c) || mean.length != std.length)
            throw new IllegalArgumentException("need 1 or " + c + " mean and std values, got " + mean.length + " and " + std.length);
        if (!(jpegQuality > 0 && jpegQuality <= 1)) throw new IllegalArgumentException("JPEG quality must be in (0, 1], got " + jpegQuality);
        List<String> dirs = classDirs(train.classNames());
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new DatasetException(root + ": cannot create the directory (" + why(e) + ")", e);
        }
        String taken = occupied(root, val == null ? List.of("train") : List.of("train", "val"));
        if (taken != null) throw new DatasetException(taken);
        boolean[] used = new boolean[dirs.size()]; // the classes given a folder, in either split
        int nTrain = writeSplit(train, root, "train", dirs, format, mean, std, jpegQuality, used);
        int nVal = val == null ? 0 : writeSplit(val, root, "val", dirs, format, mean, std, jpegQuality, used);
        // only now, both: a stop while val/ was written (a signal, a full disk) left a finished train/ and no val/
        for (String split : val == null ? List.of("train") : List.of("train", "val")) publish(root, split);
        int folders = 0;
        for (boolean u : used) if (u) folders++;
        return new Summary(root, nTrain, nVal, dirs, folders);
    }

    private static int writeSplit(Dataset ds, Path root, String split, List<String> dirs, Format format, float[] mean, float[] std,
                                  float quality, boolean[] used) {
        Shape s = ds.sampleShape();
        int c = s.dim(0), h = s.dim(1), w = s.dim(2), plane = h * w, n = ds.size();
        Path tmp = root.resolve("." + split + ".partial"), dst = root.resolve(split);
        deleteTree(tmp); // a leftover of an interrupted export: ours to remove
        int digits = Integer.toString(Math.max(0, n - 1)).length();
        float[] x = new float[c * plane];
        byte[] px = new byte[c * plane];
        boolean[] made = new boolean[dirs.size()];
        try {
            Files.createDirectories(tmp);
            for (int i = 0; i < n; i++) {
                int label = ds.read(i, x, 0);
                if (label < 0 || label >= dirs.size())
                    throw new DatasetException(ds.name() + ": sample " + i + " has label " + label + ", outside [0, " + dirs.size() + ")");
                for (int ch = 0; ch < c; ch++) {
                    float m = mean[mean.length == 1 ? 0 : ch], sd = std[std.length == 1 ? 0 : ch];
                    for (int j = ch * plane; j < (ch + 1) * plane; j++)
                        px[j] = (byte) Math.min(255, Math.max(0, Math.round((x[j] * sd + m) * 255f)));
                }
                Path classDir = tmp.resolve(dirs.get(label));
                if (!made[label]) {
                    Files.createDirectories(classDir);
                    made[label] = true;
                    used[label] = true;
                }
                Path f = classDir.resolve(String.format(Locale.ROOT, "%0" + digits + "d.%s", i, format.extension));
                try {
                    ImageCodec.write(px, c, h, w, f, format == Format.JPEG, quality);
                } catch (IOException e) {
                    throw new DatasetException(f + ": cannot write the image (" + why(e) + ")", e);
                }
            }
        } catch (IOException e) {
            throw new DatasetException(dst + ": cannot write the " + split + " split (" + why(e) + ")", e);
        }
        return n;
    }

    /** Renames a split written in full from root/.SPLIT.partial to root/SPLIT. */
    private static void publish(Path root, String split) {
        Path tmp = root.resolve("." + split + ".partial"), dst = root.resolve(split);
        try {
            if (Files.exists(dst)) Files.delete(dst); // an empty directory (checked by the caller)
            Files.move(tmp, dst, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new DatasetException(dst + ": cannot write the " + split + " split (" + why(e) + ")", e);
        }
    }

    /** Class names made safe as folder names; distinct names must stay distinct. */
    static List<String> classDirs(List<String> classNames) {
        List<String> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int k = 0; k < classNames.size(); k++) {
            String n = classNames.get(k).strip().replaceAll("[/\\\\:\\p{Cntrl}]", "_");
            if (n.startsWith(".")) n = "_" + n.substring(1);
            if (n.isEmpty()) n = "class" + k;
            if (!seen.add(n))
                throw new IllegalArgumentException("class names " + classNames + " give the folder name '" + n + "' twice (class " + k
                        + "); rename the classes");
            out.add(n);
        }
        return out;
    }

    private static float[][] stats(Dataset ds) {
        if (ds instanceof IdxDataset d) return new float[][]{{d.mean()}, {d.std()}};
        if (ds instanceof CifarDataset d) return new float[][]{d.kind().mean(), d.kind().std()};
        throw new IllegalArgumentException(ds.name() + ": its normalisation is not known to the exporter; call"
                + " write(train, val, root, format, mean, std, quality) with the mean and std it uses");
    }

    /**
     * What the system said, for people: "permission denied", "read-only file system", ... rather than a Java
     * exception's class name (which is all NoSuchFileException's message would give besides the path).
     */
    static String why(Throwable e) {
        String r = switch (e) {
            case java.nio.file.AccessDeniedException a -> "permission denied";
            case java.nio.file.NoSuchFileException n -> "no such file or directory";
            case java.nio.file.FileAlreadyExistsException f -> "a file of that name exists";
            case java.nio.file.NotDirectoryException n -> "not a directory";
            case java.nio.file.FileSystemException f when f.getReason() != null -> f.getReason();
            default -> e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        };
        return r.isEmpty() ? r : r.substring(0, 1).toLowerCase(Locale.ROOT) + r.substring(1);
    }

    /**
     * Why an export to root would be refused because root/train or root/val (of {@code splits}) already holds files
     * ("root/train: already exists and is not empty; ..."), or null: a caller checks it before reading the dataset.
     */
    public static String occupied(Path root, List<String> splits) {
        for (String split : splits) {
            Path d = root.resolve(split);
            if (Files.exists(d) && (!Files.isDirectory(d) || !isEmpty(d)))
                return d + ": already exists and is not empty; delete it or export to another directory";
        }
        return null;
    }

    private static boolean isEmpty(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        } catch (IOException e) {
            throw new DatasetException(dir + ": cannot list the directory (" + why(e) + ")", e);
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        } catch (IOException | UncheckedIOException e) {
            throw new DatasetException(dir + ": cannot remove the leftover of an interrupted export (" + why(e instanceof UncheckedIOException u ? u.getCause() : e) + ")", e);
        }
    }
}
