package io.gridpipe.flink.deadletter;

import java.util.Collection;
import java.util.List;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.SupportsWriterState;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.table.data.RowData;

/** A Sink V2 writing dead letters to Kafka; unacknowledged letters are its checkpointed state (at-least-once). */
public final class DeadLetterSink implements Sink<RowData>, SupportsWriterState<RowData, Letter> {
    private static final long serialVersionUID = 1L;

    private final Settings settings;

    public DeadLetterSink(Settings settings) {
        this.settings = settings;
    }

    @Override
    public StatefulSinkWriter<RowData, Letter> createWriter(WriterInitContext context) {
        return restoreWriter(context, List.of());
    }

    @Override
    public StatefulSinkWriter<RowData, Letter> restoreWriter(WriterInitContext context, Collection<Letter> recovered) {
        int limit = TopicLimit.letterLimit(settings.maxRequestSize(),
                TopicLimit.maxMessageBytes(settings.bootstrap(), settings.topic()));
        return new DeadLetterWriter(settings, limit, context.metricGroup(), context.getProcessingTimeService(),
                context.getMailboxExecutor(), recovered);
    }

    @Override
    public SimpleVersionedSerializer<Letter> getWriterStateSerializer() {
        return new LetterSerializer();
    }
}
