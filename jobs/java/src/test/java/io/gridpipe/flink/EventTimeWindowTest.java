package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

class EventTimeWindowTest {
    private static final long WINDOW = 300_000;
    private static final long BUCKET = 10_000;

    @Test
    void judgesAgainstTheWindowBeforeTheEvent() {
        EventTimeWindow b = new EventTimeWindow();
        for (int i = 0; i < 60; i++) {
            b.add(1_000_000 + i * 1000L, i % 2 == 0 ? 229.0 : 231.0, WINDOW, BUCKET);
        }
        EventTimeWindow.Stats stats = b.before(1_060_000, WINDOW, BUCKET);
        assertEquals(60, stats.count());
        assertEquals(230.0, stats.mean(), 1e-9);
        assertEquals(Math.sqrt(60.0 / 59.0), stats.stddev(), 1e-9);
    }

    @Test
    void bucketsOlderThanTheWindowAreNotCounted() {
        EventTimeWindow b = new EventTimeWindow();
        b.add(0, 100.0, WINDOW, BUCKET);
        b.add(400_000, 1.0, WINDOW, BUCKET);
        b.add(401_000, 3.0, WINDOW, BUCKET);
        EventTimeWindow.Stats stats = b.before(410_000, WINDOW, BUCKET);
        assertEquals(2, stats.count());
        assertEquals(2.0, stats.mean(), 1e-9);
    }

    @Test
    void outOfOrderEventsLandInTheirOwnBucket() {
        EventTimeWindow inOrder = new EventTimeWindow();
        EventTimeWindow shuffled = new EventTimeWindow();
        long[] times = {1000, 2000, 3000, 4000, 5000, 6000};
        long[] order = {3000, 1000, 6000, 2000, 5000, 4000};
        for (long t : times) {
            inOrder.add(t * 10, t / 1000.0, WINDOW, BUCKET);
        }
        for (long t : order) {
            shuffled.add(t * 10, t / 1000.0, WINDOW, BUCKET);
        }
        assertEquals(inOrder.before(70_000, WINDOW, BUCKET), shuffled.before(70_000, WINDOW, BUCKET));
    }

    @Test
    void aLateEventOutsideTheWindowIsDropped() {
        EventTimeWindow b = new EventTimeWindow();
        b.add(1_000_000, 1.0, WINDOW, BUCKET);
        assertTrue(b.isLate(1_000_000 - WINDOW - 1, WINDOW));
        assertFalse(b.isLate(1_000_000 - WINDOW, WINDOW));
        b.add(1_000_000 - WINDOW - BUCKET, 999.0, WINDOW, BUCKET);
        EventTimeWindow.Stats stats = b.before(1_000_001, WINDOW, BUCKET);
        assertEquals(1, stats.count());
        assertTrue(Double.isNaN(stats.stddev()));
    }

    @Test
    void aMeterSteadyAtAValueBinaryCannotRepresentRaisesNoAlertOnItsNextChange() {
        // 230.1 V sixty times: the true stddev is 0; sums of squares made it 4e-6 and 230.2 V a 25,170-sigma alert.
        EventTimeWindow b = new EventTimeWindow();
        for (int i = 0; i < 60; i++) {
            b.add(1_000_000 + i * 1000L, 230.1, WINDOW, BUCKET);
        }
        EventTimeWindow.Stats stats = b.before(1_060_000, WINDOW, BUCKET);
        assertFalse(ZScore.isAnomalous(stats, 230.2, 2.5, 30), stats::toString);
        assertEquals(0.0, stats.stddev());
        assertEquals(230.1, stats.mean());
    }

    @Test
    void anOutOfOrderEventWithinTheWindowIsStoredInItsBucket() {
        EventTimeWindow b = new EventTimeWindow();
        b.add(1_000_000, 1.0, WINDOW, BUCKET);
        b.add(1_000_000 - WINDOW + 5_000, 3.0, WINDOW, BUCKET); // its bucket starts before newest - window
        EventTimeWindow.Stats stats = b.before(1_000_000 - WINDOW + 6_000, WINDOW, BUCKET);
        assertEquals(1, stats.count());
        assertEquals(3.0, stats.mean());
    }

    @Test
    void stateOfTheSumOfSquaresLayoutIsResetNotMisread() {
        int slots = EventTimeWindow.slots(WINDOW, BUCKET);
        double[] earlier = new double[1 + 4 * slots];
        earlier[0] = 1_000_000;
        earlier[1] = 1_000_000; // a bucket start, count 30, sum 6900, sum of squares
        earlier[2] = 30;
        earlier[3] = 6900;
        earlier[4] = 1_587_000;
        EventTimeWindow b = new EventTimeWindow();
        b.adopt(earlier);
        assertEquals(0, b.before(1_000_001, WINDOW, BUCKET).count());
    }

    @Test
    void aWindowKeptAsDoublesByEarlierVersionsIsTakenOver() {
        int slots = EventTimeWindow.slots(WINDOW, BUCKET);
        // [latest, layout 2, then per slot: start, count, mean, M2]: one bucket of 30 readings, mean 230, M2 58.
        double[] earlier = new double[2 + 4 * slots];
        java.util.Arrays.fill(earlier, 0.0);
        earlier[0] = 1_005_000;
        earlier[1] = 2;
        for (int o = 2; o < earlier.length; o += 4) {
            earlier[o] = Double.NEGATIVE_INFINITY;
        }
        int o = 2 + 4 * (int) Math.floorMod(1_000_000 / BUCKET, (long) slots);
        earlier[o] = 1_000_000;
        earlier[o + 1] = 30;
        earlier[o + 2] = 230.0;
        earlier[o + 3] = 58.0;
        EventTimeWindow b = new EventTimeWindow();
        b.adopt(earlier);
        EventTimeWindow.Stats stats = b.before(1_010_000, WINDOW, BUCKET);
        assertEquals(30, stats.count());
        assertEquals(230.0, stats.mean());
        assertEquals(Math.sqrt(2.0), stats.stddev(), 1e-12);
        assertTrue(b.isLate(1_005_000 - WINDOW - 1, WINDOW));
        b.add(1_011_000, 232.0, WINDOW, BUCKET);
        assertEquals(31, b.before(1_020_000, WINDOW, BUCKET).count());
    }

    @Test
    void aConstantWindowHasNoSpreadWhateverItsValue() {
        Random random = new Random(12);
        for (int round = 0; round < 500; round++) {
            double value = round % 2 == 0 ? random.nextInt(5000) / 10.0 : 1e6 * random.nextDouble();
            EventTimeWindow b = new EventTimeWindow();
            for (int i = 0; i < 300; i++) {
                b.add(i * 1000L, value, WINDOW, BUCKET);
            }
            EventTimeWindow.Stats stats = b.before(300_000, WINDOW, BUCKET);
            assertEquals(0.0, stats.stddev(), () -> "constant " + value);
            assertEquals(value, stats.mean());
            assertFalse(stats.hasSpread());
        }
    }

    @Test
    void windowStatisticsMatchExactArithmetic() {
        Random random = new Random(42);
        List<Case> cases = List.of(
                new Case("multiples of 0.1", () -> (2250 + random.nextInt(101)) / 10.0, WINDOW, 1000),
                new Case("a few 0.1 steps", () -> 230.0 + random.nextInt(3) / 10.0, WINDOW, 1000),
                new Case("230 +/- 1e-9", () -> 230.0 + (random.nextDouble() - 0.5) * 2e-9, WINDOW, 1000),
                new Case("1e6 + noise", () -> 1e6 + random.nextGaussian(), WINDOW, 1000),
                new Case("1e6 + 1e-3 noise", () -> 1e6 + random.nextGaussian() * 1e-3, WINDOW, 1000),
                new Case("30 min of 1 s readings", () -> 230.0 + random.nextGaussian() * 2, 1_800_000, 1000),
                new Case("24 h of 10 s readings", () -> 0.1 * (2300 + random.nextInt(5)), 86_400_000, 10_000));
        for (Case c : cases) {
            for (int round = 0; round < 20; round++) {
                EventTimeWindow b = new EventTimeWindow();
                List<Double> values = new ArrayList<>();
                long n = c.windowMs / c.stepMs;
                long offset = BUCKET * random.nextInt(1000); // bucket-aligned: the whole series is in the window
                for (long i = 0; i < n; i++) {
                    double x = c.values.getAsDouble();
                    values.add(x);
                    b.add(offset + i * c.stepMs, x, c.windowMs, BUCKET);
                }
                EventTimeWindow.Stats stats = b.before(offset + n * c.stepMs, c.windowMs, BUCKET);
                Exact exact = Exact.of(values);
                String what = c.name + " round " + round + ": " + stats + " vs " + exact;
                assertEquals(values.size(), stats.count(), what);
                assertEquals(exact.mean, stats.mean(), Math.ulp(exact.mean) * 4, what);
                // Within one ulp of the mean: at the floor (1e-9 |mean|) a relative error of 2.2e-7 at most.
                assertEquals(exact.stddev, stats.stddev(), exact.stddev * 1e-9 + Math.ulp(exact.mean), what);
                assertEquals(exact.stddev > EventTimeWindow.RELATIVE_STDDEV_FLOOR * Math.abs(exact.mean),
                        stats.hasSpread(), what);
            }
        }
    }

    private record Case(String name, DoubleSupplier values, long windowMs, long stepMs) {}

    /** Mean and sample standard deviation of the exact binary values, in decimal arithmetic of 60 digits. */
    private record Exact(double mean, double stddev) {
        static Exact of(List<Double> values) {
            MathContext digits = new MathContext(60);
            BigDecimal n = BigDecimal.valueOf(values.size());
            BigDecimal sum = BigDecimal.ZERO;
            for (double x : values) {
                sum = sum.add(new BigDecimal(x));
            }
            BigDecimal mean = sum.divide(n, digits);
            BigDecimal squares = BigDecimal.ZERO;
            for (double x : values) {
                BigDecimal d = new BigDecimal(x).subtract(mean);
                squares = squares.add(d.multiply(d));
            }
            BigDecimal variance = squares.divide(n.subtract(BigDecimal.ONE), digits);
            return new Exact(mean.doubleValue(), variance.sqrt(digits).doubleValue());
        }
    }
}
