package io.dltrain.bench;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * FP32 SGEMM through the CPU backend (C = A B, n x n x n), the way Linear and convolution call it.
 * GFLOP/s = 2 n^3 / (seconds per op) / 1e9: with n = 1024, 2.147 GFLOP per op, so 10 ms/op is 214.7 GFLOP/s.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class SgemmBench {
    @Param({"1024"}) int n;
    @Param({"1", "2"}) int threads;

    CpuBackend be;
    Tensor a, b, c;

    @Setup(Level.Trial)
    public void setup() {
        be = new CpuBackend(threads);
        SplittableRandom r = new SplittableRandom(1);
        float[] v = new float[n * n];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextDouble(-1, 1);
        a = be.fromHost(v, Shape.of(n, n));
        b = be.fromHost(v, Shape.of(n, n));
        c = be.zeros(Shape.of(n, n));
    }

    @Benchmark
    public Tensor sgemm() {
        be.gemm(false, false, n, n, n, 1f, a, 0, n, b, 0, n, 0f, c, 0, n);
        return c;
    }

    @TearDown(Level.Trial)
    public void tearDown() { a.close(); b.close(); c.close(); be.close(); }
}
