package io.gridpipe.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * The first row of each key, passed on with all its columns; later rows of the key are dropped for an hour after
 * the key was last seen: a process table function.
 *
 * <pre>SELECT * FROM FIRST_SEEN(input => TABLE t PARTITION BY alert_id, uid => 'first-seen-alerts')</pre>
 *
 * <p>The archive reads its anomalies from the anomalies topic, which is at-least-once: after a failover the alert path
 * publishes again the alerts of the records it replays, under the same alert ids. The archive promises each alert
 * once, so it keeps the first copy. A copy follows its first within the failover's time (the replay starts at the
 * last checkpoint), so state is kept for an hour of processing time after the key's last copy: bounded by the alerts
 * of one hour. Dropped copies are counted in {@code duplicatesDropped}.
 */
@FunctionHint(output = @DataTypeHint("ROW<copies_before BIGINT>"))
public class FirstSeen extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;

    /** Per key: the copies seen so far. */
    public static class Seen {
        public long copies;
    }

    private transient FunctionContext context;
    private transient Counter duplicatesDropped;

    @Override
    public void open(FunctionContext context) {
        this.context = context;
    }

    public void eval(
            @StateHint(name = "seen", ttl = "1 h") Seen seen,
            @ArgumentHint(value = {ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.PASS_COLUMNS_THROUGH},
                    name = "input") Row in) {
        if (duplicatesDropped == null) {
            duplicatesDropped = context.getMetricGroup().counter("duplicatesDropped");
        }
        if (seen.copies++ == 0) {
            collect(Row.of(0L));
        } else {
            duplicatesDropped.inc();
        }
    }
}
