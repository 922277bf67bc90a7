package io.gridpipe.flink;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.data.RowData;

/** A table sink that takes inserts only and hands its rows to one Sink V2: what the project's connectors are. */
public record InsertOnlySinkTable(Sink<RowData> sink, String summary) implements DynamicTableSink {
    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
        return ChangelogMode.insertOnly();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        return SinkV2Provider.of(sink);
    }

    @Override
    public DynamicTableSink copy() {
        return new InsertOnlySinkTable(sink, summary);
    }

    @Override
    public String asSummaryString() {
        return summary;
    }
}
