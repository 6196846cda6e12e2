package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.dltrain.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code imagefolder:skipbad=true} replaces an unreadable image by the next readable one; the run then names the files
 * it skipped (it used to finish without a word about them, so a tree with bad files looked clean).
 */
class SkipBadReportTest {

    @Test
    void aRunWithSkipbadNamesTheFilesItSkipped(@TempDir Path tmp) throws IOException {
        Path root = PredictImageFolderTest.tree(tmp.resolve("tree"));
        Path bad = Files.writeString(root.resolve("train/a/img9.jpg"), "not a JPEG");
        Path cut = root.resolve("val/b/img5.jpg");
        byte[] good = Files.readAllBytes(root.resolve("val/b/img0.jpg"));
        Files.write(cut, java.util.Arrays.copyOf(good, good.length / 2));
        CliTest.Result r = run("--model", "mlp", "--data", "imagefolder:skipbad=true", "--data-dir", root.toString(), "--epochs", "1",
                "--threads", "2", "--batch-size", "4", "--progress", "none", "--out", tmp.resolve("run").toString(), "--checkpoint-every", "off");
        assertEquals(0, r.code(), r.err() + r.out());
        String said = r.err();
        assertTrue(said.contains("imagefolder/train: skipped 1 unreadable file (skipbad=true"), said);
        assertTrue(said.contains("  " + bad + ": not a JPEG or PNG image"), said);
        assertTrue(said.contains("imagefolder/val: skipped 1 unreadable file"), said);
        assertTrue(said.contains("  " + cut + ": "), said);
    }
}
