package io.gridpipe.flink;

/**
 * The window state of earlier versions ({@code window}, {@code ARRAY<DOUBLE>}), kept only so that a job restored from
 * their savepoints can read it: {@link ZScore} moves each key's window into {@link EventTimeWindow} at the key's next
 * reading and clears this state. Its class name and field are part of the state's type in those savepoints.
 */
public class EventTimeBuckets {
    public double[] cells;

    public EventTimeBuckets() {}
}
