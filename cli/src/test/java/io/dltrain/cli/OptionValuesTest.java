package io.dltrain.cli;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The values users get wrong, option by option, given on the command line or in a --config file: each is one line
 * "dl-train: error: ..." that names the option and the value (and, for a file's value, the file and the key, as a file
 * whose value has the wrong type does), exit code 2, and no run directory. (A sweep over every option of every
 * subcommand found these; the cases here are the ones whose message did not name the option or the file.) Each case
 * stops before any data is loaded or anything trained, on an 8x8 synthetic dataset: the whole class takes about a second.
 */
class OptionValuesTest {
    static final String DATA = "synthetic:1x8x8,classes=3,train=32,test=8";

    /** A flag (option and value) on the command line, and the error it gives. */
    static Stream<Arguments> flags() {
        return Stream.of(
                Arguments.of("--epochs", "0", "--epochs must be >= 1, got 0"),
                Arguments.of("--batch-size", "-1", "--batch-size must be >= 1, got -1"),
                Arguments.of("--label-smoothing", "1e400", "--label-smoothing must be in [0, 1), got 1e400"),
                Arguments.of("--val-fraction", "1", "--val-fraction must be in [0, 1)"),
                Arguments.of("--patience", "-1", "--patience must be >= 0 (0 is off), got -1"),
                Arguments.of("--clip-norm", "Infinity", "--clip-norm must be a finite number >= 0 (0 is off), got Infinity"),
                Arguments.of("--min-delta", "NaN", "--min-delta must be a finite number >= 0"),
                Arguments.of("--schedule", "cosine:", "--schedule: invalid learning-rate schedule 'cosine:'"),
                // a comma list with an empty item ("$A,$B" with a variable unset): "," froze nothing, and "1.weight," dropped
                // the empty item, where --freeze "" is refused
                Arguments.of("--freeze", ",", "--freeze ',' has an empty prefix"),
                Arguments.of("--freeze", "1.weight,", "--freeze '1.weight,' has an empty prefix"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("flags")
    void aBadFlagIsOneLineNamingTheOption(String option, String value, String message, @TempDir Path tmp) {
        Path out = tmp.resolve("run");
        CliTest.Result r = CliTest.run("--model", "mlp", "--data", DATA, "--device", "cpu", "--progress", "none", "--out", out.toString(),
                option, value);
        assertUsageError(r, "dl-train: error: " + message, out);
    }

    /** A key and value in a YAML --config file (with model, data and device there too, unless the key is one of them), and the error. */
    static Stream<Arguments> configured() {
        return Stream.of(
                Arguments.of("epochs", "0", "--epochs must be >= 1, got 0"),
                Arguments.of("batch-size", "0", "--batch-size must be >= 1, got 0"),
                Arguments.of("label-smoothing", "1.5", "--label-smoothing must be in [0, 1), got 1.5"),
                Arguments.of("val-fraction", "1", "--val-fraction must be in [0, 1)"),
                Arguments.of("patience", "-1", "--patience must be >= 0"),
                Arguments.of("clip-norm", "-1", "--clip-norm must be a finite number >= 0"),
                Arguments.of("min-delta", "-1", "--min-delta must be a finite number >= 0"),
                Arguments.of("keep", "0", "--keep must be >= 1, got 0"),
                Arguments.of("max-steps", "0", "--max-steps must be >= 1, got 0"),
                Arguments.of("threads", "-1", "--threads must be >= 0"),
                Arguments.of("workers", "0", "--workers must be a whole number >= 1 or auto, got '0'"),
                Arguments.of("checkpoint-every", "0e", "--checkpoint-every '0e'"),
                Arguments.of("schedule", "bogus", "--schedule: invalid learning-rate schedule 'bogus'"),
                Arguments.of("optimizer", "lbfgs", "unknown optimizer 'lbfgs'"),
                Arguments.of("progress", "loud", "--progress must be auto, bar, plain or none, not 'loud'"),
                Arguments.of("model", "nope", "unknown model 'nope'"),
                Arguments.of("data", "nope", "unknown dataset 'nope'"),
                Arguments.of("device", "gpu", "unknown device 'gpu'"),
                Arguments.of("data-dir", "/tmp", "--data-dir /tmp: synthetic is generated in memory"),
                Arguments.of("freeze", "nope", "--freeze nope matches no parameter of mlp"),
                Arguments.of("freeze", ",", "--freeze ',' has an empty prefix"),
                Arguments.of("resume", "/nonexistent-run", "--resume /nonexistent-run does not exist"),
                Arguments.of("init-from", "/nonexistent-model", "--init-from /nonexistent-model: no such file or directory"));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("configured")
    void aBadValueInAConfigFileNamesTheFileAndTheKey(String key, String value, String message, @TempDir Path tmp) throws IOException {
        Map<String, String> yaml = new LinkedHashMap<>(Map.of("model", "mlp", "data", DATA, "device", "cpu", "progress", "none"));
        yaml.put(key, value);
        List<String> lines = new ArrayList<>();
        yaml.forEach((k, v) -> lines.add(k + ": '" + v + "'"));
        Path file = Files.write(tmp.resolve("run.yaml"), lines), out = tmp.resolve("run");
        CliTest.Result r = CliTest.run("--config", file.toString(), "--out", out.toString());
        assertUsageError(r, "dl-train: error: " + file + ": key '" + key + "': " + message, out);
    }

    /** The help states the ranges the checks above enforce (it gave no range for --val-fraction, --min-delta, --epochs, --batch-size or --keep). */
    @org.junit.jupiter.api.Test
    void theHelpStatesTheRanges() {
        CliTest.Result r = CliTest.run("--help");
        assertEquals(0, r.code(), r.err());
        String help = r.out().replaceAll("\\s+", " ");
        for (String range : List.of("Passes over the training set, >= 1", "Samples per step, >= 1", "Checkpoints to keep besides the best one, >= 1",
                "held out for validation, in [0, 1); 0 holds out none", "the smallest improvement that counts, >= 0",
                "label smoothing in [0, 1)", "CPU compute threads; 0 uses every core", "global norm; 0 is off"))
            assertTrue(help.contains(range), "the help should say '" + range + "':\n" + r.out());
    }

    /** Exit code 2; the error's first line starts with {@code start}; then only the "Try ... --help" line; no run directory. */
    static void assertUsageError(CliTest.Result r, String start, Path out) {
        assertEquals(2, r.code(), r.out() + r.err());
        List<String> lines = r.err().lines().toList();
        assertTrue(lines.getFirst().startsWith(start), "expected the error to start with\n  " + start + "\nbut it was\n  " + lines.getFirst());
        assertEquals(List.of("Try 'dl-train --help' for more information."), lines.subList(1, lines.size()), r.err());
        assertFalse(Files.exists(out), "a usage error leaves no run directory: " + out);
    }
}
