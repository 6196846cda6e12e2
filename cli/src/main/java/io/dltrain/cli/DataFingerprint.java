package io.dltrain.cli;

import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.train.Task;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * What a resume checks its training data against besides the count: a hash of a few samples (their values as the
 * dataset delivers them, and their labels or targets), recorded in each checkpoint ({@value #KEY} in state.json's
 * config). Other data of the same count (fashion-mnist's files where mnist's were, both 60,000) hashes otherwise; the
 * same files moved elsewhere hash the same. Cheap: {@value #SAMPLES} samples are read, spread over the split.
 */
final class DataFingerprint {
    private DataFingerprint() {}

    static final String KEY = "train_fingerprint";
    static final int SAMPLES = 8;

    /**
     * {@link #of(Dataset)} read on a thread of its own for at most {@code limit}: a read that hangs (a network file
     * system that stopped answering, a FIFO among the images) must not hang the run before its training, which has its
     * own notices and stop for such reads (DataLoader.noticeSlowWaits). Past the limit, null (nothing recorded or
     * checked), {@code notice} told why, and the read left to its daemon thread.
     */
    static String of(Dataset d, java.time.Duration limit, java.util.function.Consumer<String> notice) {
        java.util.concurrent.FutureTask<String> read = new java.util.concurrent.FutureTask<>(() -> of(d));
        Thread t = new Thread(read, "dl-train-data-fingerprint");
        t.setDaemon(true);
        t.start();
        try {
            return read.get(limit.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            notice.accept("reading " + SAMPLES + " samples of " + d.name() + " for its fingerprint took over " + limit.toSeconds()
                    + " s: the fingerprint is left out (a resume checks the training data by its count only)");
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (java.util.concurrent.ExecutionException e) {
            return null; // of() returns null for unreadable samples; anything else: no fingerprint, the training says what is wrong
        }
    }

    /**
     * "sha256:" and 16 hex digits over samples 0, n/7, ..., n-1 (as read before any epoch, so without an epoch's
     * augmentation); null for an empty split or one whose samples cannot be read now (the training says which).
     */
    static String of(Dataset d) {
        int n = d.size();
        if (n == 0) return null;
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            float[] x = new float[d.sampleShape().size()];
            ByteBuffer b = ByteBuffer.allocate(4 * x.length + 12);
            int last = -1;
            for (int k = 0; k < SAMPLES; k++) {
                int i = (int) ((long) k * (n - 1) / (SAMPLES - 1));
                if (i == last) continue;
                last = i;
                int y = d.read(i, x, 0);
                b.clear();
                b.putInt(i).putInt(y);
                if (d.task() == Task.REGRESSION) b.putFloat(d.target(i));
                for (float v : x) b.putFloat(v);
                sha.update(b.array(), 0, b.position());
            }
            return "sha256:" + HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every Java platform has SHA-256
        } catch (RuntimeException unreadable) {
            return null;
        }
    }
}
