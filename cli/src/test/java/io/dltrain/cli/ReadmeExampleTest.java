package io.dltrain.cli;

import io.dltrain.datasets.DatasetRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's library examples, taken from README.md as they are, compiled and run: they must learn. */
class ReadmeExampleTest {

    /** What an example printed. */
    record Output(String out, String err) {}

    /** The README's java block after {@code <!-- example:NAME -->}, compiled as CLASS.java and run with args; its stdout. */
    static String compileAndRun(Path tmp, String name, String cls, String... args) throws Exception {
        return compileAndRunCapturing(tmp, name, cls, args).out();
    }

    /** {@link #compileAndRun}, with what the example printed on stderr too. */
    static Output compileAndRunCapturing(Path tmp, String name, String cls, String... args) throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher m = Pattern.compile("<!-- example:" + name + " -->\\s*```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(), "README.md has no <!-- example:" + name + " --> java block");
        Path src = tmp.resolve(cls + ".java");
        Files.writeString(src, m.group(1));

        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diag = new ByteArrayOutputStream();
        int rc = javac.run(null, diag, diag, "-cp", cp, "-d", tmp.toString(), src.toString());
        assertEquals(0, rc, "the README example " + name + " does not compile:\n" + diag);

        PrintStream saved = System.out, savedErr = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream(), capturedErr = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {tmp.toUri().toURL()}, ReadmeExampleTest.class.getClassLoader())) {
            System.setOut(new PrintStream(captured, true));
            System.setErr(new PrintStream(capturedErr, true));
            Method main = loader.loadClass(cls).getMethod("main", String[].class);
            main.invoke(null, (Object) args);
        } finally {
            System.setOut(saved);
            System.setErr(savedErr);
        }
        return new Output(captured.toString(), capturedErr.toString());
    }

    /**
     * What the registry's Fashion-MNIST says when loaded from its default directory, as the examples load it: "" with the
     * full set installed, else that the bundled sample stands in, which the examples must print (they trained on the
     * sample without a word).
     */
    static String fashionNotice() { return DatasetRegistry.get("fashion-mnist").load(null).notice(); }

    static void assertNoticePrinted(String notice, Output run) {
        if (notice.isEmpty()) assertFalse(run.err().contains("bundled"), "the full set is installed, yet: " + run.err());
        else assertTrue(run.err().contains(notice), "the example did not print the splits' notice '" + notice + "'; its stderr:\n" + run.err());
    }

    @Test
    void readmeLibraryExampleCompilesRunsAndLearns(@TempDir Path tmp) throws Exception {
        Output run = compileAndRunCapturing(tmp, "library", "QuickStart");
        assertNoticePrinted(fashionNotice(), run);
        String out = run.out();
        Matcher acc = Pattern.compile("test accuracy (\\d+\\.\\d+)").matcher(out);
        assertTrue(acc.find(), "no accuracy line in: " + out);
        assertTrue(Double.parseDouble(acc.group(1)) > 0.80, "README example accuracy " + acc.group(1));
        assertTrue(out.contains("first test image: class "), out);
    }

    /** The hand-written loop: the loss falls, and with a Scope per step the memory in use is the same at every report. */
    @Test
    void readmeTrainingLoopExampleLearnsAndHoldsItsMemory(@TempDir Path tmp) throws Exception {
        Output run = compileAndRunCapturing(tmp, "loop", "TrainLoop");
        assertNoticePrinted(fashionNotice(), run);
        String out = run.out();
        Matcher line = Pattern.compile("step (\\d+) loss (\\d+\\.\\d+), memory in use ([\\d,]+) bytes").matcher(out);
        List<Double> losses = new ArrayList<>();
        List<String> inUse = new ArrayList<>();
        while (line.find()) {
            losses.add(Double.parseDouble(line.group(2)));
            inUse.add(line.group(3));
        }
        assertTrue(losses.size() >= 4, "expected a report every 100 steps:\n" + out);
        assertTrue(losses.getLast() < 0.7 * losses.getFirst(), "the loss did not fall:\n" + out);
        assertEquals(List.of(inUse.getFirst()), inUse.stream().distinct().toList(), "memory in use changed between steps:\n" + out);
    }

    /** Data of one's own: an in-memory regression Dataset trained with the Learner; it learns the linear price. */
    @Test
    void readmeOwnDatasetExampleLearns(@TempDir Path tmp) throws Exception {
        String out = compileAndRun(tmp, "owndata", "OwnData");
        Matcher mse = Pattern.compile("mean squared error (\\d+\\.\\d+)").matcher(out);
        assertTrue(mse.find(), "no error line in: " + out);
        assertTrue(Double.parseDouble(mse.group(1)) < 0.01, "the model has not learnt price = 2 x0 - x1 + 0.5 x2 + 1:\n" + out);
        Matcher house = Pattern.compile("house 0: predicted (-?\\d+\\.\\d+), price (-?\\d+\\.\\d+)").matcher(out);
        assertTrue(house.find(), out);
        assertEquals(Double.parseDouble(house.group(2)), Double.parseDouble(house.group(1)), 0.1, out);
    }

    /**
     * The save-and-load example: the weights saved by the first model, loaded into a second one of another seed, give
     * the same test loss and accuracy (the README said nothing of saving a model in code, nor how to use it in another program).
     */
    @Test
    void readmeSaveAndLoadExampleGivesTheSameModelBack(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("mlp.safetensors");
        String out = compileAndRun(tmp, "saveload", "SaveLoad", file.toString());
        Matcher trained = Pattern.compile("trained: test loss (\\d+\\.\\d+), accuracy (\\d\\.\\d+)").matcher(out);
        Matcher loaded = Pattern.compile("loaded: test loss (\\d+\\.\\d+), accuracy (\\d\\.\\d+)").matcher(out);
        assertTrue(trained.find() && loaded.find(), "no loss and accuracy lines in: " + out);
        assertTrue(Double.parseDouble(trained.group(2)) > 0.6, "the example did not learn (5 classes):\n" + out);
        assertEquals(trained.group(1) + " " + trained.group(2), loaded.group(1) + " " + loaded.group(2),
                "the loaded model is not the one saved:\n" + out);
        assertTrue(Files.size(file) > 4L * (768 * 64 + 64 * 5), "the file holds the weights: " + Files.size(file) + " bytes");
        assertTrue(out.contains("sample 0: probabilities ["), out);
    }

    /**
     * The op-and-loss example: its cross-entropy written from logSoftmax, mul, sum and scale equals the library's at every
     * report and falls, its hand-written swish backward passes the finite-difference check the README points to, and its
     * FocalLoss (Losses.oneHot on the labels as a tensor, as the Learner passes them) equals -mean (1 - p_t)^2 log p_t
     * computed directly in double.
     */
    @Test
    void readmeOwnOpAndLossExampleLearnsWithTheRightLossAndGradient(@TempDir Path tmp) throws Exception {
        String out = compileAndRun(tmp, "ownop", "OwnOpAndLoss");
        Matcher line = Pattern.compile("epoch (\\d+) loss (\\d+\\.\\d+), the library's cross-entropy (\\d+\\.\\d+), focal loss (\\d+\\.\\d+)").matcher(out);
        List<Double> losses = new ArrayList<>();
        while (line.find()) {
            assertEquals(Double.parseDouble(line.group(3)), Double.parseDouble(line.group(2)), 2e-6, "the loss written out is not cross-entropy:\n" + out);
            losses.add(Double.parseDouble(line.group(2)));
        }
        assertEquals(3, losses.size(), out);
        assertTrue(losses.getLast() < losses.getFirst() / 2, "the example did not learn: " + losses);
        try (URLClassLoader loader = new URLClassLoader(new URL[] {tmp.toUri().toURL()}, ReadmeExampleTest.class.getClassLoader());
             var cpu = new io.dltrain.runtime.backend.cpu.CpuBackend(1)) {
            Method swish = loader.loadClass("OwnOpAndLoss").getDeclaredMethod("swish", io.dltrain.runtime.tensor.Tensor.class);
            swish.setAccessible(true);
            try (var x = io.dltrain.runtime.testing.Check.param(cpu, new java.util.SplittableRandom(1), -3, 3, 4, 5)) {
                io.dltrain.runtime.testing.Check.gradients("swish", in -> {
                    try { return (io.dltrain.runtime.tensor.Tensor) swish.invoke(null, in.getFirst()); }
                    catch (ReflectiveOperationException e) { throw new AssertionError(e); }
                }, List.of(x), io.dltrain.runtime.testing.Check.EPS, io.dltrain.runtime.testing.Check.ATOL, io.dltrain.runtime.testing.Check.RTOL);
            }
            var focalClass = loader.loadClass("OwnOpAndLoss$FocalLoss").getDeclaredConstructor();
            focalClass.setAccessible(true);
            var focal = (io.dltrain.runtime.nn.loss.Loss) focalClass.newInstance();
            int n = 5, c = 3;
            float[] logits = {2f, -1f, 0.5f, 0f, 0f, 0f, -3f, 4f, 1f, 1.5f, 1.5f, -2f, 0.1f, -0.2f, 3f};
            int[] labels = {0, 2, 1, 1, 0};
            double want = 0;
            for (int r = 0; r < n; r++) {
                double sum = 0;
                for (int j = 0; j < c; j++) sum += Math.exp(logits[r * c + j]);
                double p = Math.exp(logits[r * c + labels[r]]) / sum;
                want -= (1 - p) * (1 - p) * Math.log(p) / n;
            }
            try (var scope = io.dltrain.runtime.tensor.Scope.open()) {
                double got = focal.compute(cpu.fromHost(logits, io.dltrain.runtime.tensor.Shape.of(n, c)),
                        cpu.fromHost(labels, io.dltrain.runtime.tensor.Shape.of(n))).item();
                assertEquals(want, got, 1e-6 * want, "the README's focal loss");
            }
        }
    }
}
