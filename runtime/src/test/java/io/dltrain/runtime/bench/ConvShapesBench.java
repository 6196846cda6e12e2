package io.dltrain.runtime.bench;

import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Hand-run micro-benchmark (not a unit test): each distinct convolution shape of resnet18-cifar-narrow at batch 128,
 * convForward / convBackwardData / convBackwardFilter timed separately, with the load average: the median wall time and
 * the median CPU time of the calling thread per call, after 3 warm-up calls. With threads=1 everything runs on the
 * calling thread, so the CPU time is what survives a loaded machine. benchmarks/pytorch/conv_shapes_torch.py times the
 * same shapes in PyTorch with the same output format (results: benchmarks/results/cpu-conv-shapes-*.txt).
 *
 * <p>Run from the repository root after {@code mvn -q -pl runtime test-compile}:
 * <pre>
 * java --enable-native-access=ALL-UNNAMED \
 *   -cp runtime/target/classes:runtime/target/test-classes:$(find ~/.m2/repository/org/bytedeco -name '*.jar' | tr '\n' ':') \
 *   io.dltrain.runtime.bench.ConvShapesBench [threads=2] [reps=10] [batch=128] [shapes=cifar|resnet18]
 * </pre>
 */
public final class ConvShapesBench {
    /** C, H(=W), K, kernel, stride, pad: the narrow ResNet's convolutions (stem, layer1-4, 1x1 shortcuts). */
    static final int[][] SHAPES = {
            {3, 32, 16, 3, 1, 1}, {16, 32, 16, 3, 1, 1}, {16, 32, 32, 3, 2, 1}, {32, 16, 32, 3, 1, 1}, {16, 32, 32, 1, 2, 0},
            {32, 16, 64, 3, 2, 1}, {64, 8, 64, 3, 1, 1}, {32, 16, 64, 1, 2, 0}, {64, 8, 128, 3, 2, 1}, {128, 4, 128, 3, 1, 1},
            {64, 8, 128, 1, 2, 0}};

    /** The same for torchvision's resnet18 at 224 (run it at batch 16): the stem and the stride-2 convolutions of layer2-4. */
    static final int[][] RESNET18_STRIDE2 = {
            {3, 224, 64, 7, 2, 3}, {64, 56, 128, 3, 2, 1}, {64, 56, 128, 1, 2, 0}, {128, 28, 256, 3, 2, 1}, {128, 28, 256, 1, 2, 0},
            {256, 14, 512, 3, 2, 1}, {256, 14, 512, 1, 2, 0}};

    private static final java.lang.management.ThreadMXBean TM = java.lang.management.ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int N = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        String set = args.length > 3 ? args[3] : "cifar";
        if (!set.equals("cifar") && !set.equals("resnet18"))
            throw new IllegalArgumentException("shapes: '" + set + "' is neither cifar nor resnet18");
        int[][] shapes = set.equals("resnet18") ? RESNET18_STRIDE2 : SHAPES;
        try (CpuBackend be = new CpuBackend(threads)) {
            SplittableRandom rng = new SplittableRandom(1);
            System.out.println("# dl-train threads=" + be.threads() + " reps=" + reps + " " + be.describe().get("gemm"));
            for (int[] s : shapes) {
                int C = s[0], H = s[1], K = s[2], R = s[3], st = s[4], pad = s[5];
                int P = (H + 2 * pad - R) / st + 1;
                ConvParams p = ConvParams.of(st, pad);
                Tensor x = Scope.outside(() -> rand(be, rng, N, C, H, H));
                Tensor w = Scope.outside(() -> rand(be, rng, K, C, R, R));
                Tensor y = Scope.outside(() -> be.empty(Shape.of(N, K, P, P)));
                Tensor dy = Scope.outside(() -> rand(be, rng, N, K, P, P));
                Tensor dx = Scope.outside(() -> be.empty(Shape.of(N, C, H, H)));
                Tensor dw = Scope.outside(() -> be.empty(Shape.of(K, C, R, R)));
                double[] ms = new double[3], cpu = new double[3];
                for (int op = 0; op < 3; op++) {
                    final int o = op;
                    Runnable r = () -> {
                        if (o == 0) be.convForward(x, w, null, y, p);
                        else if (o == 1) be.convBackwardData(dy, w, dx, p);
                        else be.convBackwardFilter(x, dy, dw, p, false);
                    };
                    for (int i = 0; i < 3; i++) r.run();
                    double[] t = new double[reps], c = new double[reps];
                    for (int i = 0; i < reps; i++) {
                        long c0 = TM.getCurrentThreadCpuTime(), t0 = System.nanoTime();
                        r.run();
                        t[i] = (System.nanoTime() - t0) / 1e6;
                        c[i] = (TM.getCurrentThreadCpuTime() - c0) / 1e6;
                    }
                    java.util.Arrays.sort(t);
                    java.util.Arrays.sort(c);
                    ms[op] = t[reps / 2];
                    cpu[op] = c[reps / 2];
                }
                double gf = 2.0 * N * K * P * P * C * R * R / 1e9;
                System.out.printf("N%d C%d H%d K%d %dx%d s%d p%d GF %.3f | fwd %.2f ms (cpu %.2f) | bwdData %.2f ms (cpu %.2f) | bwdFilter %.2f ms (cpu %.2f) | load %s%n",
                        N, C, H, K, R, R, st, pad, gf, ms[0], cpu[0], ms[1], cpu[1], ms[2], cpu[2],
                        Files.readString(Path.of("/proc/loadavg")).substring(0, 14));
            }
        }
    }

    private static Tensor rand(CpuBackend be, SplittableRandom rng, int... dims) {
        float[] v = new float[Shape.of(dims).size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rng.nextDouble() * 2 - 1);
        return be.fromHost(v, Shape.of(dims));
    }
}
