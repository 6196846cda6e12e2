package io.dltrain.runtime.checkpoint;

import com.code_intelligence.jazzer.junit.FuzzTest;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Jazzer fuzz test of the safetensors reader: whatever the bytes, the reader returns a consistent result or throws
 * {@link CheckpointException} — any other exception or error (index out of bounds, OutOfMemoryError, a Jackson
 * exception leaking out) fails.
 *
 * <p>By default (no JAZZER_FUZZ environment variable) this is a regression test: JUnit runs it once per file of the
 * committed seed corpus in {@code src/test/resources/io/dltrain/runtime/checkpoint/SafeTensorsFuzzTestInputs/
 * readerThrowsOnlyCheckpointException/} (valid files of every dtype and typical malformations). To fuzz for real:
 * {@code JAZZER_FUZZ=1 mvn test -pl runtime -am -Dtest=SafeTensorsFuzzTest -Dsurefire.failIfNoSpecifiedTests=false};
 * a crashing input is saved next to the seeds, to be committed once fixed.
 */
class SafeTensorsFuzzTest {
    @FuzzTest(maxDuration = "2m")
    void readerThrowsOnlyCheckpointException(byte[] data) {
        SafeTensors.Contents c;
        try {
            c = SafeTensors.read(data, "fuzz input");
        } catch (CheckpointException expected) {
            assertTrue(expected.getMessage().contains("fuzz input"), "the message names the source");
            return;
        }
        SafeTensorsMutationTest.checkConsistent(c, data.length);
    }
}
