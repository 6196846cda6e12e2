package io.dltrain.datasets;

import io.dltrain.datasets.idx.IdxFile;
import io.dltrain.runtime.data.Dataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static io.dltrain.datasets.IdxTestFiles.images;
import static io.dltrain.datasets.IdxTestFiles.labelFile;
import static io.dltrain.datasets.IdxTestFiles.labels;
import static io.dltrain.datasets.IdxTestFiles.pixels;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ImageFolderWriter: exports read back through ImageFolderDataset (PNG bit-exact, JPEG within tolerance). */
class ImageFolderWriterTest {
    @TempDir Path dir;

    static final List<String> FASHION = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    private IdxDataset idx(String name, int n) {
        IdxFile img = IdxFile.readImages(images(dir.resolve(name + "-i.gz"), n, 28, 28));
        IdxFile lab = IdxFile.readLabels(labelFile(dir.resolve(name + "-l.gz"), labels(n, 10)), 10);
        return new IdxDataset("fashion-mnist/" + name, img, lab, FASHION, 0.2860f, 0.3530f);
    }

    @Test
    void greyPngExportReadsBackBitExactUnderSanitisedClassNames() {
        IdxDataset train = idx("train", 23), val = idx("val", 12);
        Path root = dir.resolve("fmnist");
        ImageFolderWriter.Summary s = ImageFolderWriter.write(train, val, root, ImageFolderWriter.Format.PNG);
        assertEquals(23, s.trainImages());
        assertEquals(12, s.valImages());
        assertEquals("T-shirt_top", s.classDirs().getFirst());
        assertTrue(Files.isRegularFile(root.resolve("train/T-shirt_top/00.png")), "label 0 sample 0, zero-padded to 2 digits");
        assertTrue(Files.isRegularFile(root.resolve("val/Ankle boot/09.png")));
        assertFalse(Files.exists(root.resolve(".train.partial")));

        DatasetRegistry.Splits back = DatasetRegistry.get("imagefolder").load(root);
        ImageFolderDataset tr = (ImageFolderDataset) back.train();
        assertEquals(23, tr.size());
        assertEquals(12, back.test().size());
        List<String> sortedDirs = s.classDirs().stream().sorted().toList();
        assertEquals(sortedDirs, tr.classNames(), "ImageFolder classes: the sorted folder names");
        byte[] px = pixels(23, 28, 28);
        float[] x = new float[3 * 784];
        for (int i = 0; i < tr.size(); i++) {
            int label = tr.read(i, x, 0);
            // The file name is the original index; its class folder the original label's name.
            int orig = Integer.parseInt(tr.file(i).getFileName().toString().replace(".png", ""));
            assertEquals(s.classDirs().get(orig % 10), tr.classNames().get(label));
            for (int c = 0; c < 3; c++)
                for (int j = 0; j < 784; j++)
                    assertEquals((px[orig * 784 + j] & 0xFF) / 255f, x[c * 784 + j], "sample " + orig + " channel " + c + " pixel " + j);
        }
    }

    @Test
    void rgbExportOfCifarReadsBackExactAsPngAndCloseAsJpeg() throws IOException {
        Path c = dir.resolve("cifar");
        CifarDatasetTest.cifar10Dir(c, 2);
        DatasetRegistry.Splits s = DatasetRegistry.get("cifar10").load(c);
        CifarDataset train = (CifarDataset) s.train();
        for (ImageFolderWriter.Format f : ImageFolderWriter.Format.values()) {
            Path root = dir.resolve("out-" + f);
            ImageFolderWriter.write(train, s.test(), root, f);
            ImageFolderDataset back = (ImageFolderDataset) DatasetRegistry.get("imagefolder").load(root).train();
            assertEquals(10, back.size());
            float[] x = new float[3072];
            double err = 0, swappedErr = 0;
            for (int i = 0; i < back.size(); i++) {
                back.read(i, x, 0);
                int orig = Integer.parseInt(back.file(i).getFileName().toString().replaceAll("\\..*", ""));
                // An independent decode of the written file: ImageIO's own getRGB, 0xRRGGBB per pixel.
                java.awt.image.BufferedImage ref = javax.imageio.ImageIO.read(back.file(i).toFile());
                for (int ch = 0; ch < 3; ch++)
                    for (int y = 0; y < 32; y++)
                        for (int xx = 0; xx < 32; xx++) {
                            float got = x[(ch * 32 + y) * 32 + xx];
                            assertEquals(((ref.getRGB(xx, y) >> (16 - 8 * ch)) & 0xFF) / 255f, got, f + " sample " + orig + " vs ImageIO");
                            if (f == ImageFolderWriter.Format.PNG) assertEquals(train.pixel(orig, ch, y, xx) / 255f, got, "PNG sample " + orig);
                            err += Math.abs(train.pixel(orig, ch, y, xx) / 255f - got);
                            swappedErr += Math.abs(train.pixel(orig, 2 - ch, y, xx) / 255f - got);
                        }
            }
            // JPEG is lossy (and this test pattern is hard for it: steps of 3-7 levels per pixel, wrapping at 255), so
            // no fixed bound; but the right channels must match far better than R and B swapped would.
            assertTrue(err < swappedErr / 4, f + ": mean abs error " + err / 30720 * 255 + " levels vs " + swappedErr / 30720 * 255
                    + " with R and B swapped");
        }
    }

    /**
     * An export stopped while val/ is written (here a sample that cannot be read; a signal, a full disk) leaves neither
     * split published: train/ used to be renamed into place when it was done, so the tree looked finished without its
     * val/ (found stopping `datasets prepare` with SIGINT while .val.partial was written), and the export run again
     * refused it ("train: already exists and is not empty"). The next export deletes the partial folders and writes both.
     */
    @Test
    void anExportStoppedInValPublishesNeitherSplit() {
        IdxDataset train = idx("train", 6), val = idx("val", 6);
        Dataset failing = new Dataset() {
            @Override public String name() { return val.name(); }
            @Override public int size() { return val.size(); }
            @Override public io.dltrain.runtime.tensor.Shape sampleShape() { return val.sampleShape(); }
            @Override public int numClasses() { return val.numClasses(); }
            @Override public List<String> classNames() { return val.classNames(); }
            @Override public int read(int index, float[] dst, int dstOffset) {
                if (index == 3) throw new DatasetException(val.name() + ": sample 3 cannot be read");
                return val.read(index, dst, dstOffset);
            }
        };
        Path root = dir.resolve("stopped");
        float[] mean = {0.2860f}, std = {0.3530f};
        assertThrows(DatasetException.class, () -> ImageFolderWriter.write(train, failing, root, ImageFolderWriter.Format.PNG, mean, std, 0.9f));
        assertFalse(Files.exists(root.resolve("train")), "train/ published without val/");
        assertFalse(Files.exists(root.resolve("val")));
        ImageFolderWriter.Summary s = ImageFolderWriter.write(train, val, root, ImageFolderWriter.Format.PNG);
        assertEquals(6, s.trainImages());
        assertEquals(6, s.valImages());
        assertFalse(Files.exists(root.resolve(".train.partial")) || Files.exists(root.resolve(".val.partial")));
    }

    @Test
    void refusesToOverwriteAndRejectsUnsuitableDatasets() throws IOException {
        IdxDataset train = idx("train", 5);
        Path root = dir.resolve("o");
        Files.createDirectories(root.resolve("train"));
        Files.writeString(root.resolve("train/keep.txt"), "x");
        DatasetException e = assertThrows(DatasetException.class, () -> ImageFolderWriter.write(train, null, root, ImageFolderWriter.Format.PNG));
        assertTrue(e.getMessage().startsWith(root.resolve("train").toString()) && e.getMessage().contains("not empty"), e.getMessage());
        assertEquals("x", Files.readString(root.resolve("train/keep.txt")));
        // a root that cannot be made: what the system said, not "java.nio.file.FileAlreadyExistsException: ..."
        Path aFile = Files.writeString(dir.resolve("a-file"), "x");
        e = assertThrows(DatasetException.class, () -> ImageFolderWriter.write(train, null, aFile, ImageFolderWriter.Format.PNG));
        assertEquals(aFile + ": cannot create the directory (a file of that name exists)", e.getMessage());

        Dataset synth = Synthetic.of(2, 4, 4, 3, 5, 0, 0).train();
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
                () -> ImageFolderWriter.write(synth, null, dir.resolve("s"), ImageFolderWriter.Format.PNG, new float[]{0}, new float[]{1}, 0.9f));
        assertTrue(x.getMessage().contains("[1 or 3, H, W]"), x.getMessage());
        Dataset synth1 = Synthetic.of(1, 4, 4, 3, 5, 0, 0).train();
        x = assertThrows(IllegalArgumentException.class, () -> ImageFolderWriter.write(synth1, null, dir.resolve("s"), ImageFolderWriter.Format.PNG));
        assertTrue(x.getMessage().contains("normalisation is not known"), x.getMessage());
        x = assertThrows(IllegalArgumentException.class, () -> ImageFolderWriter.classDirs(List.of("a/b", "a:b")));
        assertTrue(x.getMessage().contains("'a_b' twice"), x.getMessage());
        assertEquals(List.of("_hidden", "class1"), ImageFolderWriter.classDirs(List.of(".hidden", " ")));
    }
}
