package io.dltrain.cli;

import io.dltrain.runtime.BuildInfo;
import picocli.CommandLine;

/** --version: dl-train's version and build (from the build) and the Java runtime it runs on. */
public final class VersionProvider implements CommandLine.IVersionProvider {
    static String version() {
        return BuildInfo.version();
    }

    @Override
    public String[] getVersion() {
        return new String[] {"dl-train " + version() + " (build " + BuildInfo.build() + ")",
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"};
    }
}
