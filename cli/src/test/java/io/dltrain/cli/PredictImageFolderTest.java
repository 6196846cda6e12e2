package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.datasets.ImageFolderDataset;
import io.dltrain.models.ModelRegistry;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static io.dltrain.cli.CliTest.JSON;
import static io.dltrain.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code predict} on models trained on image folder datasets uses the dataset's own validation pipeline: for
 * {@code imagenet-subset:size=16} (resize 18, centre crop 16, ImageNet mean/std) and {@code imagefolder:norm=imagenet}
 * (sample size = the first training image's, resize + centre crop to it), predict's probabilities for a validation
 * JPEG of another size and aspect equal the softmax of the saved model's forward pass on the sample the dataset itself
 * produces for that file, within 1e-5.
 */
class PredictImageFolderTest {

    /** root/{train,val}/{a,b}/*.jpg: JPEGs of varying sizes, class a reddish top-lit, class b bluish left-lit, plus noise. */
    static Path tree(Path root) throws IOException {
        SplittableRandom r = new SplittableRandom(3);
        int[][] sizes = {{20, 24}, {26, 22}, {30, 40}, {21, 21}};
        for (String split : List.of("train", "val")) {
            for (int k = 0; k < 2; k++) {
                Path d = Files.createDirectories(root.resolve(split).resolve(k == 0 ? "a" : "b"));
                for (int i = 0; i < (split.equals("train") ? 6 : 2); i++) {
                    int h = sizes[(i + k) % 4][0], w = sizes[(i + k) % 4][1];
                    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++) {
                            int t = k == 0 ? 255 * y / h : 255 * x / w, n = r.nextInt(30);
                            int red = k == 0 ? 200 - t / 2 + n : 40 + n, blue = k == 0 ? 50 + n : 120 + t / 2 + n;
                            img.setRGB(x, y, Math.min(red, 255) << 16 | (80 + n) << 8 | Math.min(blue, 255));
                        }
                    if (!ImageIO.write(img, "jpg", d.resolve("img" + i + ".jpg").toFile())) throw new IOException("no JPEG writer");
                }
            }
        }
        return root;
    }

    @Test
    void predictGivesTheModelsProbabilitiesOnTheValidationSampleOfTheFile(@TempDir Path tmp) throws IOException {
        Path root = tree(tmp.resolve("tree"));
        for (String data : List.of("imagenet-subset:size=16", "imagefolder:norm=imagenet")) {
            Path out = tmp.resolve(data.replace(':', '_').replace('=', '-'));
            CliTest.Result t = run("--model", "mlp", "--data", data, "--data-dir", root.toString(), "--epochs", "1", "--threads", "2",
                    "--batch-size", "4", "--progress", "none", "--out", out.toString(), "--checkpoint-every", "off");
            assertEquals(0, t.code(), t.err() + t.out());
            JsonNode meta = JSON.readTree(out.resolve("model/model.json").toFile());
            assertEquals(data, meta.get("dataset").asText(), "the dataset with its options is recorded");
            // the normalisation, for PyTorch users (the README's snippet reads meta["mean"] and meta["std"]), and the
            // whole validation pipeline: they were missing for image folders, a KeyError in that snippet
            assertEquals("[0.485,0.456,0.406]", meta.get("mean").toString(), meta.toString());
            assertEquals("[0.229,0.224,0.225]", meta.get("std").toString(), meta.toString());
            assertTrue(meta.get("transform").asText().startsWith("Compose[Resize("), meta.toString());

            // the dataset's own validation sample for one file whose size is not the model's
            ImageFolderDataset val = (ImageFolderDataset) DatasetRegistry.get(data).load(root).test();
            int idx = 3; // val/b/img1.jpg: 30x40
            Path file = val.file(idx);
            int c = val.sampleShape().dim(0), h = val.sampleShape().dim(1), w = val.sampleShape().dim(2);
            assertEquals(List.of(3, data.startsWith("imagenet") ? 16 : 20, data.startsWith("imagenet") ? 16 : 24), List.of(c, h, w));
            int[] fileSize = {ImageIO.read(file.toFile()).getHeight(), ImageIO.read(file.toFile()).getWidth()};
            assertNotEquals(h + "x" + w, fileSize[0] + "x" + fileSize[1], "the file must need resizing");
            float[] x = new float[c * h * w];
            val.read(idx, x, 0);
            float[] logits;
            try (CpuBackend be = new CpuBackend(1);
                 Module m = Scope.outside(() -> ModelRegistry.get("mlp").build(new Context(be, 0), new ModelSpec(c, h, w, 2)));
                 GradMode.Guard g = GradMode.noGrad()) {
                Checkpoint.loadInto(m, out.resolve("model").resolve(Checkpoint.MODEL_FILE), true);
                m.eval();
                try (Scope s = Scope.open()) {
                    Tensor in = be.empty(Shape.of(1, c, h, w));
                    be.copyFromHost(x, 0, in);
                    logits = m.forward(in).toFloatArray();
                }
            }
            double max = Math.max(logits[0], logits[1]), e0 = Math.exp(logits[0] - max), e1 = Math.exp(logits[1] - max);
            double[] p = {e0 / (e0 + e1), e1 / (e0 + e1)};

            CliTest.Result r = run("predict", "--checkpoint", out.toString(), "--json", "--top-k", "2", "--threads", "2", file.toString());
            assertEquals(0, r.code(), r.err() + r.out());
            JsonNode preds = JSON.readTree(r.out()).get(0).get("predictions");
            assertEquals(2, preds.size());
            for (JsonNode q : preds) {
                int k = q.get("class").asInt();
                assertEquals(List.of("a", "b").get(k), q.get("name").asText());
                assertEquals(p[k], q.get("probability").asDouble(), 1e-5, data + ": class " + k + " of " + file);
            }
            // a file that is not an image is a usage error naming it
            Path notImage = Files.writeString(tmp.resolve("note.txt"), "hello");
            CliTest.usageError(null, new String[] {"predict", "--checkpoint", out.toString(), notImage.toString()}, "note.txt");
            assertTrue(Files.exists(notImage));
        }
    }
    /**
     * An image too large for the heap (a child JVM with 96 MiB; the PNG declares 12000x12000 pixels): predict names the
     * file and its size and says to raise the heap, exit 1. It was a usage error (exit 2) calling the file "corrupt or
     * unsupported image (Caught exception during read: ); re-create or remove the file".
     */
    @Test
    void anImageTooLargeForTheHeapIsNamedWithTheHeapAdvice(@TempDir Path tmp) throws Exception {
        Path root = tree(tmp.resolve("tree")), out = tmp.resolve("run");
        CliTest.Result t = run("--model", "mlp", "--data", "imagefolder:size=16", "--data-dir", root.toString(), "--epochs", "1", "--threads", "2",
                "--batch-size", "4", "--progress", "none", "--out", out.toString(), "--checkpoint-every", "off");
        assertEquals(0, t.code(), t.err() + t.out());
        Path huge = Files.write(tmp.resolve("huge.png"), CliTest.pngHeader(12000, 12000));
        CliTest.Result r = CliTest.predictWithA96MiBHeap(out, huge, tmp);
        String err = r.err();
        assertEquals(1, r.code(), err);
        assertTrue(err.contains("dl-train: error: " + huge + ": out of memory decoding a 12000x12000 image (1,647 MiB as float RGB) (Java heap space)."
                + " To read it, give Java a larger heap than its "), err);
        assertTrue(err.contains("in place of its -Xmx96m") && !err.contains("corrupt"), err);
    }
}
