package io.dltrain.runtime.ops;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.loss.BCEWithLogitsLoss;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.nn.loss.L1Loss;
import io.dltrain.runtime.nn.loss.Loss;
import io.dltrain.runtime.nn.loss.MSELoss;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Losses against double references of PyTorch's definitions (F.cross_entropy with label smoothing, F.mse_loss,
 * F.l1_loss, F.binary_cross_entropy_with_logits; mean reduction), hard inputs, finite-difference gradients, label
 * validation, and the top-k count.
 */
class LossTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /**
     * PyTorch's cross_entropy with label_smoothing eps, written as its docs define it: with log-probabilities
     * lp = log_softmax(x), loss = mean over rows of (1 - eps) * (-lp[label]) + eps * mean_c(-lp[c]).
     */
    static double crossEntropy(float[] x, int[] labels, int C, double eps) {
        int N = labels.length;
        double total = 0;
        for (int r = 0; r < N; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < C; c++) max = Math.max(max, x[r * C + c]);
            double sum = 0;
            for (int c = 0; c < C; c++) sum += Math.exp(x[r * C + c] - max);
            double lse = max + Math.log(sum), smooth = 0;
            for (int c = 0; c < C; c++) smooth += -(x[r * C + c] - lse);
            total += (1 - eps) * -(x[r * C + labels[r]] - lse) + eps * smooth / C;
        }
        return total / N;
    }

    /** Gradient of the mean smoothed cross-entropy: (softmax - ((1 - eps) onehot + eps / C)) / N. */
    static double[] crossEntropyGrad(float[] x, int[] labels, int C, double eps) {
        int N = labels.length;
        double[] g = new double[x.length];
        for (int r = 0; r < N; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < C; c++) max = Math.max(max, x[r * C + c]);
            double sum = 0;
            for (int c = 0; c < C; c++) sum += Math.exp(x[r * C + c] - max);
            for (int c = 0; c < C; c++) {
                double target = (c == labels[r] ? 1 - eps : 0) + eps / C;
                g[r * C + c] = (Math.exp(x[r * C + c] - max) / sum - target) / N;
            }
        }
        return g;
    }

    static int[] labels(SplittableRandom rng, int n, int C) {
        int[] l = new int[n];
        for (int i = 0; i < n; i++) l[i] = rng.nextInt(C);
        return l;
    }

    @Test
    void crossEntropyMatchesReference() {
        SplittableRandom rng = new SplittableRandom(1);
        int[][] sizes = {{8, 5}, {300, 100}}; // the second splits rows over both threads
        for (int[] nc : sizes) {
            int N = nc[0], C = nc[1];
            float[] x = Check.uniform(rng, N * C, -6, 6);
            int[] y = labels(rng, N, C);
            for (float eps : new float[] {0f, 0.1f, 0.5f}) {
                try (Scope s = Scope.open()) {
                    Tensor loss = Losses.crossEntropy(be.fromHost(x, Shape.of(N, C)), be.fromHost(y, Shape.of(N)), eps);
                    assertEquals(1, loss.numel());
                    // Sum of N row losses in double, one float rounding: 1e-6 relative.
                    Check.close("crossEntropy " + N + "x" + C + " eps " + eps, new double[] {crossEntropy(x, y, C, eps)},
                            loss.toFloatArray(), 0, 1e-6);
                }
            }
        }
    }

    @Test
    void crossEntropyWithLargeLogits() {
        // Logits of +-80 (exp(80) ~ 5.5e34 and exp(160) would overflow float): losses of 0, 160 and ~0.69.
        float[] x = {80, -80, 0,
                     -80, 80, 0,
                     80, 80, -80,
                     -80, -80, -80};
        int[] y = {0, 0, 1, 2};
        for (float eps : new float[] {0f, 0.2f}) {
            try (Scope s = Scope.open()) {
                float loss = Losses.crossEntropy(be.fromHost(x, Shape.of(4, 3)), be.fromHost(y, Shape.of(4)), eps).item();
                double want = crossEntropy(x, y, 3, eps);
                assertTrue(Float.isFinite(loss));
                assertEquals(want, loss, 1e-6 * Math.abs(want), "eps " + eps);
            }
        }
    }

    @Test
    void crossEntropyWithMaskedLogits() {
        // -inf logits (masked classes) on rows whose label is unmasked. Without smoothing only the label's
        // log-probability counts, so the loss is finite: torch 1.13 gives 0.65663081 = (log(1 + e) + 0) / 2 and the
        // gradient (softmax - onehot) / N, 0 at the masked entries. With smoothing the masked classes' -log p = inf
        // enter the loss, which is then inf in PyTorch too.
        float ninf = Float.NEGATIVE_INFINITY;
        float[] x = {0, ninf, 1,
                     2, ninf, ninf};
        int[] y = {0, 0};
        try (Scope s = Scope.open()) {
            Tensor xt = be.fromHost(x, Shape.of(2, 3)), lab = be.fromHost(y, Shape.of(2));
            Tensor probs = be.empty(xt.shape()), loss = be.empty(Shape.SCALAR), dx = be.empty(xt.shape());
            be.crossEntropyForward(xt, lab, 0f, probs, loss);
            assertEquals(Math.log1p(Math.E) / 2, loss.item(), 1e-6, "loss without smoothing");
            be.crossEntropyBackward(probs, lab, 0f, be.fromHost(new float[] {1f}, Shape.SCALAR), dx);
            double p2 = Math.E / (1 + Math.E);
            Check.close("masked cross-entropy backward", new double[] {(1 - p2 - 1) / 2, 0, p2 / 2, 0, 0, 0}, dx.toFloatArray(), 1e-7, 1e-6);
            be.crossEntropyForward(xt, lab, 0.1f, probs, loss);
            assertEquals(Float.POSITIVE_INFINITY, loss.item(), "loss with smoothing");
        }
    }

    @Test
    void crossEntropyGradients() {
        SplittableRandom rng = new SplittableRandom(2);
        int N = 4, C = 5;
        int[] y = labels(rng, N, C);
        for (float eps : new float[] {0f, 0.1f}) {
            try (Tensor x = Check.param(be, rng, -2, 2, N, C); Tensor lab = be.fromHost(y, Shape.of(N)).keep()) {
                Check.gradients("crossEntropy eps " + eps, in -> Losses.crossEntropy(in.get(0), lab, eps), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            }
        }
        // Analytic gradient against the reference on a bigger case with large logits, scaled by an upstream gradient.
        int Nb = 64, Cb = 40;
        float[] x = Check.uniform(rng, Nb * Cb, -80, 80);
        int[] yb = labels(rng, Nb, Cb);
        try (Scope s = Scope.open()) {
            Tensor xt = be.fromHost(x, Shape.of(Nb, Cb)), lab = be.fromHost(yb, Shape.of(Nb));
            Tensor probs = be.empty(xt.shape()), loss = be.empty(Shape.SCALAR), dx = be.empty(xt.shape());
            be.crossEntropyForward(xt, lab, 0.1f, probs, loss);
            be.crossEntropyBackward(probs, lab, 0.1f, be.fromHost(new float[] {2.5f}, Shape.SCALAR), dx);
            double[] want = crossEntropyGrad(x, yb, Cb, 0.1);
            for (int i = 0; i < want.length; i++) want[i] *= 2.5;
            // Entries are O(1/N); float probabilities: 1e-8 absolute plus 1e-5 relative.
            Check.close("crossEntropy backward", want, dx.toFloatArray(), 1e-8, 1e-5);
        }
    }

    @Test
    void invalidLabelIsAClearError() {
        try (Scope s = Scope.open()) {
            Tensor x = be.zeros(Shape.of(4, 3));
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Losses.crossEntropy(x, be.fromHost(new int[] {0, 2, 3, 1}, Shape.of(4)), 0f));
            assertTrue(e.getMessage().contains("row 2") && e.getMessage().contains("label 3") && e.getMessage().contains("[0, 3)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Losses.crossEntropy(x, be.fromHost(new int[] {0, -1, 0, 0}, Shape.of(4)), 0f));
            assertTrue(e.getMessage().contains("row 1") && e.getMessage().contains("-1"), e.getMessage());
            // Float labels or a wrong count are rejected too.
            assertThrows(IllegalArgumentException.class, () -> Losses.crossEntropy(x, be.zeros(Shape.of(4)), 0f));
            assertThrows(IllegalArgumentException.class, () -> Losses.crossEntropy(x, be.zeros(Shape.of(3), DType.INT32), 0f));
        }
    }

    @Test
    void elementwiseLossesMatchReference() {
        SplittableRandom rng = new SplittableRandom(3);
        int n = 70_000; // split over both threads
        float[] p = Check.uniform(rng, n, -5, 5), t = Check.uniform(rng, n, -5, 5), prob = Check.uniform(rng, n, 0, 1);
        // BCE with extreme logits: log(1 + exp(80)) must not overflow, and log(1 + exp(-80)) must not be lost.
        p[0] = 80; p[1] = -80; p[2] = 80; p[3] = -80;
        prob[0] = 0; prob[1] = 1; prob[2] = 1; prob[3] = 0;
        double mse = 0, l1 = 0, bce = 0;
        for (int i = 0; i < n; i++) {
            double d = (double) p[i] - t[i];
            mse += d * d;
            l1 += Math.abs(d);
            // -[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], with log sigmoid(x) = -log1p(exp(-x)) written per sign.
            double x = p[i], logSig = x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
            double logOneMinusSig = logSig - x;
            bce += -(prob[i] * logSig + (1 - prob[i]) * logOneMinusSig);
        }
        try (Scope s = Scope.open()) {
            Tensor pt = be.fromHost(p, Shape.of(700, 100)), tt = be.fromHost(t, pt.shape()), qt = be.fromHost(prob, pt.shape());
            Check.close("mse", new double[] {mse / n}, Losses.mse(pt, tt).toFloatArray(), 0, 1e-6);
            Check.close("l1", new double[] {l1 / n}, Losses.l1(pt, tt).toFloatArray(), 0, 1e-6);
            Check.close("bceWithLogits", new double[] {bce / n}, Losses.bceWithLogits(pt, qt).toFloatArray(), 0, 1e-6);
        }
        try (Scope s = Scope.open()) {
            // The four extreme BCE cases alone: confident and right costs log1p(e^-80) ~ 1.8e-35 each, confident and
            // wrong costs 80 + log1p(e^-80) each.
            Tensor pt = be.fromHost(new float[] {80, -80, 80, -80}, Shape.of(4)), qt = be.fromHost(new float[] {1, 0, 0, 1}, Shape.of(4));
            Check.close("bce extremes", new double[] {(160 + 4 * Math.log1p(Math.exp(-80))) / 4}, Losses.bceWithLogits(pt, qt).toFloatArray(), 0, 1e-6);
        }
    }

    /**
     * BCE with logits at infinite logits gives PyTorch's values: its (1 - t) x - log_sigmoid(x) is inf at x = +inf
     * for t < 1 and NaN otherwise (0 * inf, or -inf + inf). The softplus(x) - x t form gave NaN at +inf and inf at
     * -inf for t > 0. Reference, torch 2.13 float32: x = torch.tensor([v], requires_grad=True),
     * l = F.binary_cross_entropy_with_logits(x, torch.tensor([t])), l.backward(), for v = inf and -inf and
     * t = 0, 0.3, 1: l = inf, inf, nan (v = inf) and nan, nan, nan (v = -inf); x.grad = 1, 0.7, 0 and 0, -0.3, -1.
     */
    @Test
    void bceWithLogitsAtInfiniteLogitsAsPyTorch() {
        float inf = Float.POSITIVE_INFINITY, nan = Float.NaN;
        float[] xs = {inf, inf, inf, -inf, -inf, -inf}, ts = {0f, 0.3f, 1f, 0f, 0.3f, 1f};
        float[] wantLoss = {inf, inf, nan, nan, nan, nan}, wantGrad = {1f, 0.7f, 0f, 0f, -0.3f, -1f};
        for (int i = 0; i < xs.length; i++) {
            try (Scope s = Scope.open()) {
                Tensor x = be.fromHost(new float[] {xs[i]}, Shape.of(1)).requiresGrad(true);
                Tensor l = Losses.bceWithLogits(x, be.fromHost(new float[] {ts[i]}, Shape.of(1)));
                String what = "bce_with_logits(" + xs[i] + ", " + ts[i] + ")";
                assertEquals(wantLoss[i], l.item(), what);
                l.backward();
                assertEquals(wantGrad[i], x.grad().item(), 1e-7f, what + " gradient");
            }
        }
    }

    /**
     * L1's gradient uses torch.sign(pred - t), which is 0 for NaN (Math.signum gave NaN), as well as at 0. Reference,
     * torch 2.13 float32: x = torch.tensor([nan, 0.5, 2., inf, -1.], requires_grad=True),
     * F.l1_loss(x, torch.tensor([1., 0.25, 2., inf, 3.])).backward() gives x.grad = [0, 0.2, 0, 0, -0.2] (loss nan).
     */
    @Test
    void l1GradientIsZeroWhereTheDifferenceIsNanAsPyTorch() {
        float inf = Float.POSITIVE_INFINITY;
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(new float[] {Float.NaN, 0.5f, 2f, inf, -1f}, Shape.of(5)).requiresGrad(true);
            Tensor l = Losses.l1(x, be.fromHost(new float[] {1f, 0.25f, 2f, inf, 3f}, Shape.of(5)));
            assertTrue(Float.isNaN(l.item()), "loss");
            l.backward();
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {0f, 0.2f, 0f, 0f, -0.2f}, x.grad().toFloatArray());
        }
    }

    @Test
    void elementwiseLossGradients() {
        SplittableRandom rng = new SplittableRandom(4);
        float[] pv = Check.uniform(rng, 12, -2, 2), tv = new float[12];
        // L1 has a kink where pred == target: keep |pred - target| >= 0.2, beyond the finite-difference step.
        for (int i = 0; i < 12; i++) tv[i] = pv[i] + (float) ((rng.nextBoolean() ? 1 : -1) * rng.nextDouble(0.2, 1));
        float[] prob = Check.uniform(rng, 12, 0, 1);
        try (Tensor p = be.fromHost(pv, Shape.of(3, 4)).keep().requiresGrad(true); Tensor t = be.fromHost(tv, Shape.of(3, 4)).keep();
             Tensor q = be.fromHost(prob, Shape.of(3, 4)).keep()) {
            // Every LossKind (the switch has no default: a new kind does not compile until it is checked here).
            for (io.dltrain.runtime.backend.LossKind kind : io.dltrain.runtime.backend.LossKind.values()) {
                java.util.function.Function<Tensor, Tensor> loss = switch (kind) {
                    case MSE -> x -> Losses.mse(x, t);
                    case L1 -> x -> Losses.l1(x, t);
                    case BCE_WITH_LOGITS -> x -> Losses.bceWithLogits(x, q);
                };
                Check.gradients(kind.toString(), in -> loss.apply(in.get(0)), List.of(p), Check.EPS, Check.ATOL, Check.RTOL);
            }
        }
    }

    /**
     * Rows whose label is among the first k indices of its row stably sorted by descending logit (finite logits
     * here): the Backend's tie rule (ties go to the lower index, as torch.argmax) stated another way.
     */
    static int topK(float[] x, int[] labels, int C, int k) {
        int hits = 0;
        for (int r = 0; r < labels.length; r++) {
            int base = r * C;
            Integer[] order = new Integer[C];
            for (int c = 0; c < C; c++) order[c] = c;
            Arrays.sort(order, (a, b) -> Float.compare(x[base + b], x[base + a])); // stable: ties keep index order
            for (int j = 0; j < k; j++) if (order[j] == labels[r]) { hits++; break; }
        }
        return hits;
    }

    @Test
    void countTopKMatchesReference() {
        SplittableRandom rng = new SplittableRandom(5);
        int N = 2000, C = 10;
        float[] x = new float[N * C];
        // Coarse integer logits make ties common, to exercise the tie rule.
        for (int i = 0; i < x.length; i++) x[i] = rng.nextInt(6);
        int[] y = labels(rng, N, C);
        try (Scope s = Scope.open()) {
            Tensor xt = be.fromHost(x, Shape.of(N, C)), lab = be.fromHost(y, Shape.of(N));
            for (int k : new int[] {1, 5}) {
                Tensor count = be.zeros(Shape.SCALAR);
                be.countTopK(xt, lab, k, count);
                int want = topK(x, y, C, k);
                assertEquals(want, count.item(), "top-" + k);
                be.countTopK(xt, lab, k, count); // accumulates
                assertEquals(2 * want, count.item(), "top-" + k + " accumulated");
                Tensor icount = be.zeros(Shape.SCALAR, DType.INT32);
                be.countTopK(xt, lab, k, icount);
                assertEquals(want, icount.toIntArray()[0], "top-" + k + " into an INT32 counter");
            }
            // Continuous logits too (no ties).
            float[] xc = Check.uniform(rng, N * C, -3, 3);
            Tensor count = be.zeros(Shape.SCALAR);
            be.countTopK(be.fromHost(xc, Shape.of(N, C)), lab, 5, count);
            assertEquals(topK(xc, y, C, 5), count.item());
        }
    }

    @Test
    void countTopKBreaksTiesByIndexLikeArgmax() {
        try (Scope s = Scope.open()) {
            float inf = Float.POSITIVE_INFINITY;
            // A collapsed model (every logit equal) must not score 100%: as torch.argmax, the first of tied maxima
            // is the prediction. Rows: all zeros (labels 0, 1, 2, 1), [inf, inf, 0] label 1, all -inf label 2,
            // [1, 3, 3] label 2.
            float[] x = {0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f,
                         inf, inf, 0f, -inf, -inf, -inf, 1f, 3f, 3f};
            Tensor logits = be.fromHost(x, Shape.of(7, 3)), lab = be.fromHost(new int[] {0, 1, 2, 1, 1, 2, 2}, Shape.of(7));
            Tensor top1 = be.zeros(Shape.SCALAR), top2 = be.zeros(Shape.SCALAR), top3 = be.zeros(Shape.SCALAR);
            be.countTopK(logits, lab, 1, top1);
            be.countTopK(logits, lab, 2, top2);
            be.countTopK(logits, lab, 3, top3);
            assertEquals(1f, top1.item(), "top-1: only the all-zero row labelled 0 (torch.argmax picks index 0)");
            assertEquals(5f, top2.item(), "top-2: all-zero rows labelled 0 or 1, [inf, inf, 0] label 1, [1, 3, 3] label 2");
            assertEquals(7f, top3.item(), "top-3 of 3 classes: every row");
            assertEquals(topK(x, new int[] {0, 1, 2, 1, 1, 2, 2}, 3, 1), (int) top1.item(), "the reference agrees");
        }
    }

    @Test
    void countTopKNeverCountsNaNScoresAsHits() {
        try (Scope s = Scope.open()) {
            float nan = Float.NaN;
            // row 0: all NaN; row 1: NaN at the label; row 2: NaN elsewhere ranks above the label (torch.topk order);
            // row 3: finite, label is the maximum
            float[] x = {nan, nan, nan, 1f, nan, 0f, 2f, nan, 0f, 0f, 0f, 3f};
            Tensor logits = be.fromHost(x, Shape.of(4, 3)), lab = be.fromHost(new int[] {0, 1, 0, 2}, Shape.of(4));
            Tensor top1 = be.zeros(Shape.SCALAR), top2 = be.zeros(Shape.SCALAR);
            be.countTopK(logits, lab, 1, top1);
            be.countTopK(logits, lab, 2, top2);
            assertEquals(1f, top1.item(), "only the finite row 3 is a top-1 hit");
            assertEquals(2f, top2.item(), "row 2's label is second after the NaN; row 3 is a hit");
        }
    }

    @Test
    void oneHotMatchesADirectLoopAndRefusesLabelsOutOfRange() {
        SplittableRandom rng = new SplittableRandom(7);
        int N = 37, C = 5;
        int[] y = labels(rng, N, C);
        try (Scope s = Scope.open()) {
            Tensor lab = be.fromHost(y, Shape.of(N)), oh = Losses.oneHot(lab, C);
            assertEquals(Shape.of(N, C), oh.shape());
            assertEquals(DType.FP32, oh.dtype());
            float[] want = new float[N * C];
            for (int r = 0; r < N; r++) for (int c = 0; c < C; c++) want[r * C + c] = c == y[r] ? 1f : 0f;
            assertArrayEquals(want, oh.toFloatArray());
            assertEquals(false, oh.requiresGrad(), "labels have no gradient: the one-hot rows are a constant");
            assertEquals(Shape.of(0, 3), Losses.oneHot(be.fromHost(new int[0], Shape.of(0)), 3).shape(), "an empty batch");

            // Out of range: refused before out is written, naming the row and the value.
            Tensor out = be.fromHost(new float[] {7f, 7f, 7f, 7f, 7f, 7f}, Shape.of(2, 3));
            for (int bad : new int[] {3, -1}) {
                var e = assertThrows(IllegalArgumentException.class, () -> be.oneHot(be.fromHost(new int[] {0, bad}, Shape.of(2)), out));
                assertEquals("oneHot: label " + bad + " in row 1 is outside [0, 3) for 3 classes, out [2, 3] (are the labels 1-based,"
                        + " or is the number of classes wrong?)", e.getMessage());
                assertArrayEquals(new float[] {7f, 7f, 7f, 7f, 7f, 7f}, out.toFloatArray(), "out untouched");
            }
            assertEquals("oneHot: classes must be >= 1, got 0",
                    assertThrows(IllegalArgumentException.class, () -> Losses.oneHot(lab, 0)).getMessage());
            assertTrue(assertThrows(IllegalArgumentException.class, () -> Losses.oneHot(be.fromHost(new float[N], Shape.of(N)), C))
                    .getMessage().startsWith("oneHot: expected INT32 labels [N], got FP32"));
        }
    }

    /**
     * A focal loss (gamma 2) written with the public ops and the labels as a tensor, as a {@code Loss} plugged into the
     * Learner gets them: -mean over rows of (1 - p_t)^2 log p_t, where oneHot * (1 - p) = oneHot - oneHot * p picks
     * row r's class t. Checked against a direct computation in double and against finite differences.
     */
    static Tensor focal(Tensor logits, Tensor labels) {
        int n = logits.dim(0);
        Tensor oh = Losses.oneHot(labels, logits.dim(1));
        Tensor w = Basic.add(oh, Basic.scale(Sequence.mul(oh, Activations.softmax(logits)), -1f));   // oneHot * (1 - p)
        return Basic.scale(Basic.sum(Sequence.mul(Sequence.mul(w, w), Activations.logSoftmax(logits))), -1f / n);
    }

    @Test
    void aFocalLossWrittenWithOneHotMatchesADirectComputation() {
        SplittableRandom rng = new SplittableRandom(8);
        int N = 6, C = 4;
        int[] y = labels(rng, N, C);
        float[] x = Check.uniform(rng, N * C, -3, 3);
        double want = 0;
        for (int r = 0; r < N; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int c = 0; c < C; c++) max = Math.max(max, x[r * C + c]);
            for (int c = 0; c < C; c++) sum += Math.exp(x[r * C + c] - max);
            double logp = x[r * C + y[r]] - max - Math.log(sum), p = Math.exp(logp);
            want += -(1 - p) * (1 - p) * logp;
        }
        want /= N;
        try (Scope s = Scope.open()) {
            assertEquals(want, focal(be.fromHost(x, Shape.of(N, C)), be.fromHost(y, Shape.of(N))).item(), 1e-6 * Math.abs(want), "focal loss");
        }
        try (Tensor xt = Check.param(be, rng, -2, 2, N, C); Tensor lab = be.fromHost(y, Shape.of(N)).keep()) {
            Check.gradients("focal loss", in -> focal(in.get(0), lab), List.of(xt), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void lossClassesDelegate() {
        SplittableRandom rng = new SplittableRandom(6);
        try (Scope s = Scope.open()) {
            Tensor logits = be.fromHost(Check.uniform(rng, 12, -2, 2), Shape.of(4, 3)), lab = be.fromHost(new int[] {0, 1, 2, 1}, Shape.of(4));
            Tensor pred = be.fromHost(Check.uniform(rng, 12, -2, 2), Shape.of(4, 3)), t = be.fromHost(Check.uniform(rng, 12, 0, 1), Shape.of(4, 3));
            Loss ce = new CrossEntropyLoss(0.1f);
            assertEquals(Losses.crossEntropy(logits, lab, 0.1f).item(), ce.compute(logits, lab).item());
            assertEquals(Losses.crossEntropy(logits, lab, 0f).item(), new CrossEntropyLoss().compute(logits, lab).item());
            assertEquals(Losses.mse(pred, t).item(), new MSELoss().compute(pred, t).item());
            assertEquals(Losses.l1(pred, t).item(), new L1Loss().compute(pred, t).item());
            assertEquals(Losses.bceWithLogits(pred, t).item(), new BCEWithLogitsLoss().compute(pred, t).item());
            assertEquals(List.of("cross_entropy", "mse", "l1", "bce_with_logits"),
                    List.of(ce.name(), new MSELoss().name(), new L1Loss().name(), new BCEWithLogitsLoss().name()));
            var e = assertThrows(IllegalArgumentException.class, () -> Losses.mse(pred, be.zeros(Shape.of(3, 4))));
            assertTrue(e.getMessage().contains("[4, 3]") && e.getMessage().contains("[3, 4]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new CrossEntropyLoss(1.5f));
        }
    }
}
