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
                Arguments.of("--freeze", "1.weight,", "--freeze '1.weight,' has an empty prefix"),
                // numbers as picocli reads whole numbers (--epochs ' 3' is not an int): no blanks around them ("$A $B"
                // misquoted), and not Java's type suffixes, which Double.parseDouble alone took
                Arguments.of("--lr", " 3", "Invalid value for option '--lr': ' 3' is not a double"),
                Arguments.of("--lr", "3d", "Invalid value for option '--lr': '3d' is not a double"),
                Arguments.of("--label-smoothing", "0.1 ", "Invalid value for option '--label-smoothing': '0.1 ' is not a float"),
                Arguments.of("--val-fraction", "0.2\t", "Invalid value for option '--val-fraction': '0.2\t' is not a double"),
                Arguments.of("--workers", " 2", "--workers must be a whole number >= 1 or auto, got ' 2'"),
                // the same rules for the numbers inside a value (a schedule's, a dataset option's), where Java's parsers
                // took '1e-5d' and ' 0.5' as they did for --lr; and a dataset option's boolean is true or false, as a
                // --config file's is (it took yes/no/on/off/1/0)
                Arguments.of("--schedule", "cosine:1e-5d", "--schedule: invalid learning-rate schedule 'cosine:1e-5d': the minimum learning rate '1e-5d' is not a number"),
                Arguments.of("--schedule", "step:10: 0.5", "--schedule: invalid learning-rate schedule 'step:10: 0.5': GAMMA ' 0.5' is not a number"));
    }

    /**
     * A --data value whose option is a number or a boolean written as Java or YAML 1.1 take them, and the error. (Blanks
     * around a dataset option's key and value are part of that syntax, "synthetic:1x8x8, noise = 0.5", and stay allowed.)
     */
    static Stream<Arguments> datasetOptions() {
        return Stream.of(
                Arguments.of("synthetic:1x8x8,noise=0.5f", "dataset 'synthetic:1x8x8,noise=0.5f': option 'noise' must be a finite number, got '0.5f'"),
                Arguments.of("synthetic:1x8x8,noise=1e-1d", "dataset 'synthetic:1x8x8,noise=1e-1d': option 'noise' must be a finite number, got '1e-1d'"),
                Arguments.of("csv:standardize=yes", "dataset 'csv:standardize=yes': option 'standardize' must be true or false, got 'yes'"),
                Arguments.of("csv:standardize=on", "dataset 'csv:standardize=on': option 'standardize' must be true or false, got 'on'"),
                Arguments.of("csv:standardize=1", "dataset 'csv:standardize=1': option 'standardize' must be true or false, got '1'"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("datasetOptions")
    void aDatasetOptionTakesNumbersAndBooleansAsTheFlagsDo(String data, String message, @TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("run"), dir = Files.createDirectories(tmp.resolve("csv"));
        for (String f : List.of("train.csv", "test.csv")) Files.writeString(dir.resolve(f), "x,label\n1,0\n2,1\n");
        List<String> args = new ArrayList<>(List.of("--model", "mlp", "--data", data, "--device", "cpu", "--progress", "none", "--out", out.toString()));
        if (data.startsWith("csv")) args.addAll(List.of("--data-dir", dir.toString()));
        CliTest.Result r = CliTest.run(args.toArray(new String[0]));
        assertUsageError(r, "dl-train: error: " + message, out);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("flags")
    void aBadFlagIsOneLineNamingTheOption(String option, String value, String message, @TempDir Path tmp) {
        Path out = tmp.resolve("run");
        CliTest.Result r = CliTest.run("--model", "mlp", "--data", DATA, "--device", "cpu", "--progress", "none", "--out", out.toString(),
                option, value);
        assertUsageError(r, "dl-train: error: " + message, out);
    }

    /**
     * A slip in the value of an option with a fixed set of values, and the valid value it is a slip for: the error
     * lists the valid values (as before) and suggests that one, as --model and --data do.
     */
    static Stream<Arguments> slips() {
        return Stream.of(
                Arguments.of("--optimizer", "adma", "adam"),
                Arguments.of("--schedule", "cosin", "cosine"),
                Arguments.of("--schedule", "warmpu:100,cosine", "warmup"),
                Arguments.of("--device", "cpy", "cpu"),
                Arguments.of("--progress", "plian", "plain"),
                Arguments.of("--workers", "atuo", "auto"),
                Arguments.of("--checkpoint-every", "of", "off"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("slips")
    void aSlipInAValueFromAFixedSetSuggestsTheValueMeant(String option, String value, String meant, @TempDir Path tmp) {
        Path out = tmp.resolve("run");
        List<String> args = new ArrayList<>(List.of("--model", "mlp", "--data", DATA, "--out", out.toString(), option, value));
        if (!option.equals("--device")) args.addAll(List.of("--device", "cpu"));
        if (!option.equals("--progress")) args.addAll(List.of("--progress", "none"));
        CliTest.Result r = CliTest.run(args.toArray(String[]::new));
        assertUsageError(r, "dl-train: error: ", out);
        String error = r.err().lines().findFirst().orElseThrow();
        assertTrue(error.contains("'" + value + "'") && error.contains(" (did you mean '" + meant + "'?)"), error);
        assertTrue(error.replace(" (did you mean '" + meant + "'?)", "").contains(meant), "the valid values are listed: " + error);
    }

    /** The same in the other commands' fixed sets (eval and predict --progress share train's check). */
    @org.junit.jupiter.api.Test
    void theOtherCommandsSuggestTheValueMeantToo(@TempDir Path tmp) {
        Path out = tmp.resolve("out");
        CliTest.Result jpeg = CliTest.run("datasets", "prepare", "--data", "fashion-mnist", "--out", out.toString(), "--format", "jepg");
        assertEquals(2, jpeg.code(), jpeg.err());
        assertTrue(jpeg.err().startsWith("dl-train: error: --format must be png or jpg, not 'jepg' (did you mean 'jpg'?)"), jpeg.err());
        CliTest.Result tf32 = CliTest.run("bench", "--model", "mlp", "--batch-size", "8", "--precision", "tf23");
        assertEquals(2, tf32.code(), tf32.err());
        assertTrue(tf32.err().startsWith("dl-train: error: unknown --precision 'tf23' (did you mean 'tf32'?)"), tf32.err());
        CliTest.Result search = CliTest.run("bench", "--model", "mlp", "--batch-size", "8", "--cudnn-search", "measure");
        assertEquals(2, search.code(), search.err());
        assertTrue(search.err().startsWith("dl-train: error: unknown --cudnn-search 'measure' (did you mean 'measured'?)"), search.err());
        // gpu is one letter from cpu, but meant cuda: no suggestion of the CPU
        CliTest.Result gpu = CliTest.run("info", "--device", "gpu");
        assertEquals(2, gpu.code(), gpu.err());
        assertTrue(gpu.err().startsWith("dl-train: error: unknown device 'gpu' (an NVIDIA GPU is cuda or cuda:N): use auto, cpu, cuda or cuda:N"), gpu.err());
    }

    /**
     * A GPU's number without its colon (cuda1, "cuda 1", cuda_1) was answered "did you mean 'cuda'?", which is GPU 0: on
     * a machine shared by several jobs, taking the suggestion trains on another job's GPU. It names cuda:N, the GPU meant.
     */
    @org.junit.jupiter.api.Test
    void aGpuNumberWithoutItsColonSuggestsThatGpu() {
        for (String given : List.of("cuda1", "CUDA 1", "cuda_1", "cuda-12")) {
            CliTest.Result r = CliTest.run("info", "--device", given);
            assertEquals(2, r.code(), r.err());
            String n = given.replaceAll("\\D", "");
            assertTrue(r.err().startsWith("dl-train: error: unknown device '" + given + "' (did you mean 'cuda:" + n + "'?): use auto, cpu,"
                    + " cuda or cuda:N"), given + ": " + r.err());
        }
        CliTest.Result cpu = CliTest.run("info", "--device", "cpy"); // a slip of a name still gets the name
        assertTrue(cpu.err().startsWith("dl-train: error: unknown device 'cpy' (did you mean 'cpu'?)"), cpu.err());
    }

    /**
     * cuda: with its number left out (a script's --device cuda:$GPU with GPU unset) was answered "did you mean 'cuda'?",
     * GPU 0, the hazard aGpuNumberWithoutItsColonSuggestsThatGpu fixed for cuda1; and "cuda: 1" (a blank after the colon)
     * got no suggestion. The first now asks for the number, the second names cuda:1.
     */
    @org.junit.jupiter.api.Test
    void aGpuNumberLeftOutIsAskedForNotAnsweredWithGpu0() {
        CliTest.Result empty = CliTest.run("info", "--device", "cuda:");
        assertEquals(2, empty.code(), empty.err());
        assertTrue(empty.err().startsWith("dl-train: error: unknown device 'cuda:' (the GPU's number is missing: cuda:N, N from 0):"
                + " use auto, cpu, cuda or cuda:N"), empty.err());
        CliTest.Result blank = CliTest.run("info", "--device", "cuda: 1");
        assertEquals(2, blank.code(), blank.err());
        assertTrue(blank.err().startsWith("dl-train: error: unknown device 'cuda: 1' (did you mean 'cuda:1'?)"), blank.err());
    }

    /** A key and value in a YAML --config file (with model, data and device there too, unless the key is one of them), and the error. */
    static Stream<Arguments> configured() {
        return Stream.of(
                Arguments.of("epochs", "0", "--epochs must be >= 1, got 0"),
                Arguments.of("epochs", " 3", "Invalid value for option '--epochs': ' 3' is not an int"),
                Arguments.of("lr", " 3", "Invalid value for option '--lr': ' 3' is not a double"),
                // YAML 1.1's other booleans: YAML 1.2 (and JSON) have true and false only, and so does picocli
                Arguments.of("skip-nonfinite", "yes", "Invalid value for option '--skip-nonfinite': 'yes' is not a boolean: write true or false"),
                Arguments.of("resume-or-start", "on", "Invalid value for option '--resume-or-start': 'on' is not a boolean: write true or false"),
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
