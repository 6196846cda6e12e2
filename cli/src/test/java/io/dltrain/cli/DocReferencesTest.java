package io.dltrain.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * docs/ARCHITECTURE.md, README.md and kernels/README.md are how a newcomer finds code ("an op's CPU code, CUDA code
 * and test in one minute"): every repository path, class and {@code Class.member} they name in backquotes must exist,
 * and every row of ARCHITECTURE's op table must name real {@code Backend} methods and real {@code CudaVsCpuTest} methods. A rename or
 * a move that forgets the docs fails here, naming the document, the reference and what it was looked for as.
 */
class DocReferencesTest {

    static final Path ROOT = Path.of("..");
    static final List<String> DOCS = List.of("docs/ARCHITECTURE.md", "README.md", "kernels/README.md");
    /** Capitalised names the docs give that are not our types (the JDK's, PyTorch's, PIL's; values): not looked for. */
    static final Set<String> EXTERNAL = Set.of("Double", "FileChannel", "Future", "System", "List", "Image", "ToTensor", "Haswell", "Ns",
            "IllegalArgumentException", "NoClassDefFoundError");

    /**
     * Every file and directory of the repository (relative, '/'-separated); .git, .mvn and the build and run outputs
     * that .gitignore names as directories (target/, /runs/, /out/, /dist/, ...) left out.
     */
    static final List<String> PATHS = new ArrayList<>();
    /** Type name (class, interface, record, enum; or a source file's stem) to the files that declare it. */
    static final Map<String, List<Path>> TYPES = new HashMap<>();
    static final Set<String> TOP = new TreeSet<>();
    static final Set<String> PACKAGE_DIRS = new TreeSet<>();

    @BeforeAll
    static void index() throws IOException {
        Pattern decl = Pattern.compile("\\b(?:class|interface|record|enum)\\s+([A-Z]\\w*)");
        Path gitignore = ROOT.resolve(".gitignore");
        Set<String> ignored = ignoredDirs(Files.isRegularFile(gitignore) ? Files.readString(gitignore) : "");
        Files.walkFileTree(ROOT, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                if (dir.equals(ROOT)) return FileVisitResult.CONTINUE;
                String name = dir.getFileName().toString();
                String rel = rel(dir);
                if (isIgnored(rel, ignored)) return FileVisitResult.SKIP_SUBTREE; // not sources
                PATHS.add(rel);
                if (!rel.contains("/")) TOP.add(rel);
                if (rel.matches(".*/src/(main|test)/java/io/dltrain/.+")) PACKAGE_DIRS.add(name);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                String rel = rel(file), name = file.getFileName().toString();
                PATHS.add(rel);
                if (!rel.contains("/")) TOP.add(rel);
                int dot = name.indexOf('.');
                if (dot > 0) TYPES.computeIfAbsent(name.substring(0, dot), k -> new ArrayList<>()).add(file);
                if (name.endsWith(".java")) {
                    Matcher m = decl.matcher(Files.readString(file));
                    while (m.find()) {
                        List<Path> files = TYPES.computeIfAbsent(m.group(1), k -> new ArrayList<>());
                        if (!files.contains(file)) files.add(file);
                    }
                }
                return FileVisitResult.CONTINUE;
            }
        });
        assertTrue(TYPES.containsKey("CpuBackend") && TOP.contains("runtime"), "the repository index is empty: run from cli/");
    }

    static String rel(Path p) { return ROOT.relativize(p).toString().replace('\\', '/'); }

    /**
     * The directories left out of the index: .git, .mvn and target, and those .gitignore names whole ({@code target/} at any
     * depth, {@code /runs/} at the top), as "name" or "/name". A checkout's own runs (`--out runs/exp1`, the default
     * runs/...) are not the repository: indexed, they made `runs/...` in README a repository path, looked for there.
     */
    static Set<String> ignoredDirs(String gitignore) {
        Set<String> out = new TreeSet<>(Set.of(".git", ".mvn", "target")); // target: also without a .gitignore
        for (String line : gitignore.lines().map(String::strip).toList())
            if (line.matches("/?[\\w.-]+/")) out.add(line.substring(0, line.length() - 1));
        return out;
    }

    /** Whether the directory rel (relative, '/'-separated) is left out: its name is ignored, or from the top, its path. */
    static boolean isIgnored(String rel, Set<String> ignored) {
        return ignored.contains(rel.substring(rel.lastIndexOf('/') + 1)) || ignored.contains("/" + rel);
    }

    @Test
    void runAndBuildOutputsAreNotPartOfTheIndex() throws IOException {
        Set<String> ignored = ignoredDirs(Files.readString(ROOT.resolve(".gitignore")));
        for (String dir : List.of("runs", "out", "dist", ".git", ".mvn", "target", "cli/target", "runtime/.cifuzz-corpus"))
            assertTrue(isIgnored(dir, ignored), dir + " is indexed (ignored: " + ignored + ")");
        for (String dir : List.of("cli", "runtime/src/main/java", "benchmarks/gpu", "cli/src/main/java/io/dltrain/cli/out"))
            assertTrue(!isIgnored(dir, ignored), dir + " is left out (ignored: " + ignored + ")");
        assertTrue(PATHS.stream().noneMatch(p -> p.equals("runs") || p.startsWith("runs/") || p.startsWith("out/") || p.startsWith("dist/")),
                "the index holds run or build outputs");
    }

    /** The backquoted spans of a document, each with the line it starts on. */
    static List<String[]> spans(String doc) throws IOException {
        // fenced code blocks (commands, YAML, Java) hold no backquoted names; blank them, keeping the line count
        String text = Pattern.compile("(?ms)^```.*?^```").matcher(Files.readString(ROOT.resolve(doc)))
                .replaceAll(r -> r.group().replaceAll("[^\n]", " "));
        List<String[]> out = new ArrayList<>();
        Matcher m = Pattern.compile("`([^`]+)`").matcher(text);
        while (m.find()) {
            int line = (int) text.substring(0, m.start()).chars().filter(c -> c == '\n').count() + 1;
            out.add(new String[] {m.group(1), doc + ":" + line});
        }
        return out;
    }

    /** A path pattern: '<placeholder>' and '*' stand for any name part, '...' for any folders, '{a,b}' for either. */
    static Pattern pathPattern(String p) {
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < p.length(); i++) {
            char c = p.charAt(i);
            if (p.startsWith("...", i)) { re.append(".*"); i += 2; }
            else if (c == '*') re.append("[^/]*");
            else if (c == '<') { i = p.indexOf('>', i); re.append("[^/]+"); }
            else if (c == '{') { int end = p.indexOf('}', i); re.append("(?:").append(p.substring(i + 1, end).replace(",", "|")).append(')'); i = end; }
            else re.append(Pattern.quote(String.valueOf(c)));
        }
        return Pattern.compile(re.toString());
    }

    /** Whether p names a repository path: from the root, or as the end of one (a package-relative `backend/cpu/CpuConv`). */
    static boolean pathExists(String p) {
        String q = p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
        Pattern whole = pathPattern(q);
        Pattern tail = Pattern.compile("(?:.*/)?" + whole.pattern() + "(?:\\.java)?");
        for (String rel : PATHS) if (whole.matcher(rel).matches() || tail.matcher(rel).matches()) return true;
        return false;
    }

    /** Whether a backquoted span looks like a repository path (and not a run's output such as `checkpoints/best/`). */
    static boolean isRepoPath(String s) {
        if (!s.matches("[\\w.<>*{},-]+(/[\\w.<>*{},-]*)+") || s.startsWith("/")) return false;
        if (s.matches("(.*/)?target/.*")) return false; // build outputs: cli/target/dl-train.jar
        String first = s.substring(0, s.indexOf('/'));
        return TOP.contains(first) || PACKAGE_DIRS.contains(first) || s.matches(".*\\.(java|cu|cuh|cpp|h|py|sh|md)");
    }

    @Test
    void everyPathClassAndMemberTheDocsNameExists() throws IOException {
        Pattern member = Pattern.compile("([A-Z][a-z]\\w*)(?:[.#]([a-zA-Z_]\\w*))?(?:\\(.*\\))?");
        List<String> missing = new ArrayList<>();
        int paths = 0, types = 0;
        for (String doc : DOCS) {
            for (String[] span : spans(doc)) {
                String s = span[0].strip(), where = span[1];
                if (isRepoPath(s)) {
                    paths++;
                    String last = s.substring(s.lastIndexOf('/') + 1);
                    // `testing/Check.gradients`, `datasets/transform/Seeds.sample`: a path, then a member of its class
                    Matcher pm = Pattern.compile("([A-Z]\\w*)\\.([a-z]\\w*)").matcher(last);
                    if (pathExists(s)) continue;
                    if (pm.matches() && pathExists(s.substring(0, s.lastIndexOf('/') + 1) + pm.group(1))) {
                        if (!declaresMember(pm.group(1), pm.group(2))) missing.add(where + ": `" + s + "`: " + pm.group(1) + " has no " + pm.group(2));
                        continue;
                    }
                    missing.add(where + ": `" + s + "`: no such file or directory in the repository");
                    continue;
                }
                Matcher m = member.matcher(s);
                if (!m.matches() || EXTERNAL.contains(m.group(1)) || TOP.contains(s)) continue; // `Dockerfile`
                types++;
                if (!TYPES.containsKey(m.group(1))) missing.add(where + ": `" + s + "`: no class, interface, record or enum " + m.group(1));
                else if (m.group(2) != null && !declaresMember(m.group(1), m.group(2)))
                    missing.add(where + ": `" + s + "`: " + m.group(1) + " (" + TYPES.get(m.group(1)) + ") has no " + m.group(2));
            }
        }
        assertTrue(paths > 50 && types > 200, "too few references found (" + paths + " paths, " + types + " types): is the span parsing broken?");
        assertEquals(List.of(), missing, "the docs name things that do not exist (moved or renamed?): fix the doc or the EXTERNAL list");
    }

    static boolean declaresMember(String type, String name) {
        Pattern word = Pattern.compile("\\b" + Pattern.quote(name) + "\\b");
        for (Path f : TYPES.getOrDefault(type, List.of())) {
            try {
                if (word.matcher(Files.readString(f)).find()) return true;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return false;
    }

    /** ARCHITECTURE's "where each Backend op lives" table: the ops are Backend's, the last column CudaVsCpuTest's methods. */
    @Test
    void theOpTableNamesRealBackendOpsAndCudaVsCpuTests() throws IOException {
        String backend = Files.readString(TYPES.get("Backend").stream().filter(p -> p.toString().endsWith("backend/Backend.java")).findFirst().orElseThrow());
        String cudaVsCpu = Files.readString(TYPES.get("CudaVsCpuTest").getFirst());
        List<String> wrong = new ArrayList<>();
        int rows = 0;
        for (String line : Files.readString(ROOT.resolve("docs/ARCHITECTURE.md")).lines().toList()) {
            String[] cells = line.split(" \\| ");
            if (!line.startsWith("| `") || cells.length != 5 || cells[1].equals("CPU")) continue; // rows, not the header
            rows++;
            for (String op : names(cells[0]))
                if (!Pattern.compile("\\s" + op + "\\(").matcher(backend).find()) wrong.add(op + ": not a Backend method");
            for (String test : names(cells[4]))
                if (!Pattern.compile("void " + test + "\\(").matcher(cudaVsCpu).find()) wrong.add(test + ": not a CudaVsCpuTest method");
        }
        assertTrue(rows >= 15, "the op table was not found (" + rows + " rows)");
        assertEquals(List.of(), wrong, "docs/ARCHITECTURE.md's op table");
    }

    /**
     * README's "Using the command" is where an ops team reads the options: every long option of every command and
     * subcommand (`dl-train --help`, `dl-train bench --help`, ...) must appear in README.md. bench's --warmup, --steps,
     * --windows, --image-size, --precision and --cudnn-search were in its --help only.
     */
    @Test
    void everyCommandLineOptionIsInTheReadme() throws IOException {
        String readme = Files.readString(ROOT.resolve("README.md"));
        List<String> missing = new ArrayList<>();
        List<picocli.CommandLine> todo = new ArrayList<>(List.of(new picocli.CommandLine(new DlTrain())));
        int options = 0;
        while (!todo.isEmpty()) {
            picocli.CommandLine c = todo.removeFirst();
            todo.addAll(c.getSubcommands().values());
            for (picocli.CommandLine.Model.OptionSpec o : c.getCommandSpec().options()) {
                String name = o.longestName();
                if (!name.startsWith("--")) continue;
                options++;
                if (!Pattern.compile(Pattern.quote(name) + "(?![\\w-])").matcher(readme).find()) missing.add(c.getCommandName() + " " + name);
            }
        }
        assertTrue(options > 40, "options found: " + options);
        assertEquals(List.of(), missing, "options of `dl-train ... --help` that README.md does not mention");
    }

    /**
     * The defaults README states (the default recipe's "Training options" list, bench's `--warmup 10`, `--windows 5`,
     * `--steps 50`, `--keep 3`, `--checkpoint-every 1e`, predict's `--top-k` and each command's `--device`) are the ones
     * the commands apply: picocli's default values, and for --optimizer, --lr, --momentum and --weight-decay, which
     * have none (they depend on the optimiser), the recipe's optimiser and its own defaults. An ops team copies these
     * values from README, not from --help.
     */
    @Test
    void theDefaultsTheReadmeStatesAreTheCommandsDefaults() throws IOException {
        String readme = Files.readString(ROOT.resolve("README.md")).replaceAll("\\s+", " ");
        picocli.CommandLine root = new picocli.CommandLine(new DlTrain());
        List<String> wrong = new ArrayList<>();
        int checked = 0;
        Matcher recipe = Pattern.compile("Training options \\(defaults are the default recipe\\): `([^`]+)`").matcher(readme);
        assertTrue(recipe.find(), "README's 'Training options (defaults are the default recipe): `...`' list was not found");
        Matcher pair = Pattern.compile("(--[a-z-]+) (\\S+)").matcher(recipe.group(1));
        String optimizer = TrainRun.defaultOptimizer("lenet5");
        while (pair.find()) {
            String option = pair.group(1), value = pair.group(2);
            if (value.matches("[A-Z]+")) continue; // `--data-dir DIR`: a placeholder
            checked++;
            String actual = switch (option) {
                case "--optimizer" -> optimizer;
                case "--lr" -> String.valueOf(io.dltrain.runtime.optim.Optimizers.defaultLr(optimizer));
                case "--momentum" -> String.valueOf(io.dltrain.runtime.optim.Optimizers.defaultMomentum(optimizer));
                case "--weight-decay" -> String.valueOf(io.dltrain.runtime.optim.Optimizers.defaultWeightDecay(optimizer));
                default -> defaultValue(root.getSubcommands().get("train"), option);
            };
            if (!sameValue(value, actual)) wrong.add("train " + option + ": README says " + value + ", the command's default is " + actual);
        }
        String[][] spans = {{"bench", "--warmup"}, {"bench", "--windows"}, {"bench", "--steps"}, {"train", "--keep"}, {"train", "--checkpoint-every"}};
        for (String[] s : spans) {
            Matcher m = Pattern.compile("`" + s[1] + " (\\w+)`").matcher(readme);
            if (!m.find()) { wrong.add(s[0] + " " + s[1] + ": README states no default (`" + s[1] + " VALUE`)"); continue; }
            checked++;
            String actual = defaultValue(root.getSubcommands().get(s[0]), s[1]);
            if (!sameValue(m.group(1), actual)) wrong.add(s[0] + " " + s[1] + ": README says " + m.group(1) + ", the command's default is " + actual);
        }
        Matcher topK = Pattern.compile("`--top-k` \\(default (\\w+)\\)").matcher(readme);
        assertTrue(topK.find(), "README's \"`--top-k` (default N)\" was not found");
        checked++;
        if (!sameValue(topK.group(1), defaultValue(root.getSubcommands().get("predict"), "--top-k")))
            wrong.add("predict --top-k: README says " + topK.group(1) + ", the command's default is " + defaultValue(root.getSubcommands().get("predict"), "--top-k"));
        Matcher device = Pattern.compile("`predict`'s default is `(\\w+)`, where `train`, `eval` and `bench` default to `(\\w+)`").matcher(readme);
        assertTrue(device.find(), "README's sentence on each command's --device default was not found");
        for (String command : List.of("predict", "train", "eval", "bench")) {
            checked++;
            String said = command.equals("predict") ? device.group(1) : device.group(2);
            String actual = defaultValue(root.getSubcommands().get(command), "--device");
            if (!said.equals(actual)) wrong.add(command + " --device: README says " + said + ", the command's default is " + actual);
        }
        assertTrue(checked >= 20, "too few defaults found in README (" + checked + "): is the parsing broken?");
        assertEquals(List.of(), wrong, "README.md states other defaults than the commands apply");
    }

    static String defaultValue(picocli.CommandLine command, String option) {
        picocli.CommandLine.Model.OptionSpec o = command.getCommandSpec().findOption(option);
        assertTrue(o != null, command.getCommandName() + " has no option " + option);
        return o.defaultValue();
    }

    /** Equal as text, or as numbers ("0.0005" and "5.0E-4", "0" and "0.0"). */
    static boolean sameValue(String said, String actual) {
        if (said.equals(actual)) return true;
        try {
            return actual != null && Double.parseDouble(said) == Double.parseDouble(actual);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    static List<String> names(String cell) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("`(\\w+)`").matcher(cell);
        while (m.find()) out.add(m.group(1));
        return out;
    }
}
