package io.dltrain.cli;

import io.dltrain.runtime.checkpoint.Checkpoint;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the commands say about checkpoint directories with a file missing, which {@link Checkpoint#latest} passes over
 * (damage from outside: a file deleted, a copy cut short). Every command that takes a run's latest checkpoint (train
 * --resume and --init-from, eval, predict) names those it skipped and the one it took, rather than silently go back
 * to an older checkpoint; where none is complete, its error names them.
 */
final class IncompleteCheckpoints {
    private IncompleteCheckpoints() {}

    /** "the incomplete checkpoint DIR (no state.json)", or "the incomplete checkpoints A (no ...), B (no ...)". */
    static String describe(List<Path> dirs) {
        List<String> each = new ArrayList<>();
        for (Path d : dirs) {
            List<String> missing = new ArrayList<>();
            for (String f : List.of(Checkpoint.STATE_FILE, Checkpoint.MODEL_FILE)) if (!Files.isRegularFile(d.resolve(f))) missing.add(f);
            each.add(d + " (no " + String.join(" or ", missing) + ")");
        }
        return "the incomplete checkpoint" + (dirs.size() == 1 ? " " : "s ") + String.join(", ", each);
    }

    /**
     * Prints "dl-train: notice: skipping the incomplete checkpoint ...; {@code doing} TAKEN, the latest complete
     * checkpoint" when {@code taken}, a checkpoint that {@link Checkpoint#latest} returned, has incomplete ones at or
     * above its step beside it; nothing otherwise (nor for a directory that is no {@code ckpt-<step>}, such as model/).
     *
     * @param doing what the command does with it: "resuming from", "using", "initialising from"
     */
    static void noticeSkipped(PrintWriter out, Path taken, String doing) {
        long step = Checkpoint.step(taken);
        if (step < 0 || taken.getParent() == null) return;
        List<Path> skipped = Checkpoint.incomplete(taken.getParent(), step);
        if (!skipped.isEmpty())
            out.println("dl-train: notice: skipping " + describe(skipped) + "; " + doing + " " + taken + ", the latest complete checkpoint");
    }
}
