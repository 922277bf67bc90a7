package io.gridpipe.flink.influx;

import io.gridpipe.flink.InsertOnlySinkTable;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.logical.LogicalType;

/**
 * {@code 'connector' = 'gridpipe-influxdb'}: a table whose rows are written as InfluxDB 2 points.
 *
 * <p>One column is the time, the {@code tag-columns} are tags, every other non-null column is a field.
 */
public final class InfluxDbTableFactory implements DynamicTableSinkFactory {
    public static final String IDENTIFIER = "gridpipe-influxdb";

    static final ConfigOption<String> URL = ConfigOptions.key("url").stringType().noDefaultValue()
            .withDescription("InfluxDB base URL; default: env " + Connection.URL_ENV + " of the TaskManager");
    static final ConfigOption<String> ORG = ConfigOptions.key("org").stringType().noDefaultValue()
            .withDescription("InfluxDB organisation; default: env " + Connection.ORG_ENV + " of the TaskManager");
    /** Refused: a token in the options would sit in the job graph. The writer reads it from its environment. */
    static final String TOKEN_OPTION = "token";
    static final ConfigOption<String> BUCKET = ConfigOptions.key("bucket").stringType().noDefaultValue();
    static final ConfigOption<String> MEASUREMENT = ConfigOptions.key("measurement").stringType().noDefaultValue();
    static final ConfigOption<String> TAGS = ConfigOptions.key("tag-columns").stringType().noDefaultValue();
    static final ConfigOption<String> TIME = ConfigOptions.key("time-column").stringType().noDefaultValue();
    static final ConfigOption<String> KEY = ConfigOptions.key("key-column").stringType().noDefaultValue();
    static final ConfigOption<Integer> BATCH_SIZE = ConfigOptions.key("batch-size").intType().defaultValue(1000);
    static final ConfigOption<Duration> FLUSH_INTERVAL =
            ConfigOptions.key("flush-interval").durationType().defaultValue(Duration.ofMillis(500));
    static final ConfigOption<Duration> REQUEST_TIMEOUT =
            ConfigOptions.key("request-timeout").durationType().defaultValue(Duration.ofSeconds(10));
    static final ConfigOption<Integer> MAX_RETRIES = ConfigOptions.key("retry.max-retries").intType().defaultValue(3);
    static final ConfigOption<Duration> INITIAL_DELAY =
            ConfigOptions.key("retry.initial-delay").durationType().defaultValue(Duration.ofMillis(100));
    static final ConfigOption<Duration> MAX_DELAY =
            ConfigOptions.key("retry.max-delay").durationType().defaultValue(Duration.ofSeconds(30));
    static final ConfigOption<String> DL_TOPIC = ConfigOptions.key("dead-letter.topic").stringType().noDefaultValue();
    static final ConfigOption<String> DL_BOOTSTRAP =
            ConfigOptions.key("dead-letter.bootstrap-servers").stringType().noDefaultValue();
    static final ConfigOption<Integer> DL_SCHEMA_ID =
            ConfigOptions.key("dead-letter.schema-id").intType().noDefaultValue();
    static final ConfigOption<String> DL_SCHEMA = ConfigOptions.key("dead-letter.schema").stringType().noDefaultValue();
    static final ConfigOption<String> DL_PIPELINE =
            ConfigOptions.key("dead-letter.pipeline").stringType().noDefaultValue();
    static final ConfigOption<String> DL_SOURCE_TOPIC =
            ConfigOptions.key("dead-letter.source-topic").stringType().noDefaultValue();

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(BUCKET, MEASUREMENT, TAGS, TIME, DL_TOPIC, DL_BOOTSTRAP, DL_SCHEMA_ID, DL_SCHEMA, DL_PIPELINE,
                DL_SOURCE_TOPIC);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(URL, ORG, KEY, BATCH_SIZE, FLUSH_INTERVAL, REQUEST_TIMEOUT, MAX_RETRIES, INITIAL_DELAY,
                MAX_DELAY);
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        if (context.getCatalogTable().getOptions().containsKey(TOKEN_OPTION)) {
            throw new ValidationException("the gridpipe-influxdb table option 'token' is not accepted: it would put "
                    + "the token into the job graph -- fix: remove it and set " + Connection.TOKEN_ENV
                    + " in the TaskManager's environment");
        }
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        ReadableConfig options = helper.getOptions();
        ResolvedSchema schema = context.getCatalogTable().getResolvedSchema();
        List<Column> columns = schema.getColumns().stream().filter(Column::isPhysical).toList();
        List<String> names = columns.stream().map(Column::getName).toList();
        List<LogicalType> types = columns.stream().map(c -> c.getDataType().getLogicalType()).toList();
        Set<String> tags = new LinkedHashSet<>(Arrays.stream(options.get(TAGS).split(","))
                .map(String::strip).filter(s -> !s.isEmpty()).toList());
        PointMapping mapping = new PointMapping(
                options.get(MEASUREMENT), names, types, tags, options.get(TIME), options.getOptional(KEY).orElse(null));
        Connection connection = new Connection(
                options.getOptional(URL).orElse(null), options.getOptional(ORG).orElse(null),
                options.get(BUCKET), options.get(BATCH_SIZE),
                options.get(FLUSH_INTERVAL), options.get(REQUEST_TIMEOUT),
                new Backoff(options.get(INITIAL_DELAY), options.get(MAX_DELAY), options.get(MAX_RETRIES)));
        DeadLetters.Target deadLetters = new DeadLetters.Target(
                options.get(DL_TOPIC), options.get(DL_BOOTSTRAP), options.get(DL_SCHEMA_ID), options.get(DL_SCHEMA),
                options.get(DL_PIPELINE), options.get(DL_SOURCE_TOPIC));
        return new InsertOnlySinkTable(new InfluxDbSink(connection, mapping, deadLetters), "InfluxDB");
    }
}
