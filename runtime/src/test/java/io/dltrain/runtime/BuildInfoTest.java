package io.dltrain.runtime;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The build fills in build.properties: the project's version and, in a git checkout, the commit built. */
class BuildInfoTest {
    @Test void theBuildRecordsTheVersionAndTheCommit() throws IOException {
        // the parent pom's <version>, as Maven filtered it in (not "${project.version}" nor "unknown")
        String pom = Files.readString(Path.of("..", "pom.xml"));
        String projectVersion = pom.replaceFirst("(?s).*?<artifactId>dl-train-parent</artifactId>\\s*<version>([^<]+)</version>.*", "$1");
        assertEquals(projectVersion, BuildInfo.version());
        String build = BuildInfo.build();
        if (!Files.exists(Path.of("..", ".git"))) {
            assertEquals("unknown", build);   // a source tarball
            return;
        }
        // git describe's abbreviated commit (a test run after a later commit without a rebuild still sees the one built)
        assertTrue(build.matches("[0-9a-f]{12,40}(-dirty)?"), build);
    }
}
