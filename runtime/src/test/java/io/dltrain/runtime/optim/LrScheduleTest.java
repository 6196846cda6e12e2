package io.dltrain.runtime.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Learning-rate schedules at chosen steps, against the formulas of the PyTorch schedulers they mirror. */
class LrScheduleTest {
    static final double BASE = 0.1, EPS = 1e-15;

    @Test void constant() {
        LrSchedule s = new LrSchedule.Constant();
        for (long t : new long[] {0, 1, 99, 1000}) assertEquals(BASE, s.lr(BASE, t, 10, 100));
    }

    @Test void stepDecayPerEpoch() {
        // StepLR(step_size=2, gamma=0.5) stepped per epoch, 10 steps per epoch
        LrSchedule s = new LrSchedule.StepDecay(2, 0.5);
        assertEquals(BASE, s.lr(BASE, 0, 10, 100), EPS);
        assertEquals(BASE, s.lr(BASE, 19, 10, 100), EPS, "epoch 1 is still in the first period");
        assertEquals(BASE * 0.5, s.lr(BASE, 20, 10, 100), EPS, "epoch 2 starts the second period");
        assertEquals(BASE * 0.5, s.lr(BASE, 39, 10, 100), EPS);
        assertEquals(BASE * 0.25, s.lr(BASE, 40, 10, 100), EPS);
        assertEquals(BASE * 0.125, s.lr(BASE, 65, 10, 100), EPS);
    }

    @Test void cosineAnnealing() {
        double min = 0.001;
        LrSchedule s = new LrSchedule.Cosine(min);
        long total = 100;
        assertEquals(BASE, s.lr(BASE, 0, 10, total), EPS);
        assertEquals((BASE + min) / 2, s.lr(BASE, 50, 10, total), EPS, "half way is the midpoint");
        // cos(pi/4) = sqrt(2)/2
        assertEquals(min + (BASE - min) * (1 + Math.sqrt(0.5)) / 2, s.lr(BASE, 25, 10, total), 1e-12);
        assertEquals(min + (BASE - min) * (1 - Math.sqrt(0.5)) / 2, s.lr(BASE, 75, 10, total), 1e-12);
        assertEquals(min, s.lr(BASE, 100, 10, total), EPS);
        assertEquals(min, s.lr(BASE, 150, 10, total), EPS, "held at the minimum after the run");
        for (long t = 1; t <= total; t++) assertTrue(s.lr(BASE, t, 10, total) < s.lr(BASE, t - 1, 10, total), "decreasing at " + t);
        assertEquals(0.0, new LrSchedule.Cosine(0).lr(BASE, 100, 10, 100), EPS);
    }

    @Test void warmupThenCosine() {
        LrSchedule s = new LrSchedule.Warmup(4, new LrSchedule.Cosine(0));
        long total = 104;
        assertEquals(BASE / 4, s.lr(BASE, 0, 10, total), EPS, "first step is baseLr / warmupSteps");
        assertEquals(BASE / 2, s.lr(BASE, 1, 10, total), EPS);
        assertEquals(BASE * 3 / 4, s.lr(BASE, 2, 10, total), EPS);
        assertEquals(BASE, s.lr(BASE, 3, 10, total), EPS, "last warm-up step reaches baseLr");
        assertEquals(BASE, s.lr(BASE, 4, 10, total), EPS, "cosine starts at its step 0");
        assertEquals(BASE / 2, s.lr(BASE, 54, 10, total), EPS, "cosine runs over the remaining 100 steps");
        assertEquals(0, s.lr(BASE, 104, 10, total), EPS);
    }

    @Test void warmupThenStepDecayCountsEpochsAfterWarmup() {
        LrSchedule s = new LrSchedule.Warmup(5, new LrSchedule.StepDecay(1, 0.1));
        assertEquals(BASE, s.lr(BASE, 14, 10, 100), EPS);
        assertEquals(BASE * 0.1, s.lr(BASE, 15, 10, 100), 1e-12);
    }

    @Test void parsesEveryForm() {
        assertEquals(new LrSchedule.Constant(), LrSchedules.parse("constant"));
        assertEquals(new LrSchedule.StepDecay(30, 0.1), LrSchedules.parse("step:30:0.1"));
        assertEquals(new LrSchedule.Cosine(0), LrSchedules.parse("cosine"));
        assertEquals(new LrSchedule.Cosine(1e-5), LrSchedules.parse(" cosine:1e-5 "));
        assertEquals(new LrSchedule.Warmup(500, new LrSchedule.Cosine(0.001)), LrSchedules.parse("warmup:500,cosine:0.001"));
        assertEquals(new LrSchedule.Warmup(10, new LrSchedule.Warmup(5, new LrSchedule.Constant())), LrSchedules.parse("warmup:10,warmup:5,constant"));
        for (String spec : new String[] {"constant", "step:30:0.1", "cosine", "cosine:1.0E-5", "warmup:500,cosine:0.001"})
            assertEquals(LrSchedules.parse(spec), LrSchedules.parse(LrSchedules.parse(spec).toString()), "toString round-trips " + spec);
    }

    @Test void rejectsBadSpecsWithClearErrors() {
        for (String spec : new String[] {"", "linear", "step:3", "step:x:0.1", "step:0:0.1", "step:3:-1", "step:3:0.1:2",
                "cosine:abc", "cosine:-0.1", "warmup:10", "warmup:0,cosine", "warmup:x,cosine", "warmup:10,bogus", "Constant"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> LrSchedules.parse(spec), spec);
            assertTrue(e.getMessage().contains("valid forms"), "error for '" + spec + "' lists the valid forms: " + e.getMessage());
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LrSchedules.parse("step:0:0.1")).getMessage().contains("step:0:0.1"));
    }

    /**
     * PyTorch's ReduceLROnPlateau as the stateful object it is (step(metric) once per epoch, mode "min", threshold
     * mode "rel", cooldown 0, eps 1e-8), written out independently of {@link LrSchedule.Plateau}'s replay.
     */
    static final class TorchPlateau {
        final double factor, threshold, minLr; final int patience;
        double lr, best = Double.POSITIVE_INFINITY; int numBad;
        TorchPlateau(double lr, double factor, int patience, double threshold, double minLr) {
            this.lr = lr; this.factor = factor; this.patience = patience; this.threshold = threshold; this.minLr = minLr;
        }
        void step(double metric) {
            if (metric < best * (1 - threshold)) { best = metric; numBad = 0; } else numBad++;
            if (numBad > patience) {
                double newLr = Math.max(lr * factor, minLr);
                if (lr - newLr > 1e-8) lr = newLr;
                numBad = 0;
            }
        }
    }

    @Test void plateauWorkedExample() {
        LrSchedule s = new LrSchedule.Plateau(0.5, 2, 1e-4, 0);
        // epoch 1 sets best, epoch 2 improves, epochs 3-5 do not: the 3rd bad epoch (> patience 2) halves the rate
        assertEquals(BASE, s.lr(BASE, 0, 10, 100, new double[] {}), EPS, "no history: the base rate");
        assertEquals(BASE, s.lr(BASE, 40, 10, 100, new double[] {1.0, 0.9, 0.95, 0.95}), EPS);
        assertEquals(BASE * 0.5, s.lr(BASE, 50, 10, 100, new double[] {1.0, 0.9, 0.95, 0.95, 0.95}), EPS);
        // an improvement smaller than the relative threshold counts as no improvement
        assertEquals(BASE * 0.5, s.lr(BASE, 40, 10, 100, new double[] {1.0, 0.99999, 0.99999, 0.99999}), EPS);
        assertTrue(s.needsValidation());
        assertTrue(new LrSchedule.Warmup(5, s).needsValidation(), "warm-up passes the history to the schedule after it");
        assertEquals(BASE * 0.5, new LrSchedule.Warmup(5, s).lr(BASE, 50, 10, 100, new double[] {1.0, 0.9, 0.95, 0.95, 0.95}), EPS);
    }

    @Test void plateauReplayMatchesPyTorchsStatefulSchedulerOnRandomHistories() {
        java.util.Random rnd = new java.util.Random(7);
        for (int trial = 0; trial < 200; trial++) {
            double factor = 0.1 + 0.8 * rnd.nextDouble(), minLr = rnd.nextBoolean() ? 0 : 1e-3;
            int patience = rnd.nextInt(4);
            LrSchedule s = new LrSchedule.Plateau(factor, patience, 1e-4, minLr);
            TorchPlateau torch = new TorchPlateau(BASE, factor, patience, 1e-4, minLr);
            double[] losses = new double[30];
            double level = 2;
            for (int e = 0; e < losses.length; e++) {
                level *= rnd.nextInt(3) == 0 ? 0.9 : 1.0;       // improves about every third epoch
                losses[e] = level * (1 + 0.05 * rnd.nextDouble());
                torch.step(losses[e]);
                double replayed = s.lr(BASE, (e + 1) * 10L, 10, 300, java.util.Arrays.copyOf(losses, e + 1));
                assertEquals(torch.lr, replayed, 1e-15, "trial " + trial + " after epoch " + (e + 1));
            }
        }
    }

    @Test void parsesPlateauSpecs() {
        assertEquals(new LrSchedule.Plateau(0.1, 10, 1e-4, 0), LrSchedules.parse("plateau"));
        assertEquals(new LrSchedule.Plateau(0.5, 10, 1e-4, 0), LrSchedules.parse("plateau:0.5"));
        assertEquals(new LrSchedule.Plateau(0.5, 3, 1e-4, 0), LrSchedules.parse("plateau:0.5:3"));
        assertEquals(new LrSchedule.Plateau(0.5, 3, 1e-4, 1e-5), LrSchedules.parse("plateau:0.5:3:1e-5"));
        assertEquals(new LrSchedule.Warmup(100, new LrSchedule.Plateau(0.5, 3, 1e-4, 0)), LrSchedules.parse("warmup:100,plateau:0.5:3"));
        for (String bad : new String[] {"plateau:2", "plateau:0.5:x", "plateau:0.5:-1", "plateau:0.5:3:1:2"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LrSchedules.parse(bad));
            assertTrue(e.getMessage().contains(bad) && e.getMessage().contains("plateau["), e.getMessage());
        }
    }
}
