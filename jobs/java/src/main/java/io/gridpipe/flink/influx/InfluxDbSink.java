package io.gridpipe.flink.influx;

import java.io.IOException;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.table.data.RowData;

/** A Sink V2 writing rows as InfluxDB points; at-least-once, made idempotent by InfluxDB's point identity. */
public final class InfluxDbSink implements Sink<RowData> {
    private static final long serialVersionUID = 1L;

    private final Connection connection;
    private final PointMapping mapping;
    private final DeadLetters.Target deadLetters;

    public InfluxDbSink(Connection connection, PointMapping mapping, DeadLetters.Target deadLetters) {
        this.connection = connection;
        this.mapping = mapping;
        this.deadLetters = deadLetters;
    }

    @Override
    public SinkWriter<RowData> createWriter(WriterInitContext context) throws IOException {
        return new InfluxDbWriter(connection, connection.resolve(System.getenv()), mapping, new DeadLetters(deadLetters),
                context.metricGroup(), context.getProcessingTimeService());
    }
}
