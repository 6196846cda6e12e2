package io.dltrain.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.dltrain.runtime.train.EpochMetrics;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The run directory: {@code metrics.jsonl} (one JSON object per epoch, appended and flushed as each epoch ends, so
 * a crash loses nothing already reported) and {@code summary.json} (written once at the end through a temporary
 * file and a rename, so it is either complete or absent).
 */
final class RunOutput {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path dir;

    /** The file a run writes once, at its end. */
    static final String SUMMARY = "summary.json";

    private RunOutput(Path dir) { this.dir = dir; }

    /**
     * Says why dir cannot hold a run's output, or null if it can. Checks without creating anything, so bad input
     * leaves no half-made directory behind.
     */
    static String problem(Path dir) { return problem(dir, false); }

    /** As {@link #problem(Path)}; with {@code resuming}, an existing run's files are expected rather than refused. */
    static String problem(Path dir, boolean resuming) {
        Path p = dir.toAbsolutePath();
        if (Files.exists(p)) {
            if (!Files.isDirectory(p)) return "--out " + dir + " exists and is not a directory";
            if (!Files.isWritable(p)) return "--out " + dir + " is not writable (check its permissions or choose another directory)";
            if (resuming) return null;
            for (String f : new String[] {"metrics.jsonl", SUMMARY}) {
                if (Files.exists(p.resolve(f)))
                    return "--out " + dir + " already holds a run (" + f + "); choose a new directory, or delete that one to reuse it"
                            + (Files.isDirectory(p.resolve("checkpoints")) ? ", or continue that run with --resume " + dir : "");
            }
            return null;
        }
        Path parent = p.getParent();
        while (parent != null && !Files.exists(parent)) parent = parent.getParent();
        if (parent == null) return "--out " + dir + ": no existing parent directory";
        if (!Files.isDirectory(parent)) return "--out " + dir + " cannot be created: " + parent + " is not a directory";
        if (!Files.isWritable(parent)) return "--out " + dir + " cannot be created: " + parent + " is not writable";
        return null;
    }

    static RunOutput create(Path dir) {
        try {
            Files.createDirectories(dir);
            return new RunOutput(dir);
        } catch (AccessDeniedException e) {
            throw new UncheckedIOException("cannot create --out " + dir + ": permission denied", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create --out " + dir + ": " + e.getMessage(), e);
        }
    }

    Path dir() { return dir; }

    /**
     * On resume: drops metrics.jsonl lines of epochs after {@code completedEpochs} (written after the checkpoint the
     * run resumes from, so they are about to be written again), replacing the file atomically.
     */
    void truncateMetrics(int completedEpochs) {
        Path f = dir.resolve("metrics.jsonl");
        if (!Files.exists(f)) return;
        try {
            StringBuilder keep = new StringBuilder();
            for (String line : Files.readAllLines(f)) {
                if (line.isBlank()) continue;
                com.fasterxml.jackson.databind.JsonNode row;
                try { row = JSON.readTree(line); } catch (IOException e) { break; } // a line torn by a crash: the end
                if (row.path("epoch").asInt(Integer.MAX_VALUE) <= completedEpochs) keep.append(line).append('\n');
            }
            Path tmp = dir.resolve("metrics.jsonl.tmp");
            Files.writeString(tmp, keep.toString());
            Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rewrite " + f + ": " + e.getMessage(), e);
        }
    }

    void appendEpoch(EpochMetrics m) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("epoch", m.epoch());
        row.put("train_loss", m.trainLoss());
        row.put("train_acc", finiteOrNull(m.trainAcc())); // NaN (null) when the task is not classification
        row.put("val_loss", finiteOrNull(m.valLoss()));
        row.put("val_acc", finiteOrNull(m.valAcc()));
        row.put("lr", m.lr());
        row.put("seconds", m.seconds());
        row.put("train_seconds", m.trainSeconds());
        row.put("images_per_sec", m.imagesPerSec());
        row.put("data_wait_seconds", m.dataWaitSeconds());
        row.put("skipped_steps", m.skippedSteps());
        try {
            Files.writeString(dir.resolve("metrics.jsonl"), JSON.writeValueAsString(row) + "\n",
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE, StandardOpenOption.SYNC);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve("metrics.jsonl") + ": " + e.getMessage(), e);
        }
    }

    void writeSummary(Map<String, Object> summary) {
        Path target = dir.resolve(SUMMARY);
        Path tmp = dir.resolve(SUMMARY + ".tmp");
        try {
            Files.writeString(tmp, JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(summary) + "\n");
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    static Object finiteOrNull(double v) { return Double.isFinite(v) ? v : null; }
}
