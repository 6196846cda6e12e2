package io.dltrain.cli;

import io.dltrain.datasets.ImageFolderDataset;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Device;

/**
 * {@code --workers N|auto}: how many threads load batches. Results never depend on it (every sample's augmentation
 * is seeded by (seed, epoch, index), and the loader hands batches out in order), only speed and memory do: each
 * worker loads whole batches and holds one batch buffer.
 *
 * <p>auto: a dataset that decodes an image file per sample (imagefolder, imagenet-subset) feeding a GPU gets one
 * worker per core but one (the training loop's), as many as a quarter of the heap holds batch buffers for; JPEG
 * decoding runs at about 190 ImageNet-sized samples a second per core (benchmarks/README.md), so one worker would
 * hold an H100 to that. Everything else gets 1: in-memory datasets (IDX, CIFAR, CSV, synthetic) copy a sample in
 * microseconds, and on the CPU backend the compute threads already use every core (the epoch line's data-wait
 * notice suggests more when the loader is the bottleneck).
 */
final class DataWorkers {
    private DataWorkers() {}

    /** The option's value: a number >= 1, or null for auto. */
    static Integer parse(String value) {
        if (value == null || value.equalsIgnoreCase("auto")) return null;
        try {
            int n = Integer.parseInt(value.trim());
            if (n >= 1) return n;
        } catch (NumberFormatException e) {
            // the message below
        }
        throw new IllegalArgumentException("--workers must be a whole number >= 1 or auto, got '" + value + "'");
    }

    /** The auto rule (see the class comment); batchBytes is one batch buffer's size. */
    static int auto(boolean decodesFiles, boolean gpu, long batchBytes, int cores, long maxHeap) {
        if (!decodesFiles || !gpu) return 1;
        long byMemory = Math.max(1, maxHeap / 4 / Math.max(1, batchBytes));
        return (int) Math.max(1, Math.min(Math.max(1, cores - 1), byMemory));
    }

    /** --workers resolved for a loader of this dataset on this backend, batches of batchSize. */
    static int resolve(Integer asked, Dataset data, Backend be, int batchSize) {
        if (asked != null) return asked;
        long batchBytes = 4L * batchSize * data.sampleShape().numel();
        return auto(data instanceof ImageFolderDataset, be.device().kind() == Device.Kind.CUDA, batchBytes,
                Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory());
    }

    /** The notice a run prints when auto chose more than one worker; null otherwise. */
    static String notice(Integer asked, int workers) {
        if (asked != null || workers == 1) return null;
        return workers + " data-loading workers (--workers auto: image files decoded for a GPU, one worker per core but one;"
                + " each holds a batch buffer: --workers N sets another number)";
    }
}
