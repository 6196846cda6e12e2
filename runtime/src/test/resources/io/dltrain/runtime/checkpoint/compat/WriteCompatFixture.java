// Writes the checkpoint fixture of CompatibilityTest with the dl-train it is compiled against (run with that
// commit's jar on the class path; see CompatibilityTest's javadoc):
//   java -cp cli/target/dl-train.jar WriteCompatFixture.java OUT_DIR
// CheckpointTest's model (Conv2d, BatchNorm2d, ReLU, Flatten, Linear) and batches, 2 Adam steps, Checkpoint.save,
// then, in the same process, what the test compares: eval-mode logits, and the third step's loss and logits.
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Flatten;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.Adam;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

public class WriteCompatFixture {
    static final int N = 4, CLASSES = 3;
    static CpuBackend be;

    static float[] uniform(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (-1 + 2 * rng.nextDouble());
        return v;
    }

    /** One training step on CheckpointTest.train's batch of this index; its loss. */
    static float step(Module m, Adam opt, int step) {
        SplittableRandom rng = new SplittableRandom(1000 + step);
        int[] labels = new int[N];
        for (int i = 0; i < N; i++) labels[i] = rng.nextInt(CLASSES);
        opt.zeroGrad();
        float loss;
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(uniform(rng, N * 3 * 5 * 5), Shape.of(N, 3, 5, 5));
            Tensor y = be.fromHost(labels, Shape.of(N));
            Tensor l = Losses.crossEntropy(m.forward(x), y, 0f);
            loss = l.item();
            l.backward();
        }
        opt.step();
        return loss;
    }

    /** Eval-mode logits of a fixed batch (seed 7). */
    static float[] logits(Module m) {
        m.eval();
        try (Scope s = Scope.open()) {
            return m.forward(be.fromHost(uniform(new SplittableRandom(7), N * 3 * 5 * 5), Shape.of(N, 3, 5, 5))).toFloatArray();
        } finally {
            m.train(true);
        }
    }

    static String json(float[] v) {
        StringJoiner j = new StringJoiner(", ", "[", "]");
        for (float f : v) j.add(Float.toString(f));
        return j.toString();
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        be = new CpuBackend(2);
        Context ctx = new Context(be, 1);
        Sequential m = new Sequential(new Conv2d(ctx, 3, 4, 3, 1, 1), new BatchNorm2d(ctx, 4), new ReLU(), new Flatten(),
                new Linear(ctx, 4 * 5 * 5, CLASSES));
        Adam opt = new Adam(m.namedParameters(), 0.01);
        float[] losses = {step(m, opt, 0), step(m, opt, 1)};
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("batch_size", N);
        Map<String, Double> metrics = new LinkedHashMap<>();
        metrics.put("train_loss", (double) losses[1]);
        Path ckpt = Checkpoint.save(out, m, opt, new TrainingState(0, 2, "tiny-cnn", "random", Map.of("init", 1L, "data", 1000L),
                config, "adam", opt.lr(), metrics), 1);
        float[] at2 = logits(m);
        float loss3 = step(m, opt, 2);
        float[] after3 = logits(m);
        Files.writeString(out.resolve("expected.json"), "{\n"
                + "  \"checkpoint\": \"" + out.relativize(ckpt) + "\",\n"
                + "  \"eval_logits_at_step_2\": " + json(at2) + ",\n"
                + "  \"loss_of_step_3\": " + loss3 + ",\n"
                + "  \"eval_logits_after_step_3\": " + json(after3) + "\n}\n");
    }
}
