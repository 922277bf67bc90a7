package io.gridpipe.flink.influx;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.ThreadSafeSimpleCounter;
import org.apache.flink.table.data.RowData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Batches points and writes them to {@code /api/v2/write} from one sender thread, so the task thread (and with it the
 * Kafka anomaly output) only waits when {@value #MAX_IN_FLIGHT} batches are already queued, or at a checkpoint:
 * {@link #flush} (called before the checkpoint barrier is forwarded) returns only when every batch is written or
 * dead-lettered and the dead letters are acknowledged, so a completed checkpoint never covers an unwritten point.
 *
 * <p>Without a URL, organisation or token in the TaskManager's environment nothing can be written: the writer logs
 * the problem once as an error and dead-letters every point with it as the reason, and the job keeps running.
 */
public final class InfluxDbWriter implements SinkWriter<RowData> {
    static final int MAX_IN_FLIGHT = 4;
    private static final Logger LOG = LoggerFactory.getLogger(InfluxDbWriter.class);

    private final Connection connection;
    private final Connection.Resolved target;
    private final PointMapping mapping;
    private final DeadLetters deadLetters;
    private final ProcessingTimeService timers;
    private final HttpClient http;
    private final URI writeUri;
    private final ExecutorService sender;
    private final Deque<Future<?>> inFlight = new ArrayDeque<>();
    private final Counter written;
    private final Counter retries;
    private final Counter failures;
    private final Counter deadLettered;
    private List<PointMapping.Point> batch = new ArrayList<>();

    InfluxDbWriter(Connection connection, Connection.Resolved target, PointMapping mapping, DeadLetters deadLetters,
                   MetricGroup metrics, ProcessingTimeService timers) {
        this.connection = connection;
        this.target = target;
        this.mapping = mapping;
        this.deadLetters = deadLetters;
        this.timers = timers;
        this.http = HttpClient.newBuilder().connectTimeout(connection.requestTimeout()).build();
        this.writeUri = target.usable() ? URI.create(target.url().replaceAll("/+$", "") + "/api/v2/write?org="
                + encode(target.org()) + "&bucket=" + encode(connection.bucket()) + "&precision=ms") : null;
        if (!target.usable()) {
            LOG.error("{}; until then every point goes to the dead-letter topic {}", target.problem(),
                    deadLetters.topic());
        }
        this.sender = Executors.newSingleThreadExecutor(task -> {
            Thread thread = new Thread(task, "gridpipe-influxdb-sender");
            thread.setDaemon(true);
            return thread;
        });
        MetricGroup group = metrics.addGroup("influxdb");
        this.written = group.counter("pointsWritten", new ThreadSafeSimpleCounter());
        this.retries = group.counter("retries", new ThreadSafeSimpleCounter());
        this.failures = group.counter("failures", new ThreadSafeSimpleCounter());
        this.deadLettered = group.counter("deadLettered", new ThreadSafeSimpleCounter());
        scheduleFlush();
    }

    private static String encode(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8);
    }

    private void scheduleFlush() {
        long next = timers.getCurrentProcessingTime() + connection.flushInterval().toMillis();
        timers.registerTimer(next, time -> {
            dispatch();
            scheduleFlush();
        });
    }

    @Override
    public void write(RowData row, Context context) throws IOException, InterruptedException {
        PointMapping.Point point = mapping.toPoint(row);
        if (point == null) {
            return;
        }
        batch.add(point);
        if (batch.size() >= connection.batchSize()) {
            dispatch();
        }
    }

    private void dispatch() throws IOException, InterruptedException {
        if (batch.isEmpty()) {
            return;
        }
        List<PointMapping.Point> full = batch;
        batch = new ArrayList<>(connection.batchSize());
        while (inFlight.size() >= MAX_IN_FLIGHT) {
            await(inFlight.poll());
        }
        inFlight.add(sender.submit(() -> {
            deliver(full);
            return null;
        }));
    }

    private static void await(Future<?> future) throws IOException, InterruptedException {
        try {
            future.get();
        } catch (ExecutionException failed) {
            Throwable cause = failed.getCause();
            throw cause instanceof IOException io ? io : new IOException(cause);
        }
    }

    @Override
    public void flush(boolean endOfInput) throws IOException, InterruptedException {
        dispatch();
        while (!inFlight.isEmpty()) {
            await(inFlight.poll());
        }
        deadLetters.flush();
    }

    /** Runs on the sender thread: write with retries, then dead-letter what could not be written. */
    private void deliver(List<PointMapping.Point> points) throws IOException, InterruptedException {
        if (!target.usable()) {
            failures.inc();
            deadLetters.send(points, WriteOutcome.notConfigured(target.problem()), System.currentTimeMillis());
            deadLettered.inc(points.size());
            return;
        }
        String body = String.join("\n", points.stream().map(PointMapping.Point::line).toList());
        WriteOutcome outcome = post(body);
        Backoff backoff = connection.backoff();
        int attempts = 1;
        for (int retry = 1; outcome.kind() == WriteOutcome.Kind.TRANSIENT && retry <= backoff.maxRetries(); retry++) {
            retries.inc();
            Thread.sleep(backoff.delayBefore(retry).toMillis());
            outcome = post(body);
            attempts++;
        }
        if (outcome.written()) {
            written.inc(points.size());
            return;
        }
        failures.inc();
        deadLetters.send(points, outcome.after(attempts), System.currentTimeMillis());
        deadLettered.inc(points.size());
    }

    private WriteOutcome post(String body) throws InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(writeUri)
                .timeout(connection.requestTimeout())
                .header("Authorization", "Token " + target.token())
                .header("Content-Type", "text/plain; charset=utf-8")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
                .build();
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            return WriteOutcome.ofStatus(response.statusCode(), response.body());
        } catch (IOException unreachable) {
            return WriteOutcome.ofException(target.url(), unreachable);
        }
    }

    @Override
    public void close() throws Exception {
        sender.shutdownNow();
        deadLetters.close();
    }
}
