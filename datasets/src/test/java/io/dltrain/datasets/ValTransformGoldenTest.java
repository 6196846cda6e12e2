package io.dltrain.datasets;

import io.dltrain.datasets.transform.RandomResizedCrop;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * imagenet-subset's validation samples (what eval and predict feed a model) against torchvision's own transform:
 * golden/transform/ (benchmarks/pytorch/export_transform_golden.py, torchvision 0.14 here) holds four PNG images
 * (stripes of 2- and 3-pixel period over gradients, where antialiasing decides the result; downscaled 4-6x in both
 * orientations, upscaled, and one greyscale image) and, for size=32 (Resize(37) + CenterCrop(32) + ImageNet
 * Normalize), torchvision's outputs two ways:
 * <ul>
 *   <li>the tensor path in float64 (resize with antialias=True: Pillow's algorithm on float values, as ours):
 *       ours must be within 1e-5 (float32 rounding of a filter sum of values in [0, 1], then divided by std
 *       ~0.225);</li>
 *   <li>the PIL path most PyTorch code runs (Resize and CenterCrop on the PIL image, then ToTensor): Pillow rounds to 8
 *       bits after each resampling pass, so ours may differ by up to 1/255 before normalisation, 1/255/0.225 after,
 *       and no more.</li>
 * </ul>
 * The images go through the real loading path: an image-folder tree read by DatasetRegistry's imagenet-subset. Then
 * RandomResizedCrop's crop-and-resize of eight fixed boxes (inside, touching the edges, thin, smaller than the output)
 * against torchvision's resized_crop on the tensor path, before normalisation: within 1e-5 / 4.4.
 */
class ValTransformGoldenTest {
    static final double TENSOR_ATOL = 1e-5;
    static final double PIL_ATOL = 1.0 / 255 / 0.225 + 1e-5;

    @TempDir Path dir;

    @Test
    void imagenetValidationSamplesMatchTorchvision() throws IOException, URISyntaxException {
        Path golden = Path.of(ValTransformGoldenTest.class.getResource("/golden/transform/val-transform.golden.safetensors").toURI());
        SafeTensors.Contents contents = SafeTensors.read(golden);
        Map<String, LoadedTensor> t = contents.tensors();
        assertEquals("32", contents.metadata().get("size"));
        List<String> names = List.of("grey", "landscape", "portrait", "small"); // the loader's order: by file name
        for (String split : List.of("train", "val")) {
            Path cls = Files.createDirectories(dir.resolve(split).resolve("n01"));
            for (String n : names) Files.copy(golden.resolveSibling(n + ".png"), cls.resolve(n + ".png"));
        }
        ImageFolderDataset val = (ImageFolderDataset) DatasetRegistry.get("imagenet-subset:size=32").load(dir).test();
        assertEquals(names.size(), val.size());
        float[] x = new float[3 * 32 * 32];
        StringBuilder report = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            assertEquals(n + ".png", val.file(i).getFileName().toString());
            val.read(i, x, 0);
            double tensor = maxDiff(need(t, n + ".tensor").floats(), x), pil = maxDiff(need(t, n + ".pil").floats(), x);
            report.append(String.format("%s: max |ours - torchvision| %.2g (tensor path), %.4f (PIL path)%n", n, tensor, pil));
            if (!(tensor <= TENSOR_ATOL)) fail(n + ": differs from torchvision's tensor path by " + tensor + " > " + TENSOR_ATOL + "\n" + report);
            if (!(pil <= PIL_ATOL)) fail(n + ": differs from torchvision's PIL path by " + pil + " > " + PIL_ATOL + "\n" + report);
        }
        System.out.print(report);
        assertTrue(report.length() > 0);

        // RandomResizedCrop's geometry: our crop-and-resize of fixed boxes against torchvision's resized_crop (tensor
        // path, values in [0, 1]); the random draws of the boxes are each RNG's own and not compared.
        RandomResizedCrop rrc = new RandomResizedCrop(32);
        int crops = 0;
        for (String key : t.keySet()) {
            String[] k = key.split("\\.");
            if (k.length != 6 || !k[1].equals("crop")) continue;
            int[] box = {Integer.parseInt(k[2]), Integer.parseInt(k[3]), Integer.parseInt(k[4]), Integer.parseInt(k[5])};
            float[] ours = rrc.apply(ImageCodec.decode(golden.resolveSibling(k[0] + ".png")), box).data();
            double d = maxDiff(t.get(key).floats(), ours);
            if (!(d <= TENSOR_ATOL / 4.4)) fail(key + ": our resized crop differs from torchvision's resized_crop by " + d);
            crops++;
        }
        assertEquals(8, crops, "boxes checked");
    }

    static double maxDiff(float[] want, float[] got) {
        assertEquals(want.length, got.length);
        double m = 0;
        for (int i = 0; i < want.length; i++) m = Math.max(m, Math.abs((double) want[i] - got[i]));
        return m;
    }

    static LoadedTensor need(Map<String, LoadedTensor> t, String name) {
        LoadedTensor v = t.get(name);
        assertNotNull(v, "val-transform.golden.safetensors has no " + name);
        return v;
    }
}
