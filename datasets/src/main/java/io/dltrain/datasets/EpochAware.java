package io.dltrain.datasets;

/**
 * A dataset whose samples depend on the epoch (random augmentation). {@link io.dltrain.runtime.data.Dataset#read}
 * has no epoch argument, so the training loop must call {@link #setEpoch} with the epoch number before starting
 * that epoch's {@code DataLoader.epoch(e)}; until it does, every epoch sees epoch 0's augmentation. Setting it
 * while an epoch is being read makes that epoch's samples depend on timing: don't.
 */
public interface EpochAware {
    /** Sets the epoch used to seed per-sample randomness from now on. */
    void setEpoch(int epoch);

    int epoch();
}
