package io.dltrain.cli;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * {@code --progress auto}: the bar is drawn on stderr, so it is decided by whether stderr is a terminal (read from
 * /proc/self/fd/2 on Linux), not stdout: {@code dl-train eval ... > result.txt} at a terminal draws the bar, and
 * {@code 2> log} writes plain lines rather than a bar's carriage returns into the log. Where stderr's target cannot be
 * read, the console decides, as before. No real terminal is needed: the decision is a function of the two.
 */
class ProgressTest {
    @Test
    void autoDrawsTheBarWhereStderrIsATerminal() {
        // stdout redirected (to a file or pipe: no console terminal), stderr the terminal
        assertEquals(Progress.Mode.BAR, Progress.auto(Path.of("/dev/pts/3"), false));
        assertEquals(Progress.Mode.BAR, Progress.auto(Path.of("/dev/tty1"), false));
        // stderr to a file, a pipe or /dev/null with stdout at the terminal: plain lines
        assertEquals(Progress.Mode.PLAIN, Progress.auto(Path.of("/tmp/err.log"), true));
        assertEquals(Progress.Mode.PLAIN, Progress.auto(Path.of("pipe:[12345]"), true));
        assertEquals(Progress.Mode.PLAIN, Progress.auto(Path.of("/dev/null"), true));
        // stderr's target unknown (no /proc: macOS, Windows): the console decides, as before
        assertEquals(Progress.Mode.BAR, Progress.auto(null, true));
        assertEquals(Progress.Mode.PLAIN, Progress.auto(null, false));
    }

    @Test
    void stderrsTargetIsReadOnLinux() {
        if (!Files.isDirectory(Path.of("/proc/self/fd"))) return; // elsewhere: null, the console decides
        assertNotNull(Progress.stderrTarget(), "/proc/self/fd/2 names stderr's file, pipe or terminal");
    }
}
