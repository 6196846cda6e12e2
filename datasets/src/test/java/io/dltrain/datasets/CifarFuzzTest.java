package io.dltrain.datasets;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Jazzer fuzz test of the CIFAR batch-file reader: whatever the bytes of a batch file, reading it as CIFAR-10 and as
 * CIFAR-100 returns a dataset that agrees with the bytes (record count, labels, pixels) or throws
 * {@link DatasetException} naming the file — any other exception or error (index out of bounds,
 * NegativeArraySizeException, OutOfMemoryError) fails. The reader takes paths, so each input goes through one temp
 * file.
 *
 * <p>By default (no JAZZER_FUZZ environment variable) this is a regression test: JUnit runs it once per file of the
 * committed seed corpus in {@code src/test/resources/io/dltrain/datasets/CifarFuzzTestInputs/
 * readerThrowsOnlyDatasetException/} (a valid record of each kind, and typical malformations). To fuzz for real:
 * {@code JAZZER_FUZZ=1 mvn test -pl datasets -am -Dtest=CifarFuzzTest -Dsurefire.failIfNoSpecifiedTests=false};
 * a crashing input is saved next to the seeds, to be committed once fixed.
 */
class CifarFuzzTest {
    private static final Path FILE;

    static {
        try {
            FILE = Files.createTempFile("cifar-fuzz", ".bin");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        FILE.toFile().deleteOnExit();
    }

    @FuzzTest(maxDuration = "2m")
    void readerThrowsOnlyDatasetException(byte[] data) throws IOException {
        Files.write(FILE, data);
        for (CifarDataset.Kind kind : CifarDataset.Kind.values()) {
            try {
                CifarMutationTest.readAndCheck(kind, "fuzz", List.of(FILE));
            } catch (DatasetException expected) {
                assertTrue(expected.getMessage().contains(FILE.toString()), "the message names the file: " + expected.getMessage());
            }
        }
    }
}
