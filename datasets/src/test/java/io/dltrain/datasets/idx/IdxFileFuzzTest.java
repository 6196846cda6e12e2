package io.dltrain.datasets.idx;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.dltrain.datasets.DatasetException;

import java.io.ByteArrayInputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Jazzer fuzz test of the IDX reader: whatever the bytes (plain or gzip'd), reading them as an image file or as a
 * label file returns a consistent result or throws {@link DatasetException} naming the source — any other exception
 * or error (index out of bounds, NegativeArraySizeException, OutOfMemoryError, a raw IOException) fails.
 *
 * <p>By default (no JAZZER_FUZZ environment variable) this is a regression test: JUnit runs it once per file of the
 * committed seed corpus in {@code src/test/resources/io/dltrain/datasets/idx/IdxFileFuzzTestInputs/
 * readerThrowsOnlyDatasetException/} (valid plain and gzip'd image and label files, and typical malformations). To
 * fuzz for real: {@code JAZZER_FUZZ=1 mvn test -pl datasets -am -Dtest=IdxFileFuzzTest
 * -Dsurefire.failIfNoSpecifiedTests=false}; a crashing input is saved next to the seeds, to be committed once fixed.
 */
class IdxFileFuzzTest {
    @FuzzTest(maxDuration = "2m")
    void readerThrowsOnlyDatasetException(byte[] data) {
        for (int magic : new int[]{IdxFile.IMAGES_U8, IdxFile.LABELS_U8}) {
            for (boolean knownLength : new boolean[]{true, false}) {
                try {
                    IdxFileMutationTest.read(data, "fuzz input", knownLength, false, magic);
                } catch (DatasetException expected) {
                    assertTrue(expected.getMessage().startsWith("fuzz input"), "the message names the source");
                }
            }
        }
        // and once through a gzip wrapper, as a .gz download would arrive
        try {
            IdxFileMutationTest.read(io.dltrain.datasets.IdxTestFiles.gzip(data), "fuzz input.gz", false, true, IdxFile.IMAGES_U8);
        } catch (DatasetException expected) {
            assertTrue(expected.getMessage().startsWith("fuzz input.gz"), "the message names the source");
        }
    }
}
