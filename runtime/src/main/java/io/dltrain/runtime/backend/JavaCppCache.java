package io.dltrain.runtime.backend;

/**
 * JavaCPP extracts the native libraries it loads (OpenBLAS, the CUDA bindings) into a cache directory: the
 * {@code org.bytedeco.javacpp.cachedir} system property if set, else {@code user.home/.javacpp/cache}, else
 * {@code java.io.tmpdir/.javacpp-USER/cache}. Where none can be created (a read-only container without a home) every
 * native load fails with "Could not create the cache"; this recognises that failure and says the way out.
 */
public final class JavaCppCache {
    private JavaCppCache() {}

    /** Whether t, or a throwable in its cause chain, is JavaCPP's failure to create its cache directory. */
    public static boolean isCacheFailure(Throwable t) {
        for (int depth = 0; t != null && depth < 16; t = t.getCause(), depth++)
            if (t.getMessage() != null && t.getMessage().contains("Could not create the cache")) return true;
        return false;
    }

    /** {@link #advice(String, String, String, String)} for this JVM's cache setting, user.home, java.io.tmpdir and user.name. */
    public static String advice() {
        return advice(System.getProperty("org.bytedeco.javacpp.cachedir"), System.getProperty("user.home"),
                System.getProperty("java.io.tmpdir"), System.getProperty("user.name"));
    }

    /** What was tried (cacheDir: the property's value, null when unset) and what to do, for a message after "...: ". */
    public static String advice(String cacheDir, String userHome, String tmpDir, String user) {
        String first = cacheDir != null ? cacheDir + " (-Dorg.bytedeco.javacpp.cachedir)" : userHome + "/.javacpp/cache";
        return "neither " + first + " nor " + tmpDir + "/.javacpp-" + user + "/cache could be created;"
                + " give a writable directory with -Dorg.bytedeco.javacpp.cachedir=DIR (for ./dl-train in DL_TRAIN_JAVA_OPTS,"
                + " for java -jar or the container image in JDK_JAVA_OPTIONS), or run with a writable home directory";
    }
}
