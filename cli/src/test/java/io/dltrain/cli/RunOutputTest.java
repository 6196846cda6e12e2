package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Run directories without --out: runs started in the same second each get their own (runs/NAME, NAME-2, ...); on
 * resume, metrics.jsonl holds exactly the checkpoint's epochs.
 */
class RunOutputTest {
    /**
     * A resume from a checkpoint of 3 epochs: the line of epoch 4 (written after that checkpoint) goes, and epoch 2's
     * line, which could not be written (the trainer checkpointed the epoch before ending on that failure), comes from
     * the checkpoint's history; lines that are there stay as they are, in epoch order.
     */
    /**
     * A metrics.jsonl line a resume would keep with a newer or damaged format_version is refused naming its line (the
     * file has one per epoch), and a damaged one says what to do; lines the resume drops (later epochs), lines without a
     * version and a torn last line are not looked at.
     */
    @Test
    void aRefusedMetricsLineIsNamed(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("metrics.jsonl");
        String v = "{\"format_version\":" + io.dltrain.runtime.checkpoint.Checkpoint.FORMAT_VERSION + ",\"epoch\":";
        Files.writeString(f, "{\"epoch\":1}\n" + v + "2}\n{\"format_version\":\"2\",\"epoch\":3}\n{\"format_version\":99,\"epoch\":4}\n{\"format_vers");
        RunOutput.checkMetricsFormat(tmp, 2); // epochs 3 and 4 are dropped by such a resume
        var damaged = assertThrows(io.dltrain.runtime.checkpoint.CheckpointException.class, () -> RunOutput.checkMetricsFormat(tmp, 3));
        assertEquals(f.toAbsolutePath() + " line 3: \"format_version\" is \"2\", not an integer; the file is damaged: correct that value (this"
                + " dl-train writes " + io.dltrain.runtime.checkpoint.Checkpoint.FORMAT_VERSION + ") or restore the file from a copy, and resume again",
                damaged.getMessage());
        Files.writeString(f, "{\"epoch\":1}\n" + v + "2}\n" + v + "3}\n{\"format_version\":99,\"epoch\":4}\n");
        var newer = assertThrows(io.dltrain.runtime.checkpoint.NewerFormatException.class, () -> RunOutput.checkMetricsFormat(tmp, 4));
        assertTrue(newer.getMessage().startsWith(f.toAbsolutePath() + " line 4 has format_version 99, written by a newer dl-train, but this dl-train"),
                newer.getMessage());
    }

    @Test
    void aResumeLeavesOneLinePerCheckpointedEpoch(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("run"));
        String one = "{\"epoch\":1,\"train_loss\":0.9,\"written\":\"by epoch 1\"}", three = "{\"epoch\":3,\"train_loss\":0.5}";
        Files.writeString(dir.resolve("metrics.jsonl"), one + "\n" + three + "\n{\"epoch\":4,\"train_loss\":0.4}\n");
        List<io.dltrain.runtime.train.EpochMetrics> history = new ArrayList<>();
        for (int e = 1; e <= 3; e++) history.add(new io.dltrain.runtime.train.EpochMetrics(e, 1.0 / e, 0.5, 0.7, Double.NaN, 0.01, 2.5, 2.0, 1000, 0.25, 0));
        try (RunOutput run = RunOutput.create(dir, true, null)) {
            run.resumeMetrics(3, history);
        }
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(3, lines.size(), lines.toString());
        assertEquals(one, lines.get(0), "a line that is there stays as it is");
        assertEquals("{\"format_version\":" + io.dltrain.runtime.checkpoint.Checkpoint.FORMAT_VERSION + ",\"dl_train_version\":\""
                + io.dltrain.runtime.BuildInfo.version() + "\",\"dl_train_build\":\"" + io.dltrain.runtime.BuildInfo.build() + "\",\"epoch\":2,\"train_loss\":0.5,\"train_acc\":0.5,\"val_loss\":0.7,\"val_acc\":null,\"lr\":0.01,\"seconds\":2.5,"
                + "\"train_seconds\":2.0,\"images_per_sec\":1000.0,\"data_wait_seconds\":0.25,\"skipped_steps\":0}", lines.get(1),
                "the missing epoch, from the checkpoint's history, as appendEpoch writes it");
        assertEquals(three, lines.get(2));
    }


    /**
     * The default run directory is one directory in runs/, whatever the dataset's options hold: `--data
     * csv:train=/data/a.csv` made runs/mlp-csv:train=/ a tree of directories ending in a.csv-TIME, and a colon in the
     * name breaks `docker run -v DIR:/out`.
     */
    @Test
    void theDefaultRunDirectoryIsOneFolderNamedAfterModelDataAndTime() {
        java.time.LocalDateTime t = java.time.LocalDateTime.of(2026, 12, 6, 11, 45, 0);
        assertEquals(Path.of("runs", "mlp-fashion-mnist-20261206-114500"), TrainRun.defaultOut("mlp", "fashion-mnist", t));
        assertEquals(Path.of("runs", "lenet5-imagefolder_size=32,augment=flip-20261206-114500"),
                TrainRun.defaultOut("lenet5", "imagefolder:size=32,augment=flip", t));
        Path csv = TrainRun.defaultOut("mlp", "csv:label=y,train=/data/my sets/a.csv,test=../b.csv", t);
        assertEquals(2, csv.getNameCount(), csv.toString());
        assertEquals("mlp-csv_label=y,train=_data_my_sets_a.csv,test=.._b.csv-20261206-114500", csv.getFileName().toString());
        Path longOne = TrainRun.defaultOut("mlp", "csv:train=/" + "d".repeat(300) + "/a.csv", t);
        assertEquals(2, longOne.getNameCount());
        assertTrue(longOne.getFileName().toString().length() <= 160, longOne.toString()); // a file name may have 255 bytes
        assertTrue(longOne.getFileName().toString().endsWith("-20261206-114500"), longOne.toString());
    }

    @Test
    void runsWithTheSameDefaultNameEachGetTheirOwnDirectory(@TempDir Path tmp) throws Exception {
        Path base = tmp.resolve("runs/mlp-fashion-mnist-20261206-114500");
        assertEquals(base, RunOutput.freshName(base), "nothing there yet: the name itself");
        int n = 8;
        CountDownLatch go = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<RunOutput> runs = new ArrayList<>();
        try {
            List<Future<RunOutput>> claims = new ArrayList<>();
            for (int i = 0; i < n; i++) claims.add(pool.submit(() -> { go.await(); return RunOutput.createFresh(base); }));
            go.countDown(); // all at once, as a sweep script's runs would start
            for (Future<RunOutput> f : claims) runs.add(f.get());
        } finally {
            pool.shutdown();
        }
        try {
            Set<Path> dirs = new HashSet<>();
            for (RunOutput r : runs) {
                assertTrue(Files.isDirectory(r.dir()) && r.unlocked() == null, r.dir() + " created and locked");
                dirs.add(r.dir());
            }
            Set<Path> expected = new HashSet<>(List.of(base));
            for (int i = 2; i <= n; i++) expected.add(base.resolveSibling(base.getFileName() + "-" + i));
            assertEquals(expected, dirs, "one directory each, numbered from -2");
            assertEquals(base.resolveSibling(base.getFileName() + "-" + (n + 1)), RunOutput.freshName(base));
            assertNull(RunOutput.problem(RunOutput.freshName(base), false, true));
        } finally {
            for (RunOutput r : runs) r.close();
        }
    }
}
