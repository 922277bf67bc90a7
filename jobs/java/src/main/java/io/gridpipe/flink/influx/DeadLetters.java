package io.gridpipe.flink.influx;

import io.gridpipe.flink.ConfluentAvro;
import io.gridpipe.flink.deadletter.LetterFit;
import java.io.IOException;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Points InfluxDB would not take, as DeadLetter records (docs/schemas.md) on the pipeline's dead-letter topic.
 *
 * <p>{@code original_value} is the point's line protocol, so a dead letter can be replayed into InfluxDB as it is;
 * {@code source_topic} is the anomalies topic the same alert went to, with partition and offset -1 (unknown here).
 */
public final class DeadLetters implements AutoCloseable {
    /** Where dead letters go and which registered schema they are written with. */
    public record Target(String topic, String bootstrap, int schemaId, String schema, String pipeline,
                         String sourceTopic) implements Serializable {}

    private final Target target;
    private final Schema schema;
    private final LetterFit fit;
    private final KafkaProducer<byte[], byte[]> producer;
    private final AtomicReference<Exception> failure = new AtomicReference<>();

    public DeadLetters(Target target) {
        this.target = target;
        this.schema = ConfluentAvro.parse(target.schema());
        this.fit = new LetterFit(target.schemaId(), schema);
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, target.bootstrap());
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        config.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        config.put(ProducerConfig.CLIENT_ID_CONFIG, "gridpipe-influxdb-dead-letters-" + target.pipeline());
        this.producer = new KafkaProducer<>(config, new ByteArraySerializer(), new ByteArraySerializer());
    }

    public String topic() {
        return target.topic();
    }

    public void send(List<PointMapping.Point> points, WriteOutcome outcome, long now) throws IOException {
        rethrow();
        for (PointMapping.Point point : points) {
            byte[] value = ConfluentAvro.encode(target.schemaId(), schema, letter(point, outcome, now));
            producer.send(new ProducerRecord<>(target.topic(), point.key(), value), (metadata, error) -> {
                if (error != null) {
                    failure.compareAndSet(null, error);
                }
            });
        }
    }

    GenericRecord letter(PointMapping.Point point, WriteOutcome outcome, long now) {
        GenericRecord letter = new GenericData.Record(schema);
        Schema reasons = schema.getField("reason").schema();
        letter.put("pipeline", target.pipeline());
        letter.put("reason", new GenericData.EnumSymbol(reasons, "SINK_FAILURE"));
        letter.put("error_class", outcome.errorClass());
        letter.put("error_message", outcome.message());
        letter.put("source_topic", target.sourceTopic());
        letter.put("source_partition", -1);
        letter.put("source_offset", -1L);
        letter.put("source_timestamp", null);
        letter.put("original_key", point.key() == null ? null : ByteBuffer.wrap(point.key()));
        letter.put("dead_lettered_at", now);
        fit.describeOriginal(letter, point.line().getBytes(StandardCharsets.UTF_8));
        return letter;
    }

    /** Blocks until every dead letter sent so far is acknowledged by Kafka. */
    public void flush() throws IOException {
        producer.flush();
        rethrow();
    }

    private void rethrow() throws IOException {
        Exception error = failure.get();
        if (error != null) {
            throw new IOException("could not write dead letters to " + target.topic() + ": " + error, error);
        }
    }

    @Override
    public void close() {
        producer.close();
    }
}
