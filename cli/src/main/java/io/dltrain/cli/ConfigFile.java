package io.dltrain.cli;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * {@code --config FILE} for training: a YAML ({@code .yaml}, {@code .yml}) or JSON ({@code .json}) mapping from long
 * option names without dashes to values, e.g. {@code epochs: 5} or {@code {"batch-size": 64}}. It is a picocli
 * default-value provider: the file's values replace the built-in defaults, so an option given on the command line
 * still wins. The file must be known before picocli resolves defaults, so {@link #install} pre-scans the raw
 * arguments for {@code --config}. Everything is checked before anything runs — file type, readability, syntax, that
 * every key names a training option and that every value converts to the option's type — and each failure is a
 * {@link ConfigException} naming the file (and the key), which Main reports as a usage error (exit code 2).
 */
final class ConfigFile implements CommandLine.IDefaultValueProvider {
    /** A config file that cannot be used; the message names the file and, where there is one, the key. */
    static final class ConfigException extends RuntimeException {
        ConfigException(String message) { super(message); }
    }

    private final Path file;
    private final Map<String, String> values;

    private ConfigFile(Path file, Map<String, String> values) {
        this.file = file;
        this.values = values;
    }

    /** The file's settings: key (long option name without dashes) to the value as it would be typed. */
    Map<String, String> values() { return values; }

    Path file() { return file; }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec o)) return null;
        return values.get(o.longestName().replaceFirst("^--", ""));
    }

    /**
     * If {@code args} contain {@code --config FILE} (or {@code --config=FILE}), loads FILE and makes it the default
     * value provider of {@code cl} (the top-level command) and its {@code train} subcommand; otherwise does nothing.
     * A {@code --config} without a value is left to picocli to report.
     *
     * @throws ConfigException if the file cannot be used
     */
    static void install(CommandLine cl, String[] args) {
        String name = configArgument(args);
        if (name == null) return;
        ConfigFile c = load(name);
        cl.getCommandSpec().defaultValueProvider(c);
        CommandLine train = cl.getSubcommands().get("train");
        if (train != null) train.getCommandSpec().defaultValueProvider(c);
    }

    /** The value of the last {@code --config} before any {@code --} end-of-options marker, or null. */
    static String configArgument(String[] args) {
        String found = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) break;
            if (a.equals("--config") && i + 1 < args.length) found = args[++i];
            else if (a.startsWith("--config=")) found = a.substring("--config=".length());
        }
        return found;
    }

    /** Reads and checks a config file (type by extension). */
    static ConfigFile load(String name) {
        if (name.isEmpty()) throw new ConfigException("--config: an empty path (an unset variable?); give a .yaml, .yml or .json file");
        Path file;
        try {
            file = Path.of(name);
        } catch (InvalidPathException e) {
            throw new ConfigException("config file '" + name + "': not a valid path (" + e.getMessage() + ")");
        }
        String lower = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean yaml = lower.endsWith(".yaml") || lower.endsWith(".yml");
        if (!yaml && !lower.endsWith(".json"))
            throw new ConfigException(name + ": unknown config file type: the name must end in .yaml, .yml (YAML) or .json (JSON)");
        if (Files.isDirectory(file)) throw new ConfigException(name + ": is a directory, expected a config file");
        if (!Files.exists(file)) throw new ConfigException(name + ": config file not found");
        ObjectMapper mapper = yaml ? new YAMLMapper() : new ObjectMapper();
        String format = yaml ? "YAML" : "JSON";
        JsonNode root;
        try {
            try (JsonParser parser = mapper.createParser(file.toFile())) {
                root = parser.nextToken() == null ? null : verbatim(parser);
            }
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
            // Jackson names the source as "[Source: REDACTED (...); line: 1, column: 12]"; the file is named already
            String why = e.getOriginalMessage().replaceAll("\\[Source: [^;]*; line: (\\d+), column: (\\d+)]", "line $1, column $2");
            throw new ConfigException(name + ": malformed " + format + where + ": " + why);
        } catch (IOException e) {
            throw new ConfigException(name + ": cannot read the config file: " + OutputDir.reason(e));
        }
        Map<String, String> values = new LinkedHashMap<>();
        if (root == null || root.isMissingNode() || root.isNull()) return new ConfigFile(file, values); // empty file: no settings
        if (!root.isObject())
            throw new ConfigException(name + ": expected a " + format + " mapping of option names to values (e.g. epochs: 5),"
                    + " got " + kind(root));
        // Keys and values are checked against a fresh train command, so the check is independent of the command line.
        CommandSpec spec = new CommandLine(new TrainCommand()).getCommandSpec();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            JsonNode v = e.getValue();
            if (key.equals("config"))
                throw new ConfigException(name + ": key 'config': a config file cannot name another config file");
            OptionSpec o = key.startsWith("-") ? null : spec.findOption("--" + key);
            if (o == null || o.usageHelp() || o.versionHelp() || !o.longestName().equals("--" + key))
                throw new ConfigException(name + ": unknown key '" + key + "'" + dashed(spec, key) + "; keys are the long training"
                        + " option names without dashes: " + String.join(", ", validKeys(spec)));
            String text = valueText(name, key, o, v);
            try {
                Main.withConverters(new CommandLine(new TrainCommand())).parseArgs("--" + key + "=" + text);
            } catch (CommandLine.ParameterException pe) {
                throw new ConfigException(name + ": key '" + key + "': " + pe.getMessage());
            }
            values.put(key, text);
        }
        return new ConfigFile(file, values);
    }

    /**
     * The value as it would be typed after {@code --key=}: a scalar as is; for a repeatable option with a split
     * (e.g. {@code freeze}), a list of scalars joined by the split, so {@code freeze: [conv1., bn1.]} is
     * {@code --freeze=conv1.,bn1.}.
     */
    private static String valueText(String name, String key, OptionSpec o, JsonNode v) {
        if (v.isValueNode() && !v.isNull()) return v.asText();
        boolean listOption = o.isMultiValue() && o.splitRegex() != null && !o.splitRegex().isEmpty();
        if (v.isArray() && listOption && !v.isEmpty()) {
            String separator = o.splitRegex(); // a literal "," for every list option we have
            StringBuilder joined = new StringBuilder();
            for (JsonNode item : v) {
                if (!item.isValueNode() || item.isNull())
                    throw new ConfigException(name + ": key '" + key + "': expected a list of single values, got an item that is "
                            + kind(item));
                if (!joined.isEmpty()) joined.append(separator);
                joined.append(item.asText());
            }
            return joined.toString();
        }
        throw new ConfigException(name + ": key '" + key + "': expected " + (listOption ? "a value or a list of values" : "a single value")
                + ", got " + (v.isArray() && v.isEmpty() ? "an empty list" : kind(v)));
    }

    /**
     * The value at the parser's current token as a tree whose scalars are text nodes holding the file's own spelling:
     * YAML reads {@code freeze: 0.} as the float 0.0 and {@code lr: 1e-3} as 0.001, but the option is to get what the
     * user typed, as it would on the command line.
     */
    private static JsonNode verbatim(JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.START_OBJECT) {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                // YAML and JSON parsers keep the last of two equal keys; a file that says "epochs" twice is a mistake
                if (o.has(key)) throw new JsonParseException(p, "the key '" + key + "' appears twice; give it once");
                p.nextToken();
                o.set(key, verbatim(p));
            }
            return o;
        }
        if (t == JsonToken.START_ARRAY) {
            ArrayNode a = JsonNodeFactory.instance.arrayNode();
            for (JsonToken next = p.nextToken(); next != JsonToken.END_ARRAY; next = p.nextToken()) {
                if (next == null) throw new JsonParseException(p, "unexpected end of file in a list");
                a.add(verbatim(p));
            }
            return a;
        }
        if (t == JsonToken.VALUE_NULL) return JsonNodeFactory.instance.nullNode();
        return JsonNodeFactory.instance.textNode(p.getText());
    }

    /**
     * ", did you mean 'batch-size'?" for a key written with underscores (summary.json's and state.json's spelling,
     * batch_size) whose dashed form is a key; else "".
     */
    private static String dashed(CommandSpec spec, String key) {
        String d = key.replace('_', '-');
        return !d.equals(key) && validKeys(spec).contains(d) ? ", did you mean '" + d + "'? (option names use dashes)" : "";
    }

    private static TreeSet<String> validKeys(CommandSpec spec) {
        TreeSet<String> keys = new TreeSet<>();
        for (OptionSpec o : spec.options())
            if (!o.usageHelp() && !o.versionHelp() && o.longestName().startsWith("--") && !o.longestName().equals("--config"))
                keys.add(o.longestName().substring(2));
        return keys;
    }

    private static String kind(JsonNode n) {
        return n.isArray() ? "a list" : n.isObject() ? "a mapping" : n.isNull() ? "nothing (null)" : "the single value " + n;
    }
}
