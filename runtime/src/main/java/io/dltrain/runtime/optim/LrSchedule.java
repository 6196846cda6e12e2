package io.dltrain.runtime.optim;

/**
 * A learning-rate schedule: the learning rate for optimiser step {@code step} (counted from 0), given the base
 * learning rate, the number of steps per epoch and the total number of steps of the run. The trainer calls it
 * before every step and passes the result to {@link Optimizer#setLr}. {@link LrSchedules#parse} builds one from
 * a command-line spec.
 */
@FunctionalInterface
public interface LrSchedule {
    double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps);

    /**
     * The learning rate given also the validation losses of the epochs completed so far (oldest first). Only
     * schedules that react to validation ({@link Plateau}) use them; the trainer always calls this form. Because the
     * result is a pure function of its arguments, a resumed run (whose history is restored) gets the same rates.
     */
    default double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps, double[] valLosses) {
        return lr(baseLr, step, stepsPerEpoch, totalSteps);
    }

    /**
     * The floor this schedule decays to (cosine's and plateau's MIN_LR), 0 for those without one. It must not be
     * above the base rate: a cosine would then rise to it, and a plateau would never reduce.
     */
    default double minLr() { return 0; }

    /** True if this schedule needs validation losses (the trainer refuses it without validation data). */
    default boolean needsValidation() { return false; }

    /** The base learning rate throughout ("constant"). */
    record Constant() implements LrSchedule {
        @Override public double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps) { return baseLr; }
        @Override public String toString() { return "constant"; }
    }

    /**
     * torch.optim.lr_scheduler.StepLR stepped once per epoch: lr = baseLr * gamma^floor(epoch / stepEpochs) with
     * epoch = floor(step / stepsPerEpoch) ("step:E:G").
     */
    record StepDecay(int stepEpochs, double gamma) implements LrSchedule {
        public StepDecay {
            if (stepEpochs < 1) throw new IllegalArgumentException("step decay: the period must be >= 1 epoch, got " + stepEpochs);
            if (!(gamma > 0) || Double.isInfinite(gamma)) throw new IllegalArgumentException("step decay: gamma must be finite and > 0, got " + gamma);
        }

        @Override
        public double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps) {
            if (stepsPerEpoch < 1) throw new IllegalArgumentException("step decay needs stepsPerEpoch >= 1, got " + stepsPerEpoch);
            long epoch = Math.max(0, step) / stepsPerEpoch;
            return baseLr * Math.pow(gamma, epoch / stepEpochs);
        }

        @Override public String toString() { return "step:" + stepEpochs + ":" + gamma; }
    }

    /**
     * torch.optim.lr_scheduler.CosineAnnealingLR with T_max = totalSteps and eta_min = minLr, stepped per optimiser
     * step (its closed form): lr = minLr + (baseLr - minLr) * (1 + cos(pi * step / totalSteps)) / 2 for
     * step < totalSteps, and minLr from totalSteps on (PyTorch would start rising again; we hold the minimum).
     * ("cosine", "cosine:MIN").
     */
    record Cosine(double minLr) implements LrSchedule {
        public Cosine {
            if (!(minLr >= 0) || Double.isInfinite(minLr)) throw new IllegalArgumentException("cosine: the minimum learning rate must be finite and >= 0, got " + minLr);
        }

        @Override
        public double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps) {
            if (step >= totalSteps) return minLr;
            double t = Math.max(0, step);
            return minLr + (baseLr - minLr) * (1 + Math.cos(Math.PI * t / totalSteps)) / 2;
        }

        @Override public String toString() { return minLr == 0 ? "cosine" : "cosine:" + minLr; }
    }

    /**
     * Linear warm-up, then another schedule ("warmup:N,INNER"). For step < warmupSteps:
     * lr = baseLr * (step + 1) / warmupSteps, which rises from baseLr / warmupSteps at step 0 to baseLr at step
     * warmupSteps - 1. From then on: {@code after.lr(baseLr, step - warmupSteps, stepsPerEpoch, totalSteps - warmupSteps)},
     * i.e. the inner schedule starts at its own step 0 right after warm-up and runs over the remaining steps
     * (a cosine decays to its minimum exactly at the end of the run; step-decay epochs count from the end of warm-up).
     */
    record Warmup(long warmupSteps, LrSchedule after) implements LrSchedule {
        public Warmup {
            if (warmupSteps < 1) throw new IllegalArgumentException("warmup: the number of warm-up steps must be >= 1, got " + warmupSteps);
            if (after == null) throw new IllegalArgumentException("warmup: the schedule after warm-up is null (use new Constant())");
        }

        @Override
        public double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps) {
            if (step < warmupSteps) return baseLr * (Math.max(0, step) + 1) / warmupSteps;
            return after.lr(baseLr, step - warmupSteps, stepsPerEpoch, totalSteps - warmupSteps);
        }

        @Override
        public double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps, double[] valLosses) {
            if (step < warmupSteps) return baseLr * (Math.max(0, step) + 1) / warmupSteps;
            return after.lr(baseLr, step - warmupSteps, stepsPerEpoch, totalSteps - warmupSteps, valLosses);
        }

        @Override public boolean needsValidation() { return after.needsValidation(); }

        @Override public double minLr() { return after.minLr(); }

        @Override public String toString() { return "warmup:" + warmupSteps + "," + after; }
    }

    /**
     * torch.optim.lr_scheduler.ReduceLROnPlateau(mode="min", factor, patience, threshold=1e-4, threshold_mode="rel",
     * cooldown=0, min_lr, eps=1e-8), stepped once per epoch with the validation loss ("plateau",
     * "plateau:FACTOR", "plateau:FACTOR:PATIENCE", "plateau:FACTOR:PATIENCE:MIN_LR"). The rate is replayed from the
     * validation losses of the completed epochs: an epoch improves when its loss is below best * (1 - threshold);
     * after more than {@code patience} epochs without improvement the rate is multiplied by {@code factor} (not
     * below {@code minLr}; a change smaller than 1e-8 is ignored, as PyTorch does) and the count restarts.
     */
    record Plateau(double factor, int patience, double threshold, double minLr) implements LrSchedule {
        public Plateau {
            if (!(factor > 0 && factor < 1)) throw new IllegalArgumentException("plateau: the factor must be in (0, 1), got " + factor);
            if (patience < 0) throw new IllegalArgumentException("plateau: the patience must be >= 0 epochs, got " + patience);
            if (!(threshold >= 0) || Double.isInfinite(threshold)) throw new IllegalArgumentException("plateau: the threshold must be finite and >= 0, got " + threshold);
            if (!(minLr >= 0) || Double.isInfinite(minLr)) throw new IllegalArgumentException("plateau: the minimum learning rate must be finite and >= 0, got " + minLr);
        }

        /** Without validation history: the base rate (the trainer always passes the history). */
        @Override
        public double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps) { return baseLr; }

        @Override
        public double lr(double baseLr, long step, long stepsPerEpoch, long totalSteps, double[] valLosses) {
            double lr = baseLr, best = Double.POSITIVE_INFINITY;
            int bad = 0;
            for (double v : valLosses) {
                if (v < best * (1 - threshold)) { best = v; bad = 0; }
                else bad++;
                if (bad > patience) {
                    double reduced = Math.max(lr * factor, minLr);
                    if (lr - reduced > 1e-8) lr = reduced;
                    bad = 0;
                }
            }
            return lr;
        }

        @Override public boolean needsValidation() { return true; }

        @Override public String toString() { return "plateau:" + factor + ":" + patience + (minLr == 0 ? "" : ":" + minLr); }
    }
}
