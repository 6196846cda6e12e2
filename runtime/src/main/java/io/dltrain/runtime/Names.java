package io.dltrain.runtime;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * "Did you mean ...?" for a name that is none of a registry's (models, datasets, optimisers): the one valid name that
 * the given one is clearly a slip for, or nothing when none or several are. Names are compared ignoring case and the
 * separators '-', '_', '.' and spaces (ResNet-18 and resnet_18 are resnet18), then as the start of exactly one name
 * (densenet: densenet121), then by edit distance (insertions, deletions, substitutions and swaps of neighbours: one
 * edit for names up to 6 letters, two above), where the closest name must be closer than every other (resnet is as
 * close to resnet18 as to resnet34: no suggestion). Two names equally close and closer than every other (adamx: adam
 * and adamw) are both suggested by {@link #didYouMean}; three or more alike, none (vgg12: vgg11, vgg13, vgg16, vgg19).
 */
public final class Names {
    private Names() {}

    /** The valid name that {@code given} is a slip for, if exactly one is clearly meant. */
    public static Optional<String> closest(String given, Collection<String> valid) {
        List<String> m = meant(given, valid);
        return m.size() == 1 ? Optional.of(m.getFirst()) : Optional.empty();
    }

    /** The one valid name {@code given} is clearly a slip for, or the two equally close ones; else none. */
    private static List<String> meant(String given, Collection<String> valid) {
        String g = key(given);
        if (g.isEmpty()) return List.of();
        List<String> same = new ArrayList<>(), starting = new ArrayList<>();
        for (String v : valid) {
            String k = key(v);
            if (k.equals(g)) same.add(v);
            else if (g.length() >= 3 && k.startsWith(g)) starting.add(v);
        }
        if (!same.isEmpty()) return same.size() == 1 ? List.of(same.getFirst()) : List.of();
        if (starting.size() == 1) return List.of(starting.getFirst());
        int limit = g.length() <= 6 ? 1 : 2, best = Integer.MAX_VALUE;
        List<String> nearest = new ArrayList<>();
        for (String v : valid) {
            int d = distance(g, key(v));
            if (d < best) {
                best = d;
                nearest.clear();
            }
            if (d == best) nearest.add(v);
        }
        return best <= limit && nearest.size() <= 2 ? nearest : List.of();
    }

    /**
     * " (did you mean 'resnet18'?)" for an error message after the unknown name, " (did you mean 'adam' or 'adamw'?)"
     * where two are equally meant, or "" when no name is clearly meant.
     */
    public static String didYouMean(String given, Collection<String> valid) {
        List<String> m = meant(given, valid);
        return m.isEmpty() ? "" : " (did you mean '" + String.join("' or '", m) + "'?)";
    }

    /** Lower case, without '-', '_', '.' and white space: what two spellings of one name share. */
    private static String key(String name) {
        return name == null ? "" : name.toLowerCase(Locale.ROOT).replaceAll("[-_.\\s]", "");
    }

    /** Edits from a to b (optimal string alignment: insert, delete, substitute, swap two neighbours). */
    static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) d[i][0] = i;
        for (int j = 0; j <= b.length(); j++) d[0][j] = j;
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1))
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
        return d[a.length()][b.length()];
    }
}
