package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.i;
import static io.dltrain.runtime.backend.cpu.CpuBackend.n;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU losses and the top-k metric, all with PyTorch's reduction='mean':
 * <ul>
 *   <li>Softmax cross-entropy ({@code F.cross_entropy(logits, labels, label_smoothing=eps)}): per row,
 *       loss = lse - (1 - eps) x[label] - (eps / C) sum_c x[c] with lse = log sum exp(x) computed max-shifted, which is
 *       cross-entropy against the target (1 - eps) one-hot + eps / C; gradient (softmax - target) / N.</li>
 *   <li>MSE (pred - t)^2, L1 |pred - t| (gradient torch.sign(pred - t): 0 at 0 and at NaN), BCE with logits
 *       (1 - t) x - log_sigmoid(x) = (1 - t) x - min(x, 0) + log1p(exp(-|x|)), PyTorch's form, which also gives its
 *       results at infinite logits (inf for x = +inf and t < 1, NaN for x = -inf), with gradient sigmoid(x) - t.</li>
 *   <li>countTopK: rows whose label is among the first k of its row sorted by descending logit, ties in index order
 *       (so top-1 is torch.argmax: the first of tied maxima; a row of equal logits is one hit for label 0, not all).</li>
 *   <li>oneHot: F.one_hot(labels, C) as FP32, for losses written with the public ops.</li>
 * </ul>
 * Reductions sum in double per parallel chunk and combine the partials in chunk order (deterministic for a thread
 * count). Labels are checked before any work: one outside [0, C) is an error naming the row and the value.
 */
final class CpuLoss {
    private CpuLoss() {}

    /** Elements per parallel chunk. */
    private static final int GRAIN = 1 << 14;

    /**
     * Every label in [0, C), for logits and labels that passed {@link Checks#logitsAndLabels} ({N, C}): only the CPU
     * reads the labels (a device backend would need a host synchronisation per step). Returns nc.
     */
    private static int[] checkLabels(Tensor logits, Tensor labels, String op, int[] nc) {
        checkLabelRange(labels, nc[0], nc[1], op, () -> "for logits " + logits.shape()
                + " (are the labels 1-based, or is the model's number of classes wrong?)");
        return nc;
    }

    /** The N labels in [0, C), else an error naming op, the row and the value, then {@code context}. */
    private static void checkLabelRange(Tensor labels, int N, int C, String op, java.util.function.Supplier<String> context) {
        int[] L = i(labels);
        int lo = off(labels);
        for (int r = 0; r < N; r++) {
            int v = L[lo + r];
            if (v < 0 || v >= C)
                throw new IllegalArgumentException(op + ": label " + v + " in row " + r + " is outside [0, " + C + ") " + context.get());
        }
    }

    /** Sum over chunks of rows (or elements) of a per-chunk double partial, combined in chunk order. */
    @FunctionalInterface
    private interface PartialSum { double run(int start, int end); }

    private static double reduce(CpuBackend be, int n, int grain, PartialSum body) {
        int chunks = be.par.chunks(n, grain);
        double[] partial = new double[chunks];
        be.par.forChunks(n, chunks, (c, s, e) -> partial[c] = body.run(s, e));
        double total = 0;
        for (double p : partial) total += p;
        return total;
    }

    static void crossEntropyForward(CpuBackend be, Tensor logits, Tensor labels, float labelSmoothing, Tensor probs, Tensor loss) {
        String op = "crossEntropy";
        int[] nc = checkLabels(logits, labels, op, Checks.crossEntropy(op, Device.CPU, logits, labels, labelSmoothing, probs, loss));
        int N = nc[0], C = nc[1];
        float[] X = f(logits), P = f(probs);
        int[] L = i(labels);
        int xo = off(logits), po = off(probs), lo = off(labels);
        double onHot = 1.0 - labelSmoothing, spread = (double) labelSmoothing / C;
        double total = reduce(be, N, Math.max(1, GRAIN / Math.max(1, C)), (s, e) -> {
            double acc = 0;
            for (int r = s; r < e; r++) {
                int b = xo + r * C, pb = po + r * C;
                float max = Float.NEGATIVE_INFINITY;
                for (int c = 0; c < C; c++) max = Math.max(max, X[b + c]);
                double sumExp = 0, sumX = 0;
                for (int c = 0; c < C; c++) {
                    double v = X[b + c];
                    double ez = Math.exp(v - max);
                    P[pb + c] = (float) ez;
                    sumExp += ez;
                    sumX += v - max;
                }
                float inv = (float) (1.0 / sumExp);
                for (int c = 0; c < C; c++) P[pb + c] *= inv;
                // Everything relative to max: lse' = log sum exp(x - max), so large logits lose nothing.
                double lse = Math.log(sumExp);
                double nll = lse - ((double) X[b + L[lo + r]] - max);
                // sum_c -log p_c, only with smoothing: a -inf logit makes it inf, and 0 * inf would turn the
                // finite loss of an unsmoothed row into NaN (PyTorch leaves the term out when eps is 0).
                double smooth = spread == 0 ? 0 : C * lse - sumX;
                acc += onHot * nll + spread * smooth;
            }
            return acc;
        });
        f(loss)[off(loss)] = (float) (total / N);
    }

    static void crossEntropyBackward(CpuBackend be, Tensor probs, Tensor labels, float labelSmoothing, Tensor dloss, Tensor dlogits) {
        String op = "crossEntropy backward";
        int[] nc = checkLabels(probs, labels, op, Checks.crossEntropy(op, Device.CPU, probs, labels, labelSmoothing, dlogits, dloss));
        int N = nc[0], C = nc[1];
        float[] P = f(probs), G = f(dlogits);
        int[] L = i(labels);
        int po = off(probs), go = off(dlogits), lo = off(labels);
        float scale = (float) (f(dloss)[off(dloss)] / (double) N);
        float spread = labelSmoothing / C, onHot = 1f - labelSmoothing;
        be.par.forRange(N, Math.max(1, GRAIN / Math.max(1, C)), (s, e) -> {
            for (int r = s; r < e; r++) {
                int pb = po + r * C, gb = go + r * C;
                for (int c = 0; c < C; c++) G[gb + c] = (P[pb + c] - spread) * scale;
                int t = L[lo + r];
                G[gb + t] = (P[pb + t] - spread - onHot) * scale;
            }
        });
    }

    static void forward(CpuBackend be, LossKind kind, Tensor pred, Tensor target, Tensor loss) {
        Checks.loss(kind, Device.CPU, pred, target, loss, null);
        float[] X = f(pred), T = f(target);
        int xo = off(pred), to = off(target), n = n(pred);
        double total = reduce(be, n, GRAIN, switch (kind) {
            case MSE -> (s, e) -> {
                double acc = 0;
                for (int i = s; i < e; i++) { double d = (double) X[xo + i] - T[to + i]; acc += d * d; }
                return acc;
            };
            case L1 -> (s, e) -> {
                double acc = 0;
                for (int i = s; i < e; i++) acc += Math.abs((double) X[xo + i] - T[to + i]);
                return acc;
            };
            case BCE_WITH_LOGITS -> (s, e) -> {
                double acc = 0;
                for (int i = s; i < e; i++) {
                    double x = X[xo + i], t = T[to + i];
                    // PyTorch's (1 - t) x - log_sigmoid(x). The same value as softplus(x) - x t for finite x, but
                    // that form gave NaN at x = +inf (inf - inf) and inf at x = -inf where PyTorch gives inf and NaN.
                    acc += (1.0 - t) * x - Math.min(x, 0.0) + CpuActivation.log1pUnit(Math.exp(-Math.abs(x)));
                }
                return acc;
            };
        });
        // mean over zero elements is NaN in PyTorch; so it is here (0/0).
        f(loss)[off(loss)] = (float) (total / n);
    }

    static void backward(CpuBackend be, LossKind kind, Tensor pred, Tensor target, Tensor dloss, Tensor dpred) {
        Checks.loss(kind, Device.CPU, pred, target, dloss, dpred);
        float[] X = f(pred), T = f(target), G = f(dpred);
        int xo = off(pred), to = off(target), go = off(dpred), n = n(pred);
        double g = f(dloss)[off(dloss)] / (double) n;
        Parallel.Range body = switch (kind) {
            case MSE -> {
                float s2 = (float) (2 * g);
                yield (s, e) -> { for (int i = s; i < e; i++) G[go + i] = s2 * (X[xo + i] - T[to + i]); };
            }
            case L1 -> {
                float s1 = (float) g;
                // torch.sign, (d > 0) - (d < 0): 0 for NaN, where Math.signum would give NaN.
                yield (s, e) -> {
                    for (int i = s; i < e; i++) { float d = X[xo + i] - T[to + i]; G[go + i] = s1 * ((d > 0f ? 1f : 0f) - (d < 0f ? 1f : 0f)); }
                };
            }
            case BCE_WITH_LOGITS -> (s, e) -> {
                for (int i = s; i < e; i++) G[go + i] = (float) (g * (CpuActivation.sigmoid(X[xo + i]) - T[to + i]));
            };
        };
        be.par.forRange(n, GRAIN, body);
    }

    static void countTopK(CpuBackend be, Tensor logits, Tensor labels, int k, Tensor count) {
        String op = "countTopK";
        int[] nc = checkLabels(logits, labels, op, Checks.countTopK(Device.CPU, logits, labels, k, count));
        int N = nc[0], C = nc[1];
        float[] X = f(logits);
        int[] L = i(labels);
        int xo = off(logits), lo = off(labels);
        double hits = reduce(be, N, Math.max(1, GRAIN / Math.max(1, C)), (s, e) -> {
            int acc = 0;
            for (int r = s; r < e; r++) {
                int b = xo + r * C;
                float target = X[b + L[lo + r]];
                if (Float.isNaN(target)) continue; // a NaN score is never a correct prediction
                int label = L[lo + r], before = 0;
                // Logits ranked before the label's: larger ones, NaNs (NaN ranks above every number, as in
                // torch.topk, so a row of NaNs scores no hits) and equal ones at a lower index (ties go to the
                // first index, as torch.argmax: counting every tied label a hit would score a model that outputs
                // constant logits 100%).
                for (int c = 0; c < C; c++) {
                    float v = X[b + c];
                    if (v > target || Float.isNaN(v) || (v == target && c < label)) before++;
                }
                if (before < k) acc++;
            }
            return acc;
        });
        if (count.dtype() == DType.INT32) i(count)[off(count)] += (int) hits;
        else f(count)[off(count)] += (float) hits;
    }

    static void oneHot(Tensor labels, Tensor out) {
        String op = "oneHot";
        int[] nc = Checks.oneHot(Device.CPU, labels, out);
        int N = nc[0], C = nc[1];
        checkLabelRange(labels, N, C, op, () -> "for " + C + " classes, out " + out.shape()
                + " (are the labels 1-based, or is the number of classes wrong?)");
        int[] L = i(labels);
        int lo = off(labels);
        float[] Y = f(out);
        int yo = off(out);
        java.util.Arrays.fill(Y, yo, yo + N * C, 0f);
        for (int r = 0; r < N; r++) Y[yo + r * C + L[lo + r]] = 1f;
    }
}
