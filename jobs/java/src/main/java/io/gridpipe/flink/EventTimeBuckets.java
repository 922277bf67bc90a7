package io.gridpipe.flink;

import java.util.Arrays;

/**
 * The event-time window of one key as a ring of buckets (count, sum, sum of squares), indexed by
 * {@code floor(t / bucket) mod slots}. Public fields and a no-argument constructor make it Flink state (a POJO).
 */
public class EventTimeBuckets {
    public long[] start;
    public long[] count;
    public double[] sum;
    public double[] sumSquares;
    public long latest = Long.MIN_VALUE;

    public EventTimeBuckets() {}

    /** Count, mean and sample standard deviation of one window. */
    public record Stats(long count, double mean, double stddev) {}

    static int slots(long windowMs, long bucketMs) {
        return (int) ((windowMs + bucketMs - 1) / bucketMs) + 1;
    }

    private void ensure(int slots) {
        if (start == null || start.length != slots) {
            start = new long[slots];
            Arrays.fill(start, Long.MIN_VALUE);
            count = new long[slots];
            sum = new double[slots];
            sumSquares = new double[slots];
        }
    }

    /** Statistics of the buckets that start in {@code [t - windowMs, t)}: the window before an event at t. */
    public Stats before(long t, long windowMs, long bucketMs) {
        ensure(slots(windowMs, bucketMs));
        long from = t - windowMs;
        long n = 0;
        double s = 0;
        double s2 = 0;
        for (int i = 0; i < start.length; i++) {
            if (start[i] >= from && start[i] < t) {
                n += count[i];
                s += sum[i];
                s2 += sumSquares[i];
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
        latest = Math.max(latest, t);
        long bucket = Math.floorDiv(t, bucketMs);
        long bucketStart = bucket * bucketMs;
        if (bucketStart < latest - windowMs) {
            return;
        }
        int slot = (int) Math.floorMod(bucket, (long) slots);
        if (start[slot] != bucketStart) {
            start[slot] = bucketStart;
            count[slot] = 0;
            sum[slot] = 0;
            sumSquares[slot] = 0;
        }
        count[slot]++;
        sum[slot] += x;
        sumSquares[slot] += x * x;
    }
}
