package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's library example, taken from README.md as it is, compiled and run: it must train to > 80% accuracy. */
class ReadmeExampleTest {

    @Test
    void readmeLibraryExampleCompilesRunsAndLearns(@TempDir Path tmp) throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher m = Pattern.compile("<!-- example:library -->\\s*```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(), "README.md has no <!-- example:library --> java block");
        Path src = tmp.resolve("QuickStart.java");
        Files.writeString(src, m.group(1));

        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diag = new ByteArrayOutputStream();
        int rc = javac.run(null, diag, diag, "-cp", cp, "-d", tmp.toString(), src.toString());
        assertEquals(0, rc, "the README example does not compile:\n" + diag);

        PrintStream saved = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {tmp.toUri().toURL()}, getClass().getClassLoader())) {
            System.setOut(new PrintStream(captured, true));
            Method main = loader.loadClass("QuickStart").getMethod("main", String[].class);
            main.invoke(null, (Object) new String[0]);
        } finally {
            System.setOut(saved);
        }
        String out = captured.toString();
        Matcher acc = Pattern.compile("test accuracy (\\d+\\.\\d+)").matcher(out);
        assertTrue(acc.find(), "no accuracy line in: " + out);
        assertTrue(Double.parseDouble(acc.group(1)) > 0.80, "README example accuracy " + acc.group(1));
        assertTrue(out.contains("first test image: class "), out);
    }
}
