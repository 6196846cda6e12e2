package io.dltrain.cli;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;

/**
 * {@code --workers N|auto}: how many threads load batches; auto is {@link DataLoader#autoWorkers} (one per core but
 * one for image files feeding a GPU, else 1). Results never depend on it, only speed and memory.
 */
final class DataWorkers {
    private DataWorkers() {}

    /** The option's value: a number >= 1, or null for auto. */
    static Integer parse(String value) {
        if (value == null || value.equalsIgnoreCase("auto")) return null;
        try {
            int n = Integer.parseInt(value); // no blanks around it, as every number option (picocli's ints, Main's decimals)
            if (n >= 1) return n;
        } catch (NumberFormatException e) {
            // the message below
        }
        throw new IllegalArgumentException("--workers must be a whole number >= 1 or auto, got '" + value + "'"
                + io.dltrain.runtime.Names.didYouMean(value, java.util.List.of("auto")));
    }

    /** --workers resolved for a loader of this dataset on this backend, batches of batchSize. */
    static int resolve(Integer asked, Dataset data, Backend be, int batchSize) {
        return asked != null ? asked : DataLoader.autoWorkers(data, be, batchSize);
    }

    /** The notice a run prints when auto chose more than one worker; null otherwise. */
    static String notice(Integer asked, int workers) {
        if (asked != null || workers == 1) return null;
        return workers + " data-loading workers (--workers auto: image files decoded for a GPU, one worker per core but one;"
                + " each holds a batch buffer: --workers N sets another number)";
    }
}
