package io.dltrain.runtime.train;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * When and where {@link Trainer#fit} saves checkpoints: every {@code everyEpochs} epochs or every {@code everySteps}
 * optimiser steps (one of the two is 0) into {@code dir} (the run's {@code checkpoints/} directory), keeping the
 * last {@code keep}, plus the checkpoint with the lowest validation loss so far in {@code dir/best/}. A checkpoint
 * is also written when the run stops early on request (interrupt, {@code --max-steps}).
 *
 * @param model   the model's registry name (recorded in state.json; may be null)
 * @param dataset the dataset's registry name (may be null)
 * @param config  the run's settings, recorded in state.json's "config" (JSON-serialisable values only)
 */
public record CheckpointPolicy(Path dir, int everyEpochs, long everySteps, int keep, String model, String dataset,
                               Map<String, Object> config) {
    public CheckpointPolicy {
        if (everyEpochs < 0 || everySteps < 0 || (everyEpochs > 0) == (everySteps > 0))
            throw new IllegalArgumentException("checkpoint interval: exactly one of every-epochs (" + everyEpochs
                    + ") and every-steps (" + everySteps + ") must be > 0");
        if (keep < 1) throw new IllegalArgumentException("keep must be >= 1, got " + keep);
        config = config == null ? Map.of() : Map.copyOf(config);
    }

    /**
     * The interval of a spec: {@code 2e} (every 2 epochs) or {@code 500s} (every 500 steps): {everyEpochs, everySteps}.
     * An invalid spec is named as "checkpoint interval '...'"; {@link #parseEvery(String, String)} names the option it came from.
     */
    public static long[] parseEvery(String spec) { return parseEvery(spec, "checkpoint interval"); }

    /** As {@link #parseEvery(String)}, naming an invalid spec as {@code what} (the CLI: "--checkpoint-every"). */
    public static long[] parseEvery(String spec, String what) {
        String s = spec == null ? "" : spec.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.length() >= 2 && (s.endsWith("e") || s.endsWith("s"))) {
            try {
                long n = Long.parseLong(s.substring(0, s.length() - 1));
                if (n >= 1 && (s.endsWith("s") || n <= Integer.MAX_VALUE))
                    return s.endsWith("e") ? new long[] {n, 0} : new long[] {0, n};
            } catch (NumberFormatException ignored) { /* reported below */ }
        }
        throw new IllegalArgumentException(what + " '" + spec + "'" + io.dltrain.runtime.Names.didYouMean(s, List.of("off")) + ": expected N epochs as 'Ne' (e.g. 1e) or N steps as 'Ns' (e.g. 500s), N >= 1, or 'off'");
    }
}
