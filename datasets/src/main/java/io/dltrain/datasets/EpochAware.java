package io.dltrain.datasets;

/**
 * A dataset whose samples depend on the epoch (random augmentation). {@link io.dltrain.runtime.data.Dataset#read}
 * has no epoch argument, so the epoch is set beforehand: {@code DataLoader.epoch(e)} calls
 * {@link io.dltrain.runtime.data.Dataset#setEpoch} before that epoch's workers start, and a {@code Dataset} that is
 * EpochAware has one {@code setEpoch} for both. Setting it while an epoch is being read through {@code read} makes that
 * epoch's samples depend on timing: don't. A DataLoader reads through {@code Dataset.readInEpoch} with its own epoch,
 * which such a dataset implements too, so another loader's {@code setEpoch} does not reach its samples.
 */
public interface EpochAware {
    /** Sets the epoch used to seed per-sample randomness from now on. */
    void setEpoch(int epoch);

    int epoch();
}
