package io.gridpipe.flink.deadletter;

import io.gridpipe.flink.ConfluentAvro;
import io.gridpipe.flink.influx.Backoff;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes dead letters to Kafka without ever failing the job because of a letter or of the dead-letter topic.
 *
 * <p>Every letter stays in {@link #pending} until Kafka acknowledges it, and the pending letters are this writer's
 * checkpointed state, so a checkpoint neither waits for Kafka nor loses a letter. A letter Kafka finds too large is
 * cut smaller and sent again at once. Any other failure (topic missing, writes refused, broker away) starts an
 * exponential backoff: new letters are only queued, and at each retry time the oldest one is sent alone as a probe;
 * when it is acknowledged everything queued is sent. Beyond {@link Settings#maxPendingBytes} of pending letters,
 * {@link #write} waits (back-pressure) while retries go on.
 */
final class DeadLetterWriter implements StatefulSinkWriter<RowData, Letter> {
    private static final Logger LOG = LoggerFactory.getLogger(DeadLetterWriter.class);
    private static final long TICK_MS = 100;
    /** A letter Kafka refused as too large is cut to this share of its size (in percent), again if need be. */
    private static final int RECUT_PERCENT = 75;

    private final Settings settings;
    private final LetterFit fit;
    private final KafkaProducer<byte[], byte[]> producer;
    private final ProcessingTimeService timers;
    private final MailboxExecutor mailbox;
    private final Backoff backoff;
    private final MetricGroup metrics;
    private final Map<String, Counter> byReason = new HashMap<>();
    private final RejectionLog rejections = new RejectionLog(LOG, System::currentTimeMillis);
    private final Counter writeFailures;
    private final Counter truncated;
    private final LinkedHashMap<Long, Letter> pending = new LinkedHashMap<>();
    private final Set<Long> inFlight = new HashSet<>();
    private final ConcurrentLinkedQueue<Outcome> outcomes = new ConcurrentLinkedQueue<>();
    private int limit;
    // Read by the metric reporter's thread.
    private volatile long pendingBytes;
    private volatile int pendingCount;
    private long nextId;
    private int failuresInARow;
    private long retryAt = -1;
    private long probe = -1;

    private record Outcome(long id, Exception error) {}

    DeadLetterWriter(Settings settings, int limit, MetricGroup metrics, ProcessingTimeService timers,
                     MailboxExecutor mailbox, Collection<Letter> recovered) {
        this.settings = settings;
        this.fit = new LetterFit(settings.schemaId(), ConfluentAvro.parse(settings.schema()));
        this.limit = limit;
        this.timers = timers;
        this.mailbox = mailbox;
        this.backoff = new Backoff(settings.initialDelay(), settings.maxDelay(), Integer.MAX_VALUE);
        this.metrics = metrics;
        this.writeFailures = metrics.counter("deadLetterWriteFailures");
        this.truncated = metrics.counter("deadLettersTruncated");
        metrics.gauge("deadLettersPending", (Gauge<Integer>) () -> pendingCount);
        metrics.gauge("deadLettersPendingBytes", (Gauge<Long>) () -> pendingBytes);
        this.producer = new KafkaProducer<>(producerConfig(settings), new ByteArraySerializer(),
                new ByteArraySerializer());
        for (Letter letter : recovered) {
            send(queue(letter));
        }
        if (!recovered.isEmpty()) {
            LOG.info("sending {} dead letters not acknowledged before the restore to {}", recovered.size(),
                    settings.topic());
        }
        scheduleTick();
    }

    static Properties producerConfig(Settings settings) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrap());
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        config.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        config.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(settings.maxRequestSize()));
        config.put(ProducerConfig.BUFFER_MEMORY_CONFIG,
                String.valueOf(Math.max(32L << 20, settings.maxPendingBytes() + settings.maxRequestSize())));
        // Bounded waits, so a missing or refusing topic is a failure the writer sees within seconds; send() itself
        // blocks the task thread for at most max.block.ms (metadata of a missing topic).
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "4000");
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "8000");
        config.put(ProducerConfig.CLIENT_ID_CONFIG, "gridpipe-dead-letters-" + settings.pipeline());
        return config;
    }

    private void scheduleTick() {
        timers.registerTimer(timers.getCurrentProcessingTime() + TICK_MS, time -> {
            settle();
            scheduleTick();
        });
    }

    @Override
    public void write(RowData row, Context context) throws IOException, InterruptedException {
        String reason = row.isNullAt(0) ? "UNKNOWN" : row.getString(0).toString();
        count(reason);
        GenericRecord record = letter(row, reason);
        rejections.rejected(reason, record.get("source_topic") + "/" + record.get("source_partition") + "@"
                + record.get("source_offset"), String.valueOf(record.get("error_message")));
        Letter letter = fit.fit(record, row.isNullAt(7) ? null : row.getBinary(7), limit);
        if (LetterFit.truncated(letter)) {
            truncated.inc();
        }
        long id = queue(letter);
        if (retryAt < 0) {
            send(id);
        }
        settle();
        while (pendingBytes > settings.maxPendingBytes()) {
            waitForKafka();
        }
    }

    private void count(String reason) {
        byReason.computeIfAbsent(reason, r -> metrics.addGroup("reason", r).counter("deadLettered")).inc();
    }

    private GenericRecord letter(RowData row, String reason) {
        GenericRecord letter = fit.newLetter();
        var reasons = fit.schema().getField("reason").schema();
        letter.put("pipeline", settings.pipeline());
        letter.put("reason", new GenericData.EnumSymbol(reasons, reasons.hasEnumSymbol(reason) ? reason : "UNKNOWN"));
        letter.put("error_class", text(row, 1));
        letter.put("error_message", LetterFit.errorMessage(text(row, 2)));
        letter.put("source_topic", text(row, 3));
        letter.put("source_partition", row.isNullAt(4) ? -1 : row.getInt(4));
        letter.put("source_offset", row.isNullAt(5) ? -1L : row.getLong(5));
        letter.put("source_timestamp", row.isNullAt(6) ? null : row.getTimestamp(6, 3).getMillisecond());
        letter.put("original_key", row.isNullAt(7) ? null : ByteBuffer.wrap(row.getBinary(7)));
        letter.put("dead_lettered_at", System.currentTimeMillis());
        fit.describeOriginal(letter, row.isNullAt(8) ? null : row.getBinary(8));
        return letter;
    }

    private static String text(RowData row, int pos) {
        return row.isNullAt(pos) ? "" : row.getString(pos).toString();
    }

    private long queue(Letter letter) {
        long id = nextId++;
        pending.put(id, letter);
        pendingBytes += letter.size();
        pendingCount = pending.size();
        return id;
    }

    private void send(long id) {
        Letter letter = pending.get(id);
        inFlight.add(id);
        try {
            producer.send(new ProducerRecord<>(settings.topic(), letter.key(), letter.value()),
                    (metadata, error) -> outcomes.add(new Outcome(id, error)));
        } catch (KafkaException refused) {
            outcomes.add(new Outcome(id, refused));
        }
    }

    /** Takes in Kafka's answers, then sends what is due. Runs on the task thread only. */
    private void settle() {
        for (Outcome outcome = outcomes.poll(); outcome != null; outcome = outcomes.poll()) {
            inFlight.remove(outcome.id());
            if (outcome.error() == null) {
                acknowledged(outcome.id());
            } else if (outcome.error() instanceof RecordTooLargeException) {
                tooLarge(outcome.id(), outcome.error());
            } else {
                failed(outcome.id(), outcome.error());
            }
        }
        if (retryAt >= 0 && probe < 0 && timers.getCurrentProcessingTime() >= retryAt && !pending.isEmpty()) {
            probe = pending.keySet().iterator().next();
            if (!inFlight.contains(probe)) {
                send(probe);
            }
        }
    }

    private void acknowledged(long id) {
        Letter letter = pending.remove(id);
        if (letter != null) {
            pendingBytes -= letter.size();
            pendingCount = pending.size();
        }
        if (retryAt >= 0) {
            LOG.info("dead-letter topic {} takes writes again after {} failed attempts; sending {} queued letters",
                    settings.topic(), failuresInARow, pending.size());
            retryAt = -1;
            probe = -1;
            failuresInARow = 0;
            pending.keySet().stream().filter(queued -> !inFlight.contains(queued)).toList().forEach(this::send);
        }
    }

    private void tooLarge(long id, Exception error) {
        writeFailures.inc();
        Letter letter = pending.get(id);
        int smaller = (int) ((long) letter.size() * RECUT_PERCENT / 100);
        LOG.warn("Kafka refused a dead letter of {} bytes for {} ({}); the limit was {} bytes, now {}",
                letter.size(), settings.topic(), error.getMessage(), limit, Math.min(limit, smaller));
        limit = Math.min(limit, smaller);
        Letter cut = fit.refit(letter, limit);
        if (cut.size() >= letter.size()) {
            failed(id, error); // nothing left to cut: wait like for any other refusal
            return;
        }
        if (!LetterFit.truncated(letter)) {
            truncated.inc();
        }
        pending.put(id, cut);
        pendingBytes += cut.size() - letter.size();
        if (retryAt < 0) {
            send(id);
        }
    }

    private void failed(long id, Exception error) {
        writeFailures.inc();
        boolean probeFailed = id == probe;
        if (retryAt >= 0 && !probeFailed) {
            return; // a letter sent before the backoff began: it is retried with the others
        }
        failuresInARow++;
        long delay = backoff.delayBefore(Math.min(failuresInARow, 62)).toMillis();
        retryAt = timers.getCurrentProcessingTime() + delay;
        probe = -1;
        LOG.warn("could not write a dead letter to {} ({} failures in a row): {}; {} letters pending, next try in {}"
                + " ms", settings.topic(), failuresInARow, error.toString(), pending.size(), delay);
    }

    @Override
    public void flush(boolean endOfInput) throws IOException, InterruptedException {
        settle();
        // At a checkpoint the pending letters go into the state: nothing to wait for. At the end of a bounded input
        // there is no later checkpoint, so wait until Kafka has them all.
        while (endOfInput && !pending.isEmpty()) {
            waitForKafka();
        }
    }

    /** Lets the task's other mail (timers) run, or sleeps briefly, then takes in Kafka's answers. */
    private void waitForKafka() throws InterruptedException {
        if (!mailbox.tryYield()) {
            Thread.sleep(10);
        }
        settle();
    }

    @Override
    public List<Letter> snapshotState(long checkpointId) {
        settle();
        return new ArrayList<>(pending.values());
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
