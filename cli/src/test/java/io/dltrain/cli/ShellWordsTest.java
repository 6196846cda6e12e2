package io.dltrain.cli;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ShellWordsTest {
    @Test
    void pathsThatNeedQuotingAreSingleQuoted() {
        assertEquals("runs/lenet5-fashion-mnist-20261206-1140", ShellWords.quote(Path.of("runs/lenet5-fashion-mnist-20261206-1140")));
        assertEquals("/tmp/a_b.c", ShellWords.quote("/tmp/a_b.c"));
        assertEquals("'runs/with space/ünï'", ShellWords.quote(Path.of("runs/with space/ünï")));
        assertEquals("'it'\\''s'", ShellWords.quote("it's"));   // 'it'\''s'
        assertEquals("'$HOME'", ShellWords.quote("$HOME"));
        assertEquals("''", ShellWords.quote(""));
    }
}
