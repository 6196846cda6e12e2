package io.dltrain.runtime.checkpoint;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a checkpoint's state.json records besides the tensors, so a run can resume where it stopped:
 *
 * @param epoch     epochs fully completed when the checkpoint was taken (a mid-epoch checkpoint has the
 *                  epoch in progress's index, and {@code step} tells how far into it the run was)
 * @param step      optimiser steps taken in total (the checkpoint directory is named after it)
 * @param model     the model's name as the CLI knows it (e.g. "resnet18"), or null
 * @param dataset   the dataset's name, or null
 * @param seeds     the random seeds of the run by purpose ("init", "data", "dropout", ...), so a resumed run
 *                  draws the same streams
 * @param config    free-form settings (batch size, schedule, ...); values must be JSON-serialisable
 *                  (strings, numbers, booleans, lists, maps)
 * @param optimizer the optimiser's name as the CLI knows it (e.g. "adamw"), or null
 * @param lr        the learning rate at the time of the checkpoint (NaN if unknown)
 * @param metrics   the latest metrics (loss, accuracy, ...)
 */
public record TrainingState(int epoch, long step, String model, String dataset, Map<String, Long> seeds,
                            Map<String, Object> config, String optimizer, double lr, Map<String, Double> metrics) {
    public TrainingState {
        if (epoch < 0) throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
        seeds = copy(seeds);
        config = copy(config);
        metrics = copy(metrics);
    }

    private static <V> Map<String, V> copy(Map<String, V> m) {
        return m == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(m));
    }
}
