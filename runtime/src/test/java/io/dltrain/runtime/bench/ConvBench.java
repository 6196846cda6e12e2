package io.dltrain.runtime.bench;

import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * Hand-run micro-benchmark (not a unit test): LeNet-5's convolution and pooling work for one Fashion-MNIST epoch,
 * 469 batches of 128 images [1, 28, 28]: conv 1->6 k5 p2, max pool 2, conv 6->16 k5, max pool 2, forward and
 * backward (the first conv needs no dx), timed per op, plus the two bias gradients (CpuElementwise.biasGrad, which
 * the conv2d op calls) on their own line. Activations and the FC layers are not included. Timings on a shared
 * machine are noisy: run several rounds and read the later ones (the first includes JIT warm-up).
 *
 * <p>Run from the repository root:
 * <pre>
 * mvn -q -B test-compile -pl runtime -am
 * java --enable-native-access=ALL-UNNAMED \
 *   -cp runtime/target/classes:runtime/target/test-classes:$(find ~/.m2/repository/org/bytedeco -name '*.jar' | tr '\n' ':') \
 *   io.dltrain.runtime.bench.ConvBench [threads=2] [batches=469] [rounds=3]
 * </pre>
 */
public final class ConvBench {
    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int batches = args.length > 1 ? Integer.parseInt(args[1]) : 469;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int N = 128;
        try (CpuBackend be = new CpuBackend(threads)) {
            SplittableRandom rng = new SplittableRandom(1);
            Tensor x = Scope.outside(() -> rand(be, rng, N, 1, 28, 28));
            Tensor w1 = Scope.outside(() -> rand(be, rng, 6, 1, 5, 5)), b1 = Scope.outside(() -> rand(be, rng, 6));
            Tensor w2 = Scope.outside(() -> rand(be, rng, 16, 6, 5, 5)), b2 = Scope.outside(() -> rand(be, rng, 16));
            Tensor dOut = Scope.outside(() -> rand(be, rng, N, 16, 5, 5));
            ConvParams c1 = ConvParams.of(1, 2), c2 = ConvParams.of(1, 0);
            PoolParams mp = PoolParams.max(2, 2, 0);
            System.out.println("threads=" + be.threads() + " batches=" + batches + " " + be.describe().get("gemm"));
            for (int round = 0; round < rounds; round++) {
                long[] t = new long[8];
                long start = System.nanoTime();
                for (int b = 0; b < batches; b++) {
                    try (Scope s = Scope.open()) {
                        long t0 = System.nanoTime();
                        Tensor y1 = be.empty(Shape.of(N, 6, 28, 28));
                        be.convForward(x, w1, b1, y1, c1);
                        long t1 = System.nanoTime();
                        Tensor p1 = be.empty(Shape.of(N, 6, 14, 14));
                        be.poolForward(y1, p1, mp);
                        long t2 = System.nanoTime();
                        Tensor y2 = be.empty(Shape.of(N, 16, 10, 10));
                        be.convForward(p1, w2, b2, y2, c2);
                        long t3 = System.nanoTime();
                        Tensor p2 = be.empty(Shape.of(N, 16, 5, 5));
                        be.poolForward(y2, p2, mp);
                        Tensor dy2 = be.empty(y2.shape());
                        be.poolBackward(y2, p2, dOut, dy2, mp);
                        long t4 = System.nanoTime();
                        Tensor dw2 = be.empty(w2.shape()), db2 = be.empty(b2.shape()), dp1 = be.empty(p1.shape());
                        be.convBackwardFilter(p1, dy2, dw2, c2, false);
                        long tb0 = System.nanoTime();
                        be.biasGrad(dy2, db2, false);
                        long t5 = System.nanoTime();
                        be.convBackwardData(dy2, w2, dp1, c2);
                        long t6 = System.nanoTime();
                        Tensor dy1 = be.empty(y1.shape());
                        be.poolBackward(y1, p1, dp1, dy1, mp);
                        long t7 = System.nanoTime();
                        Tensor dw1 = be.empty(w1.shape()), db1 = be.empty(b1.shape());
                        be.convBackwardFilter(x, dy1, dw1, c1, false);
                        long tb1 = System.nanoTime();
                        be.biasGrad(dy1, db1, false);
                        long t8 = System.nanoTime();
                        t[0] += t1 - t0; t[1] += (t2 - t1) + (t7 - t6); t[2] += t3 - t2; t[3] += t4 - t3;
                        t[4] += tb0 - t4; t[5] += t6 - t5; t[6] += tb1 - t7; t[7] += (t5 - tb0) + (t8 - tb1);
                    }
                }
                double total = (System.nanoTime() - start) / 1e9;
                System.out.printf("round %d: total %.3f s | conv1 fwd %.3f, pool1 fwd+bwd %.3f, conv2 fwd %.3f, pool2 fwd+bwd %.3f, "
                                + "conv2 dW %.3f, conv2 dX %.3f, conv1 dW %.3f | conv+pool %.3f | biasGrad (CpuElementwise) %.3f%n", round, total,
                        t[0] / 1e9, t[1] / 1e9, t[2] / 1e9, t[3] / 1e9, t[4] / 1e9, t[5] / 1e9, t[6] / 1e9,
                        (t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6]) / 1e9, t[7] / 1e9);
            }
        }
    }

    private static Tensor rand(CpuBackend be, SplittableRandom rng, int... dims) {
        float[] v = new float[Shape.of(dims).size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rng.nextDouble() * 2 - 1);
        return be.fromHost(v, Shape.of(dims));
    }
}
