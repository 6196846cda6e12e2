package io.dltrain.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * Which dl-train this is: the project's version and the build's git commit, as the build recorded them
 * (build.properties). Files dl-train writes record both beside their format version, so that a file says what wrote it.
 * The build is {@code git describe --always --dirty} of the checkout that was built (the commit, "-dirty" when it had
 * uncommitted changes), or "unknown" for a build outside a git checkout (a source tarball).
 */
public final class BuildInfo {
    private BuildInfo() {}

    private static final Properties P = load();

    private static Properties load() {
        Properties p = new Properties();
        try (InputStream in = BuildInfo.class.getResourceAsStream("build.properties")) {
            if (in != null) p.load(in);
        } catch (IOException e) {
            // unknown, below
        }
        return p;
    }

    /** The project's version (pom.xml's), or "unknown". */
    public static String version() { return known(P.getProperty("version")); }

    /** The git commit that was built ("-dirty" with uncommitted changes), or "unknown". */
    public static String build() { return known(P.getProperty("build")); }

    private static String known(String v) {
        return v == null || v.isBlank() || v.startsWith("${") ? "unknown" : v.trim();
    }
}
