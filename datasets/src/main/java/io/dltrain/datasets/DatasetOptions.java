package io.dltrain.datasets;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Options given in a registry name after a colon: {@code name:positional,key=value,key=value}, e.g.
 * {@code synthetic:3x64x64,classes=100} or {@code imagenet-subset:size=160,skipbad=true}. At most one positional
 * value (without '='), first; keys are case-insensitive and each may appear once. Unknown keys (checked when
 * parsing) and bad values (checked on lookup) are {@link DatasetException}s naming the dataset, the key and the
 * valid keys.
 */
final class DatasetOptions {
    private final String dataset;
    private final String text;
    private final List<String> validKeys;
    private final String positional;
    private final Map<String, String> values = new LinkedHashMap<>();

    /** Parses {@code text} (the part after the colon; null or "" for none) for dataset {@code dataset}. */
    DatasetOptions(String dataset, String text, List<String> validKeys, boolean allowPositional) {
        this.dataset = dataset;
        this.text = text == null ? "" : text;
        this.validKeys = validKeys;
        String pos = null;
        if (!this.text.isBlank()) {
            String[] parts = this.text.split(",", -1);
            for (int i = 0; i < parts.length; i++) {
                String p = parts[i].strip();
                if (p.isEmpty()) throw error("empty option in '" + this.text + "'");
                int eq = p.indexOf('=');
                if (eq < 0) {
                    if (i > 0 || !allowPositional)
                        throw error("'" + p + "' is not key=value" + (allowPositional ? " (only the first option may be a bare value)" : ""));
                    pos = p;
                    continue;
                }
                String key = p.substring(0, eq).strip().toLowerCase(Locale.ROOT), value = p.substring(eq + 1).strip();
                if (!validKeys.contains(key)) throw error("unknown option '" + key + "'");
                if (value.isEmpty()) throw error("option '" + key + "' has no value");
                if (values.put(key, value) != null) throw error("option '" + key + "' given twice");
            }
        }
        this.positional = pos;
    }

    /** The dataset's registry name, without the options. */
    String dataset() { return dataset; }

    /** The bare first value, or null. */
    String positional() { return positional; }

    boolean has(String key) { return values.containsKey(key); }

    String getString(String key, String dflt) { return values.getOrDefault(key, dflt); }

    int getInt(String key, int dflt) {
        String v = values.get(key);
        return v == null ? dflt : parseInt(v, key);
    }

    long getLong(String key, long dflt) {
        String v = values.get(key);
        if (v == null) return dflt;
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw error("option '" + key + "' must be an integer, got '" + v + "'");
        }
    }

    float getFloat(String key, float dflt) {
        String v = values.get(key);
        if (v == null) return dflt;
        try {
            float f = Float.parseFloat(io.dltrain.runtime.Numbers.decimal(v));
            if (!Float.isFinite(f)) throw new NumberFormatException();
            return f;
        } catch (NumberFormatException e) {
            throw error("option '" + key + "' must be a finite number, got '" + v + "'");
        }
    }

    boolean getBoolean(String key, boolean dflt) {
        String v = values.get(key);
        if (v == null) return dflt;
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "true" -> true; // as a flag's and a --config file's: YAML 1.1's yes/on/no/off are not booleans
            case "false" -> false;
            default -> throw error("option '" + key + "' must be true or false, got '" + v + "'");
        };
    }

    int parseInt(String v, String what) {
        try {
            return Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw error(what + " must be an integer, got '" + v + "'");
        }
    }

    DatasetException error(String problem) {
        List<String> keys = new ArrayList<>(validKeys);
        return new DatasetException("dataset '" + dataset + (text.isEmpty() ? "" : ":" + text) + "': " + problem
                + (keys.isEmpty() ? "; this dataset takes no options" : "; valid options: " + String.join(", ", keys)));
    }
}
