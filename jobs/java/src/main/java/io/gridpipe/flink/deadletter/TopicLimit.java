package io.gridpipe.flink.deadletter;

import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The largest record a topic takes: its {@code max.message.bytes}, the broker's message.max.bytes unless set. */
final class TopicLimit {
    private static final Logger LOG = LoggerFactory.getLogger(TopicLimit.class);
    private static final long TIMEOUT_MS = 5000;

    private TopicLimit() {}

    /** The topic's limit, or empty when it cannot be learnt now (topic missing, Kafka away): then Kafka tells. */
    static OptionalInt maxMessageBytes(String bootstrap, String topic) {
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(TIMEOUT_MS));
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(TIMEOUT_MS));
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        try (Admin admin = Admin.create(config)) {
            Map<ConfigResource, Config> described =
                    admin.describeConfigs(List.of(resource)).all().get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
            ConfigEntry entry = described.get(resource).get("max.message.bytes");
            return entry == null ? OptionalInt.empty() : OptionalInt.of(Integer.parseInt(entry.value()));
        } catch (Exception unknown) {
            if (unknown instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            LOG.warn("could not read max.message.bytes of {} ({}); dead letters are sized for the producer's limit"
                    + " until Kafka refuses one", topic, unknown.toString());
            return OptionalInt.empty();
        }
    }

    /** The largest key + value of a dead letter: the smaller of both limits, less a record's overhead. */
    static int letterLimit(int maxRequestSize, OptionalInt topicMaxMessageBytes) {
        int record = Math.min(maxRequestSize, topicMaxMessageBytes.orElse(Integer.MAX_VALUE));
        return record - LetterFit.KAFKA_RECORD_OVERHEAD;
    }
}
