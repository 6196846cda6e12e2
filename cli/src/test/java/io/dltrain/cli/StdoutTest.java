package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Standard output that cannot be written, as a script or pipeline meets it: a full disk ({@code > /dev/full}), a
 * closed descriptor ({@code >&-}) and a reader that went away ({@code | head -1}). The output's failure is not lost
 * (PrintWriter swallows it) and the command does not claim success.
 */
class StdoutTest {
    /** A stream taking {@code accepts} bytes, then failing every write as the OS would, with {@code why}. */
    static final class Failing extends OutputStream {
        final String why;
        int accepts;

        Failing(int accepts, String why) { this.accepts = accepts; this.why = why; }

        @Override public void write(int b) throws IOException { write(new byte[]{(byte) b}, 0, 1); }

        @Override public void write(byte[] b, int off, int len) throws IOException {
            if (len > accepts) { accepts = 0; throw new IOException(why); }
            accepts -= len;
        }
    }

    record Result(int code, String err) {}

    static Result run(OutputStream stdout, String... args) {
        StringWriter e = new StringWriter();
        int code = Main.run(args, Stdout.writer(stdout), new PrintWriter(e, true));
        return new Result(code, e.toString());
    }

    @Test
    void aFullStdoutIsAnErrorNotASilentSuccess() {
        for (String[] args : new String[][]{{"models"}, {"datasets"}}) {
            Result r = run(new Failing(0, "No space left on device"), args);
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().startsWith("dl-train: error: standard output could not be written (No space left on device)"), r.err());
        }
    }

    @Test
    void aClosedStdoutIsAnError() {
        Result r = run(new Failing(0, "Bad file descriptor"), "models");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("(Bad file descriptor)"), r.err());
    }

    /** `dl-train models | head -1`: quiet, as a C or Go program ended by SIGPIPE, and 128 + 13 for `set -o pipefail`. */
    @Test
    void aReaderThatWentAwayEndsQuietlyWithSigpipesStatus() {
        Result r = run(new Failing(100, "Broken pipe"), "models");
        assertEquals(141, r.code(), r.err());
        assertEquals("", r.err());
    }

    /**
     * `dl-train predict ... | head -1` stops at the batch whose results could not be written, rather than reading and
     * predicting every file for nobody: here the file after the first batch cannot be read, and is not reached.
     */
    @Test
    void predictStopsAtTheFirstBatchItCouldNotWrite(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        PredictCsvTest.write(data);
        PredictCsvTest.train(data, "csv", out, 1);
        List<String> args = new ArrayList<>(List.of("predict", "--checkpoint", out.toString()));
        for (int i = 0; i < PredictCommand.BATCH; i++) // files are read a batch at a time: the bad one is in the second
            args.add(Files.writeString(tmp.resolve(String.format("%03d.csv", i)), "x1,x2,x3\n" + i % 7 + ",50,0.1\n").toString());
        args.add(Files.writeString(tmp.resolve("bad.csv"), "no,such,columns\n1,2,3\n").toString());

        Result r = run(new Failing(100, "Broken pipe"), args.toArray(String[]::new));
        assertEquals(141, r.code(), r.err());
        assertFalse(r.err().contains("bad.csv"), r.err());
    }

    /**
     * The same with --json: the array was printed at the end, so `dl-train predict --json ... | head -1` read and predicted
     * every file for nobody (here it reached the bad file and failed with its error, exit 2). The array's elements are
     * now written a batch at a time, and the command stops where they could not be.
     */
    @Test
    void predictJsonStopsAtTheFirstBatchItCouldNotWrite(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        PredictCsvTest.write(data);
        PredictCsvTest.train(data, "csv", out, 1);
        List<String> args = new ArrayList<>(List.of("predict", "--checkpoint", out.toString(), "--json", "--progress", "none"));
        for (int i = 0; i < PredictCommand.BATCH; i++) // the bad one is in the second batch
            args.add(Files.writeString(tmp.resolve(String.format("%03d.csv", i)), "x1,x2,x3\n" + i % 7 + ",50,0.1\n").toString());
        args.add(Files.writeString(tmp.resolve("bad.csv"), "no,such,columns\n1,2,3\n").toString());

        Result r = run(new Failing(100, "Broken pipe"), args.toArray(String[]::new));
        assertEquals(141, r.code(), r.err());
        assertFalse(r.err().contains("bad.csv"), r.err());
    }

    /**
     * `dl-train train ... | head -1` with the reader gone before the run's results (its stdout holds only the test line
     * and the wrote line, at the end; progress is on stderr): training is not stopped by it (unlike predict, whose
     * output is its work): the run goes on to its last epoch and writes every file a run writes, its checkpoint
     * included, and only then ends with 141. Nothing of an hours-long run is lost to a closed pipe. Stdout fails at
     * its first write, the test line, which comes before summary.json is written: summary.json is written all the same.
     */
    @Test
    void trainRunsToItsEndAndWritesItsFilesWhenTheReaderWentAway(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        PredictCsvTest.write(data);
        Result r = run(new Failing(0, "Broken pipe"), "--model", "mlp", "--data", "csv", "--data-dir", data.toString(), "--epochs", "2",
                "--threads", "2", "--progress", "none", "--out", out.toString(), "--batch-size", "32", "--checkpoint-every", "1e");
        assertEquals(141, r.code(), r.err());
        // stderr has the run's header and notices (progress goes there), but no error: a gone reader is not one
        assertFalse(r.err().contains("error"), r.err());
        assertTrue(r.err().contains("2 epochs, batch 32"), r.err());
        com.fasterxml.jackson.databind.JsonNode summary = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertEquals(2, summary.get("epochs").asInt(), summary.toString());
        assertEquals(2, Files.readAllLines(out.resolve("metrics.jsonl")).size());
        for (String f : List.of("model/model.json", "model/model.safetensors", "curves.png"))
            assertTrue(Files.isRegularFile(out.resolve(f)), f + " was not written");
        assertTrue(io.dltrain.runtime.checkpoint.Checkpoint.latest(out.resolve("checkpoints")).isPresent(), "no checkpoint");
    }

    /** An error of the command itself keeps its own status and message: a failed stdout adds nothing to a usage error. */
    @Test
    void aUsageErrorKeepsItsStatus() {
        Result r = run(new Failing(0, "No space left on device"), "models", "--no-such-option");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("dl-train: error: Unknown option"), r.err());
    }
}
