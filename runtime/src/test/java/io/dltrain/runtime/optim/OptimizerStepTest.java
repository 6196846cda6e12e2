package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every optimiser, several steps with fresh random gradients and a changing learning rate, against a plain
 * double-precision transcription of the torch.optim algorithm (the pseudo-code in PyTorch's documentation).
 * Parameters and every state buffer are compared after the last step. One parameter has 20000 elements so the
 * CPU kernel runs split over both threads.
 */
class OptimizerStepTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** Float vs double after a few steps: rounding of O(1) values, 1e-6 absolute (~16 float ulps at 1) + 1e-5 relative. */
    static final double ATOL = 1e-6, RTOL = 1e-5;
    static final int STEPS = 6;
    static final double[] LRS = {0.05, 0.04, 0.1, 0.02, 0.07, 0.03};

    /** One parameter's update in double: p, g (already a copy), named state buffers (created zero by the harness), lr, step from 1. */
    interface Ref { void step(double[] p, double[] g, Map<String, double[]> st, double lr, long t); }

    static double sign(double x) { return Math.signum(x); }

    static void run(String what, Function<Map<String, Tensor>, Optimizer> make, double lrScale, Ref ref, String... slots) {
        SplittableRandom rng = new SplittableRandom(what.hashCode());
        int[][] shapes = {{6, 5}, {5}, {20000}};
        String[] names = {"fc.weight", "fc.bias", "big"};
        Map<String, Tensor> params = new LinkedHashMap<>();
        List<double[]> refP = new ArrayList<>();
        List<Map<String, double[]>> refS = new ArrayList<>();
        for (int k = 0; k < shapes.length; k++) {
            Shape s = Shape.of(shapes[k]);
            float[] init = Check.uniform(rng, s.size(), -1, 1);
            Tensor p = be.fromHost(init, s).requiresGrad(true);
            p.setGrad(be.zeros(s));
            params.put(names[k], p);
            double[] d = new double[init.length];
            for (int i = 0; i < d.length; i++) d[i] = init[i];
            refP.add(d);
            Map<String, double[]> st = new HashMap<>();
            for (String slot : slots) st.put(slot, new double[init.length]);
            refS.add(st);
        }
        try (Optimizer opt = make.apply(params)) {
            for (int t = 1; t <= STEPS; t++) {
                double lr = LRS[t - 1] * lrScale;
                opt.setLr(lr);
                List<float[]> grads = new ArrayList<>();
                int k = 0;
                for (Tensor p : params.values()) {
                    float[] g = Check.uniform(rng, p.shape().size(), -1, 1);
                    be.copyFromHost(g, 0, p.grad());
                    grads.add(g);
                    double[] gd = new double[g.length];
                    for (int i = 0; i < g.length; i++) gd[i] = g[i];
                    ref.step(refP.get(k), gd, refS.get(k), lr, t);
                    k++;
                }
                opt.step();
                k = 0;
                for (Tensor p : params.values()) assertArrayEquals(grads.get(k++), p.grad().toFloatArray(), what + ": step() modified a gradient");
            }
            assertEquals(STEPS, opt.stepCount());
            Map<String, Tensor> state = opt.state();
            int k = 0;
            for (var e : params.entrySet()) {
                Check.close(what + " " + e.getKey() + " after " + STEPS + " steps", refP.get(k), e.getValue().toFloatArray(), ATOL, RTOL);
                for (String slot : slots) {
                    Tensor s = state.get(e.getKey() + "." + slot);
                    assertNotNull(s, what + ": no state tensor " + e.getKey() + "." + slot + " in " + state.keySet());
                    Check.close(what + " state " + e.getKey() + "." + slot, refS.get(k).get(slot), s.toFloatArray(), ATOL, RTOL);
                }
                assertEquals(STEPS, opt.stepCount(e.getKey()));
                k++;
            }
            assertEquals(slots.length * params.size(), state.size(), what + ": unexpected state tensors " + state.keySet());
        } finally {
            for (Tensor p : params.values()) p.close();
        }
    }

    // ------------------------------------------------------------------ SGD

    static Ref sgdRef(double momentum, double dampening, boolean nesterov, double wd, double l1) {
        return (p, g, st, lr, t) -> {
            double[] b = st.get("momentum_buffer");
            for (int i = 0; i < p.length; i++) {
                double gi = g[i] + wd * p[i] + l1 * sign(p[i]);
                if (momentum != 0) {
                    b[i] = t == 1 ? gi : momentum * b[i] + (1 - dampening) * gi;
                    gi = nesterov ? gi + momentum * b[i] : b[i];
                }
                p[i] -= lr * gi;
            }
        };
    }

    @Test void sgdPlain() {
        run("sgd", ps -> new SGD(ps, 0.1), 1, sgdRef(0, 0, false, 0, 0));
    }

    @Test void sgdMomentumDampeningWeightDecayL1() {
        run("sgd momentum", ps -> new SGD(ps, 0.1).momentum(0.9).dampening(0.1).weightDecay(0.05).l1(0.01), 1,
                sgdRef(0.9, 0.1, false, 0.05, 0.01), "momentum_buffer");
    }

    @Test void sgdNesterov() {
        run("sgd nesterov", ps -> new SGD(ps).momentum(0.8).nesterov(true).weightDecay(1e-3), 1,
                sgdRef(0.8, 0, true, 1e-3, 0), "momentum_buffer");
    }

    @Test void sgdNesterovNeedsMomentum() {
        try (Tensor p = be.zeros(Shape.of(2)).requiresGrad(true)) {
            p.setGrad(be.zeros(Shape.of(2)));
            SGD opt = new SGD(Map.of("p", p), 0.1).nesterov(true);
            var e = assertThrows(IllegalArgumentException.class, opt::step);
            assertTrue(e.getMessage().contains("momentum"), e.getMessage());
        }
    }

    // ------------------------------------------------------------------ Adagrad

    static Ref adagradRef(double lrDecay, double eps, double init, double wd, double l1) {
        return (p, g, st, lr, t) -> {
            double[] sum = st.get("sum");
            double clr = lr / (1 + (t - 1) * lrDecay);
            for (int i = 0; i < p.length; i++) {
                double gi = g[i] + wd * p[i] + l1 * sign(p[i]);
                if (t == 1) sum[i] = init;
                sum[i] += gi * gi;
                p[i] -= clr * gi / (Math.sqrt(sum[i]) + eps);
            }
        };
    }

    @Test void adagradDefaults() {
        run("adagrad", Adagrad::new, 1, adagradRef(0, 1e-10, 0, 0, 0), "sum");
    }

    @Test void adagradDecayInitialValueWeightDecayL1() {
        run("adagrad options", ps -> new Adagrad(ps).lrDecay(0.05).initialAccumulatorValue(0.1).eps(1e-6).weightDecay(0.02).l1(0.01), 1,
                adagradRef(0.05, 1e-6, 0.1, 0.02, 0.01), "sum");
    }

    // ------------------------------------------------------------------ Adadelta

    static Ref adadeltaRef(double rho, double eps, double wd, double l1) {
        return (p, g, st, lr, t) -> {
            double[] v = st.get("square_avg"), u = st.get("acc_delta");
            for (int i = 0; i < p.length; i++) {
                double gi = g[i] + wd * p[i] + l1 * sign(p[i]);
                v[i] = rho * v[i] + (1 - rho) * gi * gi;
                double delta = Math.sqrt(u[i] + eps) / Math.sqrt(v[i] + eps) * gi;
                u[i] = rho * u[i] + (1 - rho) * delta * delta;
                p[i] -= lr * delta;
            }
        };
    }

    @Test void adadeltaDefaults() {
        // lrScale 20 puts lr near Adadelta's default of 1.0
        run("adadelta", Adadelta::new, 20, adadeltaRef(0.9, 1e-6, 0, 0), "square_avg", "acc_delta");
    }

    @Test void adadeltaOptions() {
        run("adadelta options", ps -> new Adadelta(ps).rho(0.95).eps(1e-4).weightDecay(0.1).l1(0.01), 20,
                adadeltaRef(0.95, 1e-4, 0.1, 0.01), "square_avg", "acc_delta");
    }

    // ------------------------------------------------------------------ RMSprop

    static Ref rmspropRef(double alpha, double eps, double momentum, boolean centered, double wd, double l1) {
        return (p, g, st, lr, t) -> {
            double[] v = st.get("square_avg"), b = st.get("momentum_buffer"), ga = st.get("grad_avg");
            for (int i = 0; i < p.length; i++) {
                double gi = g[i] + wd * p[i] + l1 * sign(p[i]);
                v[i] = alpha * v[i] + (1 - alpha) * gi * gi;
                double avg;
                if (centered) {
                    ga[i] = alpha * ga[i] + (1 - alpha) * gi;
                    avg = Math.sqrt(v[i] - ga[i] * ga[i]) + eps;
                } else avg = Math.sqrt(v[i]) + eps;
                if (momentum > 0) {
                    b[i] = momentum * b[i] + gi / avg;
                    p[i] -= lr * b[i];
                } else p[i] -= lr * gi / avg;
            }
        };
    }

    @Test void rmspropDefaults() {
        run("rmsprop", RMSprop::new, 0.1, rmspropRef(0.99, 1e-8, 0, false, 0, 0), "square_avg");
    }

    @Test void rmspropCenteredMomentumWeightDecayL1() {
        run("rmsprop centered", ps -> new RMSprop(ps).alpha(0.9).momentum(0.5).centered(true).weightDecay(0.01).l1(0.02), 0.1,
                rmspropRef(0.9, 1e-8, 0.5, true, 0.01, 0.02), "square_avg", "momentum_buffer", "grad_avg");
    }

    @Test void rmspropCenteredNoMomentum() {
        run("rmsprop centered only", ps -> new RMSprop(ps).centered(true).eps(1e-3), 0.1,
                rmspropRef(0.99, 1e-3, 0, true, 0, 0), "square_avg", "grad_avg");
    }

    // ------------------------------------------------------------------ Adam / AdamW

    static Ref adamRef(double b1, double b2, double eps, boolean decoupled, double wd, double l1) {
        return (p, g, st, lr, t) -> {
            double[] m = st.get("exp_avg"), v = st.get("exp_avg_sq");
            for (int i = 0; i < p.length; i++) {
                double gi = g[i] + l1 * sign(p[i]);
                if (decoupled) p[i] *= 1 - lr * wd;
                else gi += wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double mHat = m[i] / (1 - Math.pow(b1, t)), vHat = v[i] / (1 - Math.pow(b2, t));
                p[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
            }
        };
    }

    @Test void adamDefaults() {
        run("adam", Adam::new, 0.1, adamRef(0.9, 0.999, 1e-8, false, 0, 0), "exp_avg", "exp_avg_sq");
    }

    @Test void adamBetasWeightDecayL1() {
        run("adam options", ps -> new Adam(ps).betas(0.8, 0.99).eps(1e-6).weightDecay(0.1).l1(0.01), 0.1,
                adamRef(0.8, 0.99, 1e-6, false, 0.1, 0.01), "exp_avg", "exp_avg_sq");
    }

    @Test void adamwDefaultDecay() {
        run("adamw", AdamW::new, 1, adamRef(0.9, 0.999, 1e-8, true, 0.01, 0), "exp_avg", "exp_avg_sq");
    }

    @Test void adamwStrongDecayL1() {
        run("adamw options", ps -> new AdamW(ps).weightDecay(0.5).l1(0.01).betas(0.85, 0.995), 1,
                adamRef(0.85, 0.995, 1e-8, true, 0.5, 0.01), "exp_avg", "exp_avg_sq");
    }

    /**
     * With zero gradients AdamW only decays: p * (1 - lr wd)^k. Adam's coupled decay instead feeds g = wd p through
     * the adaptive step, which normalises it to about lr * sign(p) per step (p changes by under 2% here, so the
     * normalised step stays within a few percent of lr).
     */
    @Test void adamwDecayIsDecoupled() {
        float[] init = {2.5f, -3f, 4f};
        double lr = 0.01, wd = 0.2;
        int k = 5;
        try (Tensor a = be.fromHost(init, Shape.of(3)).requiresGrad(true); Tensor b = be.fromHost(init, Shape.of(3)).requiresGrad(true)) {
            a.setGrad(be.zeros(Shape.of(3)));
            b.setGrad(be.zeros(Shape.of(3)));
            try (AdamW w = new AdamW(Map.of("a", a), lr).weightDecay(wd); Adam c = new Adam(Map.of("b", b), lr).weightDecay(wd)) {
                for (int i = 0; i < k; i++) { w.step(); c.step(); }
            }
            double[] wantW = new double[3], wantMove = new double[3];
            float[] gotC = b.toFloatArray(), gotMove = new float[3];
            for (int i = 0; i < 3; i++) {
                wantW[i] = init[i] * Math.pow(1 - lr * wd, k);
                wantMove[i] = -k * lr * Math.signum(init[i]);
                gotMove[i] = gotC[i] - init[i];
            }
            Check.close("AdamW with zero gradients", wantW, a.toFloatArray(), 1e-6, 1e-5);
            // 5% of the 0.05 movement; AdamW's decay would move these by 0.025-0.04 instead
            Check.close("Adam (coupled decay) movement with zero gradients", wantMove, gotMove, 0, 0.05);
        }
    }

    // ------------------------------------------------------------------ the Optimizer base class

    @Test void skipsParametersWithoutGradientAndNamesState() {
        try (Tensor p = be.fromHost(new float[] {1, 2}, Shape.of(2)).requiresGrad(true);
             Tensor q = be.fromHost(new float[] {3, 4}, Shape.of(2)).requiresGrad(true)) {
            p.setGrad(be.fromHost(new float[] {1, -1}, Shape.of(2)));
            Map<String, Tensor> ps = new LinkedHashMap<>();
            ps.put("p", p);
            ps.put("q", q);
            Adam opt = new Adam(ps, 0.1);
            opt.step();
            opt.step();
            assertArrayEquals(new float[] {3, 4}, q.toFloatArray(), "a parameter without grad must not move");
            assertEquals(2, opt.stepCount("p"));
            assertEquals(0, opt.stepCount("q"));
            assertEquals(2, opt.stepCount());
            Map<String, Tensor> st = opt.state();
            assertEquals(List.of("p.exp_avg", "p.exp_avg_sq", "q.exp_avg", "q.exp_avg_sq"), new ArrayList<>(st.keySet()));
            assertArrayEquals(new float[] {0, 0}, st.get("q.exp_avg").toFloatArray(), "state for an unstepped parameter starts at zero");
            assertThrows(IllegalStateException.class, () -> opt.betas(0.5, 0.5), "settings are fixed once state exists");
            opt.setLr(0.5);
            assertEquals(0.5, opt.lr());
            assertThrows(IllegalArgumentException.class, () -> opt.setLr(-1));
            opt.zeroGrad();
            assertArrayEquals(new float[] {0, 0}, p.grad().toFloatArray());
            opt.zeroGrad(true);
            assertNull(p.grad());
            opt.close();
            assertTrue(st.values().stream().allMatch(Tensor::isClosed), "close() frees the state");
            assertFalse(p.isClosed(), "close() leaves the parameters to their module");
        }
    }

    /**
     * An optimiser of {@code kind} ("adam": Adam; else SGD with momentum), weight decay 0.01, over {@code body} and
     * {@code head}, which has stepped both once with gradient (1, -1): momentum, moments and decay that a frozen body
     * would move by if stepped again.
     */
    private static Optimizer steppedOnceOver(String kind, Tensor body, Tensor head) {
        Map<String, Tensor> ps = new LinkedHashMap<>();
        ps.put("body", body);
        ps.put("head", head);
        Optimizer opt = kind.equals("adam") ? new Adam(ps, 0.1).weightDecay(0.01) : new SGD(ps, 0.1).momentum(0.9).weightDecay(0.01);
        body.setGrad(be.fromHost(new float[] {1, -1}, Shape.of(2)));
        head.setGrad(be.fromHost(new float[] {1, -1}, Shape.of(2)));
        opt.step();
        return opt;
    }

    /**
     * Freezing part of a model during training (requiresGrad(false) on the body, then fine-tuning the head with the same
     * optimiser, as a Learner's second fit does): zeroGrad() keeps each gradient as a zeroed tensor, so step() found the
     * frozen parameters' (zero) gradients and moved them all the same, by their momentum or Adam moments and by weight
     * decay. PyTorch's zero_grad() sets them to None, and its step skips them. A parameter that does not require grad is
     * now not stepped, whatever its grad holds.
     */
    @Test void aFrozenParameterIsNotSteppedThroughItsZeroedGradient() {
        for (String kind : List.of("adam", "sgd")) {
            try (Tensor p = be.fromHost(new float[] {1, 2}, Shape.of(2)).requiresGrad(true);
                 Tensor q = be.fromHost(new float[] {3, 4}, Shape.of(2)).requiresGrad(true)) {
                try (Optimizer opt = steppedOnceOver(kind, p, q)) {
                    float[] frozen = p.toFloatArray(), head = q.toFloatArray();
                    p.requiresGrad(false);
                    opt.zeroGrad();
                    q.grad().close();
                    q.setGrad(be.fromHost(new float[] {0.5f, 0.5f}, Shape.of(2)));
                    opt.step();
                    assertArrayEquals(frozen, p.toFloatArray(), kind + ": a frozen parameter moved");
                    assertEquals(1, opt.stepCount("body"), kind);
                    assertEquals(2, opt.stepCount("head"), kind);
                    assertFalse(java.util.Arrays.equals(head, q.toFloatArray()), kind + ": the head did not move");
                }
            }
        }
    }

    /**
     * A parameter frozen mid-run kept its gradient, zeroed by each zeroGrad() but allocated, so fine-tuning a head with the
     * same optimiser (a Learner's second fit) held a body-sized gradient and, with clipNorm, filled, summed and scaled
     * every frozen gradient each step (model.parameters() is clipped): a frozen 4 x 2048^2 body under a Linear(2048, 10)
     * head, batch 16, took 42-49 ms a step on 2 CPU cores, 21-38 without those gradients. zeroGrad(), the optimiser's and
     * the model's, now drops (closes) the gradient
     * of a parameter that does not require grad, as PyTorch's zero_grad() sets it to None; clipping then passes it by.
     */
    @Test void zeroGradReleasesAFrozenParametersGradientSoClippingPassesItBy() {
        try (io.dltrain.runtime.nn.Linear body = io.dltrain.runtime.tensor.Scope.outside(() -> new io.dltrain.runtime.nn.Linear(
                     new io.dltrain.runtime.nn.Context(be, 1), 3, 2));
             Tensor q = be.fromHost(new float[] {3, 4}, Shape.of(2)).requiresGrad(true)) {
            Map<String, Tensor> ps = new LinkedHashMap<>(body.namedParameters());
            ps.put("head", q);
            Tensor w = body.namedParameters().get("weight"), b = body.namedParameters().get("bias");
            try (Optimizer opt = new SGD(ps, 0.1).momentum(0.9)) {
                for (Tensor p : ps.values()) p.setGrad(be.fromHost(new float[(int) p.numel()], p.shape()));
                opt.step();
                w.requiresGrad(false);
                b.requiresGrad(false);
                Tensor old = w.grad();
                opt.zeroGrad();
                assertNull(w.grad(), "a frozen parameter's gradient is dropped by the optimiser's zeroGrad()");
                assertTrue(old.isClosed(), "and its memory returned");
                assertNotNull(q.grad(), "a trainable parameter's gradient is kept (zeroed)");
                q.grad().close();
                q.setGrad(be.fromHost(new float[] {3, 4}, Shape.of(2)));
                Tensor norm = GradClip.clipByGlobalNorm(List.of(w, b, q), 1f);
                assertEquals(5f, norm.item(), 1e-6f, "the norm is the head's");
                norm.close();
                assertNull(w.grad(), "clipping does not make or fill a frozen parameter's gradient");
                assertNull(b.grad());
                assertArrayEquals(new float[] {0.6f, 0.8f}, q.grad().toFloatArray(), 1e-6f);
                // the model's zeroGrad() likewise, for a hand-written loop that zeroes through the model
                b.requiresGrad(true);
                b.setGrad(be.fromHost(new float[] {1, 1}, Shape.of(2)));
                w.setGrad(be.fromHost(new float[6], w.shape()));
                body.zeroGrad();
                assertNull(w.grad(), "a frozen parameter's gradient is dropped by the model's zeroGrad()");
                assertArrayEquals(new float[] {0, 0}, b.grad().toFloatArray(), "a trainable one reads zeros, as before");
            }
        }
    }

    @Test void sgdWithoutMomentumHasNoState() {
        try (Tensor p = be.zeros(Shape.of(3)).requiresGrad(true); SGD opt = new SGD(Map.of("w", p), 0.1)) {
            assertTrue(opt.state().isEmpty());
        }
    }

    @Test void invalidHyperParametersAreRejected() {
        try (Tensor p = be.zeros(Shape.of(3)).requiresGrad(true)) {
            Map<String, Tensor> ps = Map.of("w", p);
            assertThrows(IllegalArgumentException.class, () -> new Adam(ps).betas(1.0, 0.9));
            assertThrows(IllegalArgumentException.class, () -> new RMSprop(ps).alpha(1.5));
            assertThrows(IllegalArgumentException.class, () -> new SGD(ps, -0.1));
            assertThrows(IllegalArgumentException.class, () -> new Adagrad(ps).weightDecay(-1));
            assertThrows(IllegalArgumentException.class, () -> new SGD(Map.of(), 0.1));
        }
    }

    /**
     * A hand-written loop that zeroes after its step (step; zeroGrad; then freezes the body and trains on) leaves the
     * body's gradient set, zeroed lazily while it still required grad. step() must not move the frozen body by its
     * momentum, Adam moments or weight decay, also when the loop clips every parameter first; nor applies a gradient set
     * by hand on the frozen body (PyTorch would step that one: dl-train's rule is that a frozen parameter is never
     * stepped, Optimizer.step's javadoc), and clipping leaves that gradient out of the norm, since it is not applied.
     */
    @Test void aFrozenParameterIsNotSteppedWhenZeroGradCameBeforeTheFreezeNorClippedWith() {
        for (String kind : List.of("adam", "sgd")) {
            try (Tensor p = be.fromHost(new float[] {1, 2}, Shape.of(2)).requiresGrad(true);
                 Tensor q = be.fromHost(new float[] {3, 4}, Shape.of(2)).requiresGrad(true)) {
                try (Optimizer opt = steppedOnceOver(kind, p, q)) {
                    opt.zeroGrad();          // the loop zeroes after its step
                    float[] frozen = p.toFloatArray();
                    p.requiresGrad(false);   // then freezes the body
                    q.accumulateGrad(be.fromHost(new float[] {0.5f, 0.5f}, Shape.of(2))); // the next backward reaches the head only
                    try (Scope sc = Scope.open()) {  // clipping over every parameter, as a loop clips model.parameters()
                        assertEquals(Math.sqrt(0.5), GradClip.clipByGlobalNorm(List.of(p, q), 10f).item(), 1e-6, kind);
                    }
                    opt.step();
                    assertArrayEquals(frozen, p.toFloatArray(), kind + ": a frozen parameter moved");
                    assertEquals(1, opt.stepCount("body"), kind);
                    assertEquals(2, opt.stepCount("head"), kind);
                    p.setGrad(be.fromHost(new float[] {30, 40}, Shape.of(2)));  // a gradient set by hand on the frozen body
                    try (Scope sc = Scope.open()) {  // is not in the norm: the head's alone
                        assertEquals(Math.sqrt(0.5), GradClip.clipByGlobalNorm(List.of(p, q), 10f).item(), 1e-6, kind);
                    }
                    opt.step();
                    assertArrayEquals(frozen, p.toFloatArray(), kind + ": a frozen parameter moved by a gradient set by hand");
                    assertEquals(1, opt.stepCount("body"), kind);
                }
            }
        }
    }
}
