package io.gridpipe.flink.deadletter;

import io.gridpipe.flink.InsertOnlySinkTable;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;

/**
 * {@code 'connector' = 'gridpipe-dead-letters'}: rows of rejected records, written as DeadLetter records to Kafka.
 *
 * <p>The columns are {@link #COLUMNS}, in that order; pipeline, schema and topic are options.
 */
public final class DeadLetterTableFactory implements DynamicTableSinkFactory {
    public static final String IDENTIFIER = "gridpipe-dead-letters";
    static final List<String> COLUMNS = List.of("reason", "error_class", "error_message", "source_topic",
            "source_partition", "source_offset", "source_timestamp", "original_key", "original_value");

    static final ConfigOption<String> TOPIC = ConfigOptions.key("topic").stringType().noDefaultValue();
    static final ConfigOption<String> BOOTSTRAP =
            ConfigOptions.key("bootstrap-servers").stringType().noDefaultValue();
    static final ConfigOption<Integer> SCHEMA_ID = ConfigOptions.key("schema-id").intType().noDefaultValue();
    static final ConfigOption<String> SCHEMA = ConfigOptions.key("schema").stringType().noDefaultValue();
    static final ConfigOption<String> PIPELINE = ConfigOptions.key("pipeline").stringType().noDefaultValue();
    static final ConfigOption<MemorySize> MAX_REQUEST_SIZE = ConfigOptions.key("max-request-size").memoryType()
            .defaultValue(MemorySize.parse("1mb")).withDescription("the producer's max.request.size");
    static final ConfigOption<MemorySize> MAX_PENDING = ConfigOptions.key("max-pending").memoryType()
            .defaultValue(MemorySize.parse("64mb"))
            .withDescription("unacknowledged letters beyond this back-pressure the job");
    static final ConfigOption<Duration> INITIAL_DELAY =
            ConfigOptions.key("retry.initial-delay").durationType().defaultValue(Duration.ofMillis(500));
    static final ConfigOption<Duration> MAX_DELAY =
            ConfigOptions.key("retry.max-delay").durationType().defaultValue(Duration.ofSeconds(10));

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(TOPIC, BOOTSTRAP, SCHEMA_ID, SCHEMA, PIPELINE);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(MAX_REQUEST_SIZE, MAX_PENDING, INITIAL_DELAY, MAX_DELAY);
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        List<String> names = context.getCatalogTable().getResolvedSchema().getColumns().stream()
                .filter(Column::isPhysical).map(Column::getName).toList();
        if (!names.equals(COLUMNS)) {
            throw new ValidationException("a " + IDENTIFIER + " table has the columns " + COLUMNS + ", got " + names);
        }
        ReadableConfig options = helper.getOptions();
        Settings settings = new Settings(options.get(TOPIC), options.get(BOOTSTRAP), options.get(SCHEMA_ID),
                options.get(SCHEMA), options.get(PIPELINE), (int) options.get(MAX_REQUEST_SIZE).getBytes(),
                options.get(MAX_PENDING).getBytes(), options.get(INITIAL_DELAY), options.get(MAX_DELAY));
        return new InsertOnlySinkTable(new DeadLetterSink(settings), "dead letters");
    }
}
