package io.dltrain.runtime.optim;

/**
 * Parses the command line's learning-rate schedule specs:
 * <ul>
 *   <li>{@code constant}</li>
 *   <li>{@code step:E:G} — multiply by G every E epochs ({@link LrSchedule.StepDecay}), e.g. {@code step:30:0.1}</li>
 *   <li>{@code cosine} or {@code cosine:MIN} — cosine annealing to MIN (default 0) over the run ({@link LrSchedule.Cosine})</li>
 *   <li>{@code warmup:N,INNER} — N linear warm-up steps, then INNER, any of these specs ({@link LrSchedule.Warmup}),
 *       e.g. {@code warmup:500,cosine}</li>
 *   <li>{@code plateau[:FACTOR[:PATIENCE[:MIN_LR]]]} — reduce on a validation-loss plateau ({@link LrSchedule.Plateau});
 *       defaults as PyTorch's ReduceLROnPlateau: factor 0.1, patience 10, min 0</li>
 * </ul>
 */
public final class LrSchedules {
    private LrSchedules() {}

    public static final String FORMS = "constant, step:EPOCHS:GAMMA, cosine, cosine:MIN_LR, warmup:STEPS,<schedule>, "
            + "plateau[:FACTOR[:PATIENCE[:MIN_LR]]]";

    /** The schedules' names, the word before any ':' or ',' of a spec (what a misspelt one is compared with). */
    static final java.util.List<String> NAMES = java.util.List.of("constant", "step", "cosine", "warmup", "plateau");

    public static LrSchedule parse(String spec) {
        if (spec == null || spec.isBlank()) throw error(spec, "empty");
        String s = spec.trim();
        if (s.equals("constant")) return new LrSchedule.Constant();
        if (s.equals("cosine")) return new LrSchedule.Cosine(0);
        if (s.startsWith("cosine:")) {
            double min = number(spec, s.substring("cosine:".length()), "the minimum learning rate");
            return build(spec, () -> new LrSchedule.Cosine(min));
        }
        if (s.startsWith("step:")) {
            String[] parts = s.substring("step:".length()).split(":", -1);
            if (parts.length != 2) throw error(spec, "expected step:EPOCHS:GAMMA, e.g. step:30:0.1");
            int epochs;
            try { epochs = Integer.parseInt(parts[0]); }
            catch (NumberFormatException e) { throw error(spec, "EPOCHS '" + parts[0] + "' is not a whole number"); }
            double gamma = number(spec, parts[1], "GAMMA");
            return build(spec, () -> new LrSchedule.StepDecay(epochs, gamma));
        }
        if (s.startsWith("warmup:")) {
            String rest = s.substring("warmup:".length());
            int comma = rest.indexOf(',');
            if (comma < 0) throw error(spec, "expected warmup:STEPS,<schedule>, e.g. warmup:500,cosine");
            long n;
            try { n = Long.parseLong(rest.substring(0, comma)); }
            catch (NumberFormatException e) { throw error(spec, "STEPS '" + rest.substring(0, comma) + "' is not a whole number"); }
            LrSchedule inner = parse(rest.substring(comma + 1));
            return build(spec, () -> new LrSchedule.Warmup(n, inner));
        }
        if (s.equals("plateau") || s.startsWith("plateau:")) {
            String[] parts = s.equals("plateau") ? new String[0] : s.substring("plateau:".length()).split(":", -1);
            if (parts.length > 3) throw error(spec, "expected plateau[:FACTOR[:PATIENCE[:MIN_LR]]], e.g. plateau:0.5:3");
            double factor = parts.length > 0 ? number(spec, parts[0], "FACTOR") : 0.1;
            int patience = 10;
            if (parts.length > 1) {
                try { patience = Integer.parseInt(parts[1]); }
                catch (NumberFormatException e) { throw error(spec, "PATIENCE '" + parts[1] + "' is not a whole number"); }
            }
            double min = parts.length > 2 ? number(spec, parts[2], "MIN_LR") : 0;
            int p = patience;
            return build(spec, () -> new LrSchedule.Plateau(factor, p, 1e-4, min));
        }
        String name = s.split("[:,]", 2)[0];
        throw error(spec, "unknown schedule" + io.dltrain.runtime.Names.didYouMean(name, NAMES));
    }

    private static double number(String spec, String text, String what) {
        try {
            double v = Double.parseDouble(io.dltrain.runtime.Numbers.decimal(text));
            if (!Double.isFinite(v)) throw error(spec, what + " '" + text + "' is not finite");
            return v;
        } catch (NumberFormatException e) {
            throw error(spec, what + " '" + text + "' is not a number");
        }
    }

    /** Runs a constructor, re-throwing its range check with the spec and the valid forms in the message. */
    private static LrSchedule build(String spec, java.util.function.Supplier<LrSchedule> make) {
        try { return make.get(); }
        catch (IllegalArgumentException e) { throw error(spec, e.getMessage()); }
    }

    private static IllegalArgumentException error(String spec, String why) {
        return new IllegalArgumentException("invalid learning-rate schedule '" + spec + "': " + why + " (valid forms: " + FORMS + ")");
    }
}
