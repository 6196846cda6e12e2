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
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Run directories without --out: runs started in the same second each get their own (runs/NAME, NAME-2, ...). */
class RunOutputTest {
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
