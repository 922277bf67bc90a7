package io.gridpipe.flink;

import java.util.Arrays;

/**
 * The event-time window of one key as a ring of buckets (start, count, sum, sum of squares), indexed by
 * {@code floor(t / bucket) mod slots}.
 *
 * <p>Flink state (a POJO): one primitive array, because a process table function converts its state on every call
 * and one {@code double[]} converts several times faster than four arrays. Layout: {@code [latest, then per slot:
 * start, count, sum, sumSquares]}; epoch milliseconds and counts are exact in a double.
 */
public class EventTimeBuckets {
    private static final int WIDTH = 4;
    private static final double EMPTY = Double.NEGATIVE_INFINITY;

    public double[] cells;

    public EventTimeBuckets() {}

    /** Count, mean and sample standard deviation of one window. */
    public record Stats(long count, double mean, double stddev) {}

    static int slots(long windowMs, long bucketMs) {
        return (int) ((windowMs + bucketMs - 1) / bucketMs) + 1;
    }

    private void ensure(int slots) {
        if (cells == null || cells.length != 1 + WIDTH * slots) {
            cells = new double[1 + WIDTH * slots];
            Arrays.fill(cells, 0.0);
            cells[0] = EMPTY;
            for (int o = 1; o < cells.length; o += WIDTH) {
                cells[o] = EMPTY;
            }
        }
    }

    /** Statistics of the buckets that start in {@code [t - windowMs, t)}: the window before an event at t. */
    public Stats before(long t, long windowMs, long bucketMs) {
        ensure(slots(windowMs, bucketMs));
        double from = t - windowMs;
        long n = 0;
        double s = 0;
        double s2 = 0;
        for (int o = 1; o < cells.length; o += WIDTH) {
            double start = cells[o];
            if (start >= from && start < t) {
                n += (long) cells[o + 1];
                s += cells[o + 2];
                s2 += cells[o + 3];
            }
        }
        if (n < 2) {
            return new Stats(n, n == 1 ? s : Double.NaN, Double.NaN);
        }
        double mean = s / n;
        return new Stats(n, mean, Math.sqrt(Math.max(0.0, (s2 - s * mean) / (n - 1))));
    }

    /** Add an event; one older than the newest event's window is dropped, as it can never be judged against. */
    public void add(long t, double x, long windowMs, long bucketMs) {
        int slots = slots(windowMs, bucketMs);
        ensure(slots);
        double latest = Math.max(cells[0], t);
        cells[0] = latest;
        long bucket = Math.floorDiv(t, bucketMs);
        double bucketStart = (double) (bucket * bucketMs);
        if (bucketStart < latest - windowMs) {
            return;
        }
        int o = 1 + WIDTH * (int) Math.floorMod(bucket, (long) slots);
        if (cells[o] != bucketStart) {
            cells[o] = bucketStart;
            cells[o + 1] = 0;
            cells[o + 2] = 0;
            cells[o + 3] = 0;
        }
        cells[o + 1] += 1;
        cells[o + 2] += x;
        cells[o + 3] += x * x;
    }
}
