package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Regression end to end: a CSV with a real-valued column, read with {@code csv:target=y}, makes {@code mlp} a
 * one-output regression model trained with the MSE loss; summary.json says task "regression", metric "mse" and a test
 * MSE far below the test targets' variance (the MSE of the best constant prediction, computed here from the file);
 * {@code eval} reports the same MSE; predict on the test CSV gives values whose MSE is that too; predict on an image,
 * autoencoders, --label-smoothing and a one-class classification CSV are usage errors.
 */
class RegressionTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int TRAIN = 600, TEST = 200;

    @TempDir static Path shared;
    static Path dir;
    /** The test targets' population variance: the MSE of predicting their mean, which any useful model must beat. */
    static double testVariance;

    /** y = 2 x1 - 3 x2 + 0.5 x3 + 10 + noise (std 0.1), features on different scales (standardised by the dataset). */
    @BeforeAll
    static void writeCsv() throws IOException {
        dir = Files.createDirectories(shared.resolve("csv"));
        SplittableRandom r = new SplittableRandom(21);
        for (String split : List.of("train", "test")) {
            int n = split.equals("train") ? TRAIN : TEST;
            StringBuilder sb = new StringBuilder("x1,x2,x3,y\n");
            double[] ys = new double[n];
            for (int i = 0; i < n; i++) {
                double x1 = r.nextGaussian(), x2 = 5 * r.nextGaussian() + 3, x3 = 0.2 * r.nextGaussian();
                double y = 2 * x1 - 3 * x2 + 0.5 * x3 + 10 + 0.1 * r.nextGaussian();
                ys[i] = y;
                sb.append(String.format(Locale.ROOT, "%.6f,%.6f,%.6f,%.6f%n", x1, x2, x3, y));
            }
            Files.writeString(dir.resolve(split + ".csv"), sb);
            if (split.equals("test")) {
                double mean = 0, var = 0;
                for (double y : ys) mean += y / n;
                for (double y : ys) var += (y - mean) * (y - mean) / n;
                testVariance = var;
            }
        }
    }

    static String[] train(Path out, String model, String data, Path dataDir, String... extra) {
        List<String> a = new ArrayList<>(List.of("--model", model, "--data", data, "--data-dir", dataDir.toString(),
                "--epochs", "12", "--threads", "2", "--progress", "plain", "--out", out.toString(), "--optimizer", "adam",
                "--lr", "0.003", "--weight-decay", "0", "--batch-size", "32", "--checkpoint-every", "off"));
        a.addAll(List.of(extra));
        return a.toArray(new String[0]);
    }

    @Test
    void mlpLearnsACsvTargetReportsMseAndEvalAgrees(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("reg run"); // a space: the eval command predict suggests must paste into a shell as one word
        CliTest.Result r = CliTest.run(train(out, "mlp", "csv:target=y", dir));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().contains("test: mse ") && !r.out().contains("top-1") && !r.out().contains("train_acc"), r.out());
        JsonNode s = JSON.readTree(out.resolve("summary.json").toFile());
        assertEquals("regression", s.get("task").asText());
        assertEquals("mse", s.get("metric").asText());
        assertTrue(s.get("test_acc").isNull(), "no accuracy for regression: " + s);
        assertEquals(TEST, s.get("test_samples").asInt());
        double mse = s.get("test_mse").asDouble();
        assertEquals(s.get("test_loss").asDouble(), mse, 0.0);
        assertTrue(testVariance > 100, "the generated targets vary: " + testVariance);
        assertTrue(mse > 0 && mse < 0.005 * testVariance, "test MSE " + mse + " should be far below the targets' variance " + testVariance);
        for (String row : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode m = JSON.readTree(row);
            assertTrue(m.get("train_acc").isNull() && m.get("val_acc").isNull() && m.get("val_loss").asDouble() > 0, row);
        }
        JsonNode meta = JSON.readTree(out.resolve("model/model.json").toFile());
        assertEquals("regression", meta.get("task").asText());
        assertEquals(1, meta.get("classes").asInt(), "one output: " + meta);
        assertEquals("y", meta.get("class_names").get(0).asText());

        // eval scores the saved model with the same MSE (batch sums in a different order: float rounding only)
        Path evalOut = tmp.resolve("eval");
        CliTest.Result e = CliTest.run("eval", "--checkpoint", out.toString(), "--data", "csv:target=y", "--data-dir", dir.toString(),
                "--threads", "2", "--out", evalOut.toString());
        assertEquals(0, e.code(), e.err() + e.out());
        assertTrue(e.out().contains("test: mse "), e.out());
        JsonNode ej = JSON.readTree(evalOut.resolve("eval.json").toFile());
        assertEquals("regression", ej.get("task").asText());
        assertEquals(TEST, ej.get("samples").asInt());
        assertEquals(mse, ej.get("mse").asDouble(), 1e-4 * mse);
        // eval on the same data read for classification (y as class labels) contradicts the model: a usage error
        Path labels = Files.createDirectories(tmp.resolve("as-labels"));
        Files.copy(dir.resolve("test.csv"), labels.resolve("train.csv"));
        Files.copy(dir.resolve("test.csv"), labels.resolve("test.csv"));
        CliTest.Result c = CliTest.run("eval", "--checkpoint", out.toString(), "--data", "csv:label=y", "--data-dir", labels.toString());
        assertEquals(2, c.code(), c.out() + c.err());
        assertTrue(c.err().contains("trained for regression") && c.err().contains("classification dataset"), c.err());
        // predict classifies images: refused, saying where the MSE is
        CliTest.Result p = CliTest.run("predict", "--checkpoint", out.toString(), tmp.resolve("any.png").toString());
        assertEquals(2, p.code(), p.out() + p.err());
        assertTrue(p.err().contains("regression") && p.err().contains("`dl-train eval --checkpoint '" + out + "' --data csv:target=COLUMN`"), p.err());
        // on CSV rows, predict gives the predicted target per row: their MSE against the file's y is the test MSE
        CliTest.Result v = CliTest.run("predict", "--checkpoint", out.toString(), "--json", "--threads", "2", dir.resolve("test.csv").toString());
        assertEquals(0, v.code(), v.err() + v.out());
        JsonNode vals = JSON.readTree(v.out());
        assertEquals(TEST, vals.size());
        List<String> rows = Files.readAllLines(dir.resolve("test.csv"));
        double se = 0;
        for (int i = 0; i < TEST; i++) {
            assertEquals("y", vals.get(i).get("target").asText());
            assertEquals(i + 2, vals.get(i).get("line").asInt());
            double d = vals.get(i).get("value").asDouble() - Double.parseDouble(rows.get(i + 1).split(",")[3]);
            se += d * d;
        }
        assertEquals(mse, se / TEST, 1e-4 * mse, "predict's values give the test MSE");
        // the text form: one line per row, "FILE[row] (line N):  y = VALUE", the value as --json gives it (6 digits)
        CliTest.Result text = CliTest.run("predict", "--checkpoint", out.toString(), "--threads", "2", dir.resolve("test.csv").toString());
        assertEquals(0, text.code(), text.err() + text.out());
        List<String> lines = text.out().lines().toList();
        assertEquals(TEST, lines.size(), text.out());
        for (int i : new int[] {0, TEST - 1})
            assertEquals(String.format("%s[%d] (line %d):  y = %.6g", dir.resolve("test.csv"), i, i + 2, vals.get(i).get("value").asDouble()),
                    lines.get(i));
    }

    @Test
    void contradictionsAreUsageErrors(@TempDir Path tmp) throws IOException {
        CliTest.Result a = CliTest.run(train(tmp.resolve("ae"), "autoencoder", "csv:target=y", dir));
        assertEquals(2, a.code(), a.out() + a.err());
        assertTrue(a.err().contains("reconstruction model") && a.err().contains("regression dataset"), a.err());
        CliTest.Result l = CliTest.run(train(tmp.resolve("ls"), "mlp", "csv:target=y", dir, "--label-smoothing", "0.1"));
        assertEquals(2, l.code(), l.out() + l.err());
        assertTrue(l.err().contains("--label-smoothing") && l.err().contains("regression"), l.err());
        // a classification CSV whose label column has one value: a classifier needs 2 classes
        Path one = Files.createDirectories(tmp.resolve("one-class"));
        Files.writeString(one.resolve("train.csv"), "a,label\n1,x\n2,x\n3,x\n");
        Files.writeString(one.resolve("test.csv"), "a,label\n1,x\n");
        CliTest.Result o = CliTest.run(train(tmp.resolve("one"), "mlp", "csv", one));
        assertEquals(2, o.code(), o.out() + o.err());
        assertTrue(o.err().contains("at least 2") && o.err().contains("target="), o.err());
        CliTest.Result b = CliTest.run("bench", "--model", "mlp", "--data", "csv:target=y", "--data-dir", dir.toString(), "--batch-size", "8");
        assertEquals(2, b.code(), b.out() + b.err());
        assertTrue(b.err().contains("regression dataset"), b.err());
        for (String run : List.of("ae", "ls", "one")) assertTrue(Files.notExists(tmp.resolve(run)), "nothing is created on a usage error: " + run);
    }
}
