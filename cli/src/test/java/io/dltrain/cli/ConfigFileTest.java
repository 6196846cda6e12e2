package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code --config FILE}: YAML and JSON files set training options, flags on the command line override them, and every
 * unusable file (unknown key, bad value, malformed, missing, wrong type) is a usage error (exit 2) naming the file and
 * key. Most cases are checked with a dry parse (the same install-then-parse path Main takes, without training); one
 * short real run (1 epoch, 2 steps on a small subset built with CliTest's helpers) checks the values reach training.
 */
class ConfigFileTest {
    /** Parses args the way Main does (config installed, then picocli) and returns the training options. */
    static TrainOptions dryParse(String... args) {
        DlTrain top = new DlTrain();
        CommandLine cl = new CommandLine(top);
        ConfigFile.install(cl, args);
        CommandLine.ParseResult r = cl.parseArgs(args);
        return r.hasSubcommand() ? ((TrainCommand) r.subcommand().commandSpec().userObject()).options : top.options;
    }

    static Path write(Path file, String text) throws IOException {
        return Files.writeString(file, text);
    }

    /** YAML itself trims a plain (unquoted) value, so blanks after "lr: 0.5" are not the value's, unlike a quoted ' 0.5'. */
    @Test
    void blanksThatYamlTrimsAreNotPartOfANumber(@TempDir Path tmp) throws IOException {
        TrainOptions o = dryParse("--config", write(tmp.resolve("run.yaml"), "lr:    0.5   \nepochs: 3\t\nclip-norm: 1   # a comment\n").toString());
        assertEquals(0.5, o.lr, 0.0);
        assertEquals(3, o.epochs);
        assertEquals(1f, o.clipNorm, 0f);
    }

    /** A flag's key takes true or false in any case (yes and on are refused, saying so: OptionValuesTest). */
    @Test
    void aFlagsKeyTakesTrueOrFalse(@TempDir Path tmp) throws IOException {
        TrainOptions o = dryParse("--config", write(tmp.resolve("run.yaml"), "skip-nonfinite: True\nresume-or-start: false\n").toString());
        assertTrue(o.skipNonfinite);
        assertFalse(o.resumeOrStart);
    }

    @Test
    void yamlAndJsonSetOptionsAndFlagsOverrideTheFile(@TempDir Path tmp) throws IOException {
        Path yaml = write(tmp.resolve("run.yaml"), """
                # a training recipe
                model: lenet5
                data: fashion-mnist
                epochs: 7
                batch-size: 64
                lr: 1e-3
                optimizer: adamw
                weight-decay: 0.01
                schedule: step:5:0.5
                max-steps: 100
                """);
        TrainOptions o = dryParse("--config", yaml.toString());
        assertEquals("lenet5", o.model);
        assertEquals("fashion-mnist", o.data);
        assertEquals(7, o.epochs);
        assertEquals(64, o.batchSize);
        assertEquals(1e-3, o.lr, 0.0);
        assertEquals("adamw", o.optimizer);
        assertEquals(0.01, o.weightDecay, 0.0);
        assertEquals("step:5:0.5", o.schedule);
        assertEquals(100L, o.maxSteps);
        assertEquals(42L, o.seed, "keys not in the file keep the built-in default");
        assertNull(o.momentum, "momentum not in the file stays unset: the run takes the optimiser's default");
        assertEquals(yaml, o.config);

        // flags win over the file, in either order and with the train subcommand too
        o = dryParse("--epochs", "2", "--config=" + yaml, "-b", "32");
        assertEquals(2, o.epochs);
        assertEquals(32, o.batchSize);
        assertEquals(1e-3, o.lr, 0.0);
        o = dryParse("train", "--config", yaml.toString(), "--lr", "0.5");
        assertEquals(0.5, o.lr, 0.0);
        assertEquals(7, o.epochs);

        Path json = write(tmp.resolve("run.json"), """
                {"model": "mlp", "data": "fashion-mnist", "epochs": 3, "batch-size": 16, "lr": 0.2, "seed": 7,
                 "label-smoothing": 0.1, "progress": "none"}
                """);
        o = dryParse("--config", json.toString(), "--seed", "8");
        assertEquals("mlp", o.model);
        assertEquals(3, o.epochs);
        assertEquals(16, o.batchSize);
        assertEquals(0.2, o.lr, 0.0);
        assertEquals(8L, o.seed);
        assertEquals(0.1f, o.labelSmoothing, 0.0f);
        assertEquals("none", o.progress);

        // a list option takes a YAML or JSON list, or the comma list it takes on the command line
        Path frozen = write(tmp.resolve("frozen.yaml"), "model: lenet5\nfreeze: [0., 3.]\n");
        assertEquals(java.util.List.of("0.", "3."), dryParse("--config", frozen.toString()).freeze);
        Path frozenJson = write(tmp.resolve("frozen.json"), "{\"freeze\": [\"0.\"]}");
        assertEquals(java.util.List.of("0."), dryParse("--config", frozenJson.toString()).freeze);
        Path frozenScalar = write(tmp.resolve("frozen-scalar.yaml"), "freeze: 0.\nlr: 1e-3\nschedule: step:5:0.5\n");
        assertEquals(java.util.List.of("0."), dryParse("--config", frozenScalar.toString()).freeze,
                "a value is the file's own spelling, not YAML's number 0.0");
        Path frozenText = write(tmp.resolve("frozen-text.yaml"), "freeze: 0.,3.\n");
        assertEquals(java.util.List.of("0.", "3."), dryParse("--config", frozenText.toString()).freeze);
        assertEquals(java.util.List.of("6."), dryParse("--config", frozen.toString(), "--freeze", "6.").freeze, "the flag wins");

        // without --config nothing changes
        assertEquals(10, dryParse("--model", "mlp").epochs);
    }

    @Test
    void aConfiguredRunTrainsWithTheFilesValues(@TempDir Path tmp) throws IOException {
        Path subset = CliTest.fashionSubset(tmp.resolve("subset"), 400, 100); // a small copy of CliTest's subset
        Path out = tmp.resolve("run");
        Path yaml = write(tmp.resolve("short.yml"), """
                model: mlp
                data: fashion-mnist
                data-dir: %s
                epochs: 3
                batch-size: 32
                lr: 0.02
                optimizer: adam
                weight-decay: 0.01
                threads: 2
                progress: none
                """.formatted(subset));
        // the flags override epochs (3 -> 1) and add a step limit; the rest comes from the file
        CliTest.Result r = CliTest.run("--config", yaml.toString(), "--epochs", "1", "--max-steps", "2", "--out", out.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        // a run stopped by --max-steps writes no summary; its opening line states the configuration it trains with
        assertTrue(r.err().contains("dl-train: 1 epoch, batch 32, adam lr 0.02 (cosine), weight decay 0.01, seed 42 -> " + out),
                r.err());
        assertTrue(r.err().contains("(360 train / 40 validation / 100 test samples)"), "data-dir from the file: " + r.err());
        assertTrue(r.err().contains("after --max-steps 2"), r.err());
        assertTrue(Files.isDirectory(out.resolve("checkpoints")), "the run wrote its checkpoint");
    }

    @Test
    void theReadmeExampleIsAValidConfig(@TempDir Path tmp) throws IOException {
        String readme = Files.readString(Path.of("..", "README.md"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("```yaml\n(.*?)```", java.util.regex.Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(), "README.md has no yaml block");
        TrainOptions o = dryParse("--config", write(tmp.resolve("readme.yaml"), m.group(1)).toString());
        assertEquals("lenet5", o.model);
        assertEquals(20, o.epochs);
        assertEquals(64, o.batchSize);
        assertEquals("adamw", o.optimizer);
        assertEquals(0.001, o.lr, 0.0);
        assertEquals("warmup:500,cosine", o.schedule);
    }

    /** Main's verdict on args: exit 2 and every fragment in stderr. */
    static void usageError(String[] args, String... fragments) {
        CliTest.Result r = CliTest.run(args);
        assertEquals(2, r.code(), "exit code; stderr: " + r.err() + " stdout: " + r.out());
        for (String f : fragments) assertTrue(r.err().contains(f), "expected '" + f + "' in: " + r.err());
    }

    @Test
    void unusableFilesAreUsageErrorsNamingTheFileAndKey(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("never");
        String o = out.toString();
        Path unknown = write(tmp.resolve("unknown.yaml"), "model: mlp\nepochz: 3\n");
        usageError(new String[]{"--config", unknown.toString(), "--out", o}, unknown.toString(), "unknown key 'epochz'", "epochs", "batch-size");
        Path shortName = write(tmp.resolve("short.json"), "{\"e\": 3}");
        usageError(new String[]{"--config", shortName.toString(), "--out", o}, shortName.toString(), "unknown key 'e'");
        Path bad = write(tmp.resolve("bad.yaml"), "model: mlp\nepochs: three\n");
        usageError(new String[]{"--config", bad.toString(), "--out", o}, bad.toString(), "key 'epochs'", "three");
        Path list = write(tmp.resolve("list.yaml"), "lr: [0.1, 0.2]\n");
        usageError(new String[]{"--config", list.toString(), "--out", o}, list.toString(), "key 'lr'", "a list");
        Path nestedList = write(tmp.resolve("nested-list.yaml"), "freeze: [[0.]]\n");
        usageError(new String[]{"--config", nestedList.toString(), "--out", o}, nestedList.toString(), "key 'freeze'", "a list");
        Path emptyList = write(tmp.resolve("empty-list.yaml"), "freeze: []\n");
        usageError(new String[]{"--config", emptyList.toString(), "--out", o}, emptyList.toString(), "key 'freeze'", "an empty list");
        Path nested = write(tmp.resolve("nested.yaml"), "config: other.yaml\n");
        usageError(new String[]{"--config", nested.toString(), "--out", o}, nested.toString(), "key 'config'");
        Path yamlSyntax = write(tmp.resolve("broken.yaml"), "model: mlp\nepochs: [3\nlr: 0.1\n");
        usageError(new String[]{"--config", yamlSyntax.toString(), "--out", o}, yamlSyntax.toString(), "malformed YAML", "line");
        Path jsonSyntax = write(tmp.resolve("broken.json"), "{\"epochs\": 3,, }");
        usageError(new String[]{"--config", jsonSyntax.toString(), "--out", o}, jsonSyntax.toString(), "malformed JSON", "line 1");
        Path unclosed = write(tmp.resolve("unclosed.json"), "{\"epochs\": [1, 2");
        CliTest.Result r = CliTest.run("--config", unclosed.toString(), "--out", o);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("expected close marker for Array (start marker at line 1, column 12)"), r.err());
        assertFalse(r.err().contains("REDACTED"), "Jackson's placeholder for the source is not for people: " + r.err());
        Path notMap = write(tmp.resolve("scalar.json"), "[1, 2]");
        usageError(new String[]{"--config", notMap.toString(), "--out", o}, notMap.toString(), "mapping");
        usageError(new String[]{"--config", tmp.resolve("missing.yaml").toString(), "--out", o}, "missing.yaml", "not found");
        Path txt = write(tmp.resolve("run.txt"), "epochs: 3\n");
        usageError(new String[]{"--config", txt.toString(), "--out", o}, txt.toString(), ".yaml", ".json");
        usageError(new String[]{"--config", tmp.toString(), "--out", o}, "config file type");
        usageError(new String[]{"--model", "mlp", "--config"}, "Missing required parameter");
        // a key given twice is an error (the parsers would keep the last one silently), in YAML and in JSON
        Path twice = write(tmp.resolve("twice.yaml"), "model: mlp\nepochs: 5\nepochs: 20\n");
        usageError(new String[]{"--config", twice.toString(), "--out", o}, twice.toString(), "the key 'epochs' appears twice", "line 3");
        Path twiceJson = write(tmp.resolve("twice.json"), "{\"lr\": 0.1, \"lr\": 0.2}");
        usageError(new String[]{"--config", twiceJson.toString(), "--out", o}, twiceJson.toString(), "the key 'lr' appears twice");
        // summary.json's spelling of an option: the error says which key was meant
        Path underscored = write(tmp.resolve("underscored.yaml"), "model: mlp\nbatch_size: 64\n");
        usageError(new String[]{"--config", underscored.toString(), "--out", o}, underscored.toString(),
                "unknown key 'batch_size', did you mean 'batch-size'?");
        assertFalse(Files.exists(out), "nothing may be written on a bad config");
    }
}
