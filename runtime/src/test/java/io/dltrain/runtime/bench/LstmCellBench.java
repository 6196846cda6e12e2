package io.dltrain.runtime.bench;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Hand-run micro-benchmark (not a unit test): the LSTM cell's element-wise step on the CPU (lstmCellForward, and
 * lstmCellBackwardC + lstmCellBackwardH together) at the registry lstm's shape, gates [N, 4H] = [128, 512], with the
 * gates uniform in [-4, 4]: the calling thread's CPU time per element of [N, H] (one backend thread, so it is all on
 * the calling thread and survives a loaded machine), per round of reps calls, with the load average.
 *
 * <p>Run from the repository root after {@code mvn -q -pl runtime test-compile}:
 * <pre>
 * java --enable-native-access=ALL-UNNAMED \
 *   -cp runtime/target/classes:runtime/target/test-classes:$(find ~/.m2/repository/org/bytedeco -name '*.jar' | tr '\n' ':') \
 *   io.dltrain.runtime.bench.LstmCellBench [reps=300] [rounds=6]
 * </pre>
 */
public final class LstmCellBench {
    private static final ThreadMXBean TM = ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 300, rounds = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        int n = 128, h = 128;
        SplittableRandom rng = new SplittableRandom(1);
        float[] g = new float[n * 4 * h], cp = new float[n * h], d = new float[n * h];
        for (int i = 0; i < g.length; i++) g[i] = (float) rng.nextDouble(-4, 4);
        for (int i = 0; i < cp.length; i++) { cp[i] = (float) rng.nextDouble(-2, 2); d[i] = (float) rng.nextDouble(-1, 1); }
        try (CpuBackend be = new CpuBackend(1); Scope sc = Scope.open()) {
            Shape gs = Shape.of(n, 4 * h), hs = Shape.of(n, h);
            Tensor tg = be.fromHost(g, gs), tcp = be.fromHost(cp, hs), td = be.fromHost(d, hs);
            Tensor c = be.zeros(hs), hh = be.zeros(hs), dg = be.zeros(gs), dc = be.zeros(hs), dg2 = be.zeros(gs), dc2 = be.zeros(hs);
            double per = (double) reps * n * h;
            for (int round = 0; round < rounds; round++) {
                long t0 = TM.getCurrentThreadCpuTime();
                for (int i = 0; i < reps; i++) be.lstmCellForward(tg, tcp, c, hh);
                long t1 = TM.getCurrentThreadCpuTime();
                for (int i = 0; i < reps; i++) { be.lstmCellBackwardC(tg, tcp, td, dg, dc); be.lstmCellBackwardH(tg, c, td, dg2, dc2); }
                long t2 = TM.getCurrentThreadCpuTime();
                System.out.printf("round %d: forward %.2f ns, backward C+H %.2f ns per element of [%d, %d] (calling thread's CPU time; load %s)%n",
                        round + 1, (t1 - t0) / per, (t2 - t1) / per, n, h, Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
            }
        }
    }
}
