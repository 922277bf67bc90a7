package io.gridpipe.flink;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The event-time window of one key as a ring of buckets (start, count, mean, M2), indexed by
 * {@code floor(t / bucket) mod slots}. M2 is the sum of squared deviations from the bucket's mean, kept by Welford's
 * update: unlike a sum of squares it does not cancel catastrophically, and a constant series gives exactly 0.
 *
 * <p>Flink state (a POJO) of one field, {@code BYTES}: doubles packed little-endian. A process table function converts
 * its state on every call and hashes it to see whether it changed, and every checkpoint serialises it; as
 * {@code ARRAY<DOUBLE>} (the {@link EventTimeBuckets} of earlier versions) each of those went element by element, as
 * bytes each is one copy (docs/performance.md). Cell layout: {@code [latest, layout, then per slot: start, count,
 * mean, m2]}; epoch milliseconds and counts are exact in a double.
 */
public class EventTimeWindow {
    private static final VarHandle CELL = MethodHandles.byteArrayViewVarHandle(double[].class, ByteOrder.LITTLE_ENDIAN);
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

    public byte[] cells;

    public EventTimeWindow() {}

    /** Take over a window an earlier version kept as {@link EventTimeBuckets}: the same cells, packed. */
    public void adopt(double[] earlier) {
        cells = new byte[earlier.length * Double.BYTES];
        for (int i = 0; i < earlier.length; i++) {
            set(i, earlier[i]);
        }
    }

    private double get(int cell) {
        return (double) CELL.get(cells, cell * Double.BYTES);
    }

    private void set(int cell, double value) {
        CELL.set(cells, cell * Double.BYTES, value);
    }

    private int length() {
        return cells.length / Double.BYTES;
    }

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
        int length = HEADER + WIDTH * slots;
        if (cells == null || cells.length != length * Double.BYTES || get(1) != LAYOUT) {
            cells = new byte[length * Double.BYTES];
            set(0, EMPTY);
            set(1, LAYOUT);
            for (int o = HEADER; o < length; o += WIDTH) {
                set(o, EMPTY);
            }
        }
    }

    /** Whether t is older than the key's newest event minus the window: too late to be judged or stored. */
    public boolean isLate(long t, long windowMs) {
        return cells != null && t < get(0) - windowMs;
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
        for (int o = HEADER, length = length(); o < length; o += WIDTH) {
            double start = get(o);
            if (start >= from && start < t) {
                double count = get(o + 1);
                double mean = get(o + 2);
                if (n == 0) {
                    shift = mean;
                }
                double d = mean - shift;
                n += (long) count;
                sum += count * d;
                sumSquares += get(o + 3) + count * d * d;
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
        set(0, Math.max(get(0), t));
        long bucket = Math.floorDiv(t, bucketMs);
        double bucketStart = (double) (bucket * bucketMs);
        int o = HEADER + WIDTH * (int) Math.floorMod(bucket, (long) slots);
        double count = 1;
        double before = 0;
        double m2 = 0;
        if (get(o) == bucketStart) {
            count = get(o + 1) + 1;
            before = get(o + 2);
            m2 = get(o + 3);
        } else {
            set(o, bucketStart);
        }
        double delta = x - before;
        double mean = before + delta / count;
        set(o + 1, count);
        set(o + 2, mean);
        set(o + 3, m2 + delta * (x - mean));
    }
}
