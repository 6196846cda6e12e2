package io.dltrain.runtime.checkpoint;

import java.util.List;

/**
 * What a non-strict {@link Checkpoint#loadInto} did (for transfer learning: load a backbone, keep a new head):
 *
 * @param loaded     the model's keys that were copied from the file
 * @param skipped    the model's keys left as they were, each with the reason
 * @param unexpected keys in the file that the model does not have (ignored)
 * @param roundedFromFloat64 the loaded keys whose values were float64 (F64) in the file, rounded to float32
 */
public record LoadReport(List<String> loaded, List<Skipped> skipped, List<String> unexpected, List<String> roundedFromFloat64) {
    public LoadReport {
        loaded = List.copyOf(loaded);
        skipped = List.copyOf(skipped);
        unexpected = List.copyOf(unexpected);
        roundedFromFloat64 = List.copyOf(roundedFromFloat64);
    }

    /** A report of a file with no float64 tensors loaded. */
    public LoadReport(List<String> loaded, List<Skipped> skipped, List<String> unexpected) {
        this(loaded, skipped, unexpected, List.of());
    }

    /** Why a model key was not loaded. */
    public enum Reason {
        /** The file has no tensor of that name. */
        MISSING,
        /** The file's tensor has another shape (e.g. a classifier head with a different number of classes). */
        SHAPE_MISMATCH,
        /** The file holds floats for an integer buffer or integers for a float parameter. */
        DTYPE_MISMATCH
    }

    /** A model key that was not loaded; {@code detail} says e.g. "file [10, 512], model [100, 512]". */
    public record Skipped(String key, Reason reason, String detail) {
        @Override public String toString() { return key + " (" + reason.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ')
                + (detail.isEmpty() ? "" : ": " + detail) + ")"; }
    }

    /** True when every model key was loaded and the file had nothing else. */
    public boolean complete() { return skipped.isEmpty() && unexpected.isEmpty(); }
}
