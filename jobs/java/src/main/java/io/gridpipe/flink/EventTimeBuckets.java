package io.gridpipe.flink;

import java.util.Arrays;

/**
 * The event-time window of one key as a ring of buckets (start, count, mean, M2), indexed by
 * {@code floor(t / bucket) mod slots}. M2 is the sum of squared deviations from the bucket's mean, kept by Welford's
 * update: unlike a sum of squares it does not cancel catastrophically, and a constant series gives exactly 0.
 *
 * <p>Flink state (a POJO): one primitive array, because a process table function converts its state on every call
 * and one {@code double[]} converts several times faster than four arrays. Layout: {@code [latest, layout, then per
 * slot: start, count, mean, m2]}; epoch milliseconds and counts are exact in a double.
 */
public class EventTimeBuckets {
    private static final int HEADER = 2;
    private static final int WIDTH = 4;
    private static final double EMPTY = Double.NEGATIVE_INFINITY;
    /** The (count, mean, M2) layout. State of the earlier (count, sum, sum of squares) layout is reset, not misread. */
    private static final double LAYOUT = 2;
    /**
     * A stddev at or below this fraction of |mean| counts as zero (docs/detection.md): far above the rounding of the
     * readings and of these statistics, far below what a meter resolves (0.23 microvolts at 230 V).
     */
    static final double RELATIVE_STDDEV_FLOOR = 1e-9;

    public double[] cells;

    public EventTimeBuckets() {}

    /** Count, mean and sample standard deviation of one window. */
    public record Stats(long count, double mean, double stddev) {
        /** Whether the window's stddev is above the floor below which it counts as zero. */
        public boolean hasSpread() {
            return stddev > RELATIVE_STDDEV_FLOOR * Math.abs(mean);
        }
    }

    static int slots(long windowMs, long bucketMs) {
        return (int) ((windowMs + bucketMs - 1) / bucketMs) + 1;
    }

    private void ensure(int slots) {
        if (cells == null || cells.length != HEADER + WIDTH * slots || cells[1] != LAYOUT) {
            cells = new double[HEADER + WIDTH * slots];
            Arrays.fill(cells, 0.0);
            cells[0] = EMPTY;
            cells[1] = LAYOUT;
            for (int o = HEADER; o < cells.length; o += WIDTH) {
                cells[o] = EMPTY;
            }
        }
    }

    /** Whether t is older than the key's newest event minus the window: too late to be judged or stored. */
    public boolean isLate(long t, long windowMs) {
        return cells != null && t < cells[0] - windowMs;
    }

    /** Statistics of the buckets that start in {@code [t - windowMs, t)}: the window before an event at t. */
    public Stats before(long t, long windowMs, long bucketMs) {
        ensure(slots(windowMs, bucketMs));
        double from = t - windowMs;
        long n = 0;
        // Buckets are merged as sums of deviations from the first bucket's mean (shift), which lies within the
        // window's range, so nothing cancels catastrophically and equal bucket means give M2 exactly 0.
        double shift = Double.NaN;
        double sum = 0;
        double sumSquares = 0;
        for (int o = HEADER; o < cells.length; o += WIDTH) {
            double start = cells[o];
            if (start >= from && start < t) {
                double count = cells[o + 1];
                if (n == 0) {
                    shift = cells[o + 2];
                }
                double d = cells[o + 2] - shift;
                n += (long) count;
                sum += count * d;
                sumSquares += cells[o + 3] + count * d * d;
            }
        }
        if (n < 2) {
            return new Stats(n, shift, Double.NaN);
        }
        double offset = sum / n;
        return new Stats(n, shift + offset, Math.sqrt(Math.max(0.0, (sumSquares - sum * offset) / (n - 1))));
    }

    /** Add an event; a late one ({@link #isLate}) is dropped, as its slot may hold a newer bucket. */
    public void add(long t, double x, long windowMs, long bucketMs) {
        int slots = slots(windowMs, bucketMs);
        ensure(slots);
        if (isLate(t, windowMs)) {
            return;
        }
        cells[0] = Math.max(cells[0], t);
        long bucket = Math.floorDiv(t, bucketMs);
        double bucketStart = (double) (bucket * bucketMs);
        int o = HEADER + WIDTH * (int) Math.floorMod(bucket, (long) slots);
        if (cells[o] != bucketStart) {
            cells[o] = bucketStart;
            cells[o + 1] = 0;
            cells[o + 2] = 0;
            cells[o + 3] = 0;
        }
        double count = cells[o + 1] + 1;
        double delta = x - cells[o + 2];
        double mean = cells[o + 2] + delta / count;
        cells[o + 1] = count;
        cells[o + 2] = mean;
        cells[o + 3] += delta * (x - mean);
    }
}
