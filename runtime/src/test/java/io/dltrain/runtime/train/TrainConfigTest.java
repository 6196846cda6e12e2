package io.dltrain.runtime.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * TrainConfig refuses values outside their ranges, NaN included: the weight decay, label smoothing and validation
 * fraction checks were written as {@code x < 0} (and {@code x >= 1}), which NaN passes. The CLI makes TrainConfig's
 * refusals usage errors (exit 2, nothing written); with NaN, {@code --val-fraction NaN} trained without validation and
 * wrote "val_fraction": "NaN" to summary.json, and {@code --label-smoothing NaN} failed with exit 1 once the data was loaded.
 */
class TrainConfigTest {
    static TrainConfig with(double weightDecay, float labelSmoothing, double valFraction) {
        return new TrainConfig(1, 32, 0.1, "sgd", 0.9, weightDecay, "constant", labelSmoothing, 0f, 1, valFraction, 0, 0.0, 1);
    }

    @Test
    void nanIsOutsideEveryRange() {
        assertEquals("weight decay must be >= 0, got NaN",
                assertThrows(IllegalArgumentException.class, () -> with(Double.NaN, 0f, 0.1)).getMessage());
        assertEquals("label smoothing must be in [0, 1), got NaN",
                assertThrows(IllegalArgumentException.class, () -> with(0, Float.NaN, 0.1)).getMessage());
        assertEquals("validation fraction must be in [0, 1), got NaN",
                assertThrows(IllegalArgumentException.class, () -> with(0, 0f, Double.NaN)).getMessage());
        // the ranges themselves are unchanged
        assertThrows(IllegalArgumentException.class, () -> with(-1e-9, 0f, 0.1));
        assertThrows(IllegalArgumentException.class, () -> with(0, 1f, 0.1));
        assertThrows(IllegalArgumentException.class, () -> with(0, 0f, 1.0));
        with(0, 0f, 0.0);
        with(5e-4, 0.999f, 0.999);
    }
}
