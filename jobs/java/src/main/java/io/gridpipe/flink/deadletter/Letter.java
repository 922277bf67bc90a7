package io.gridpipe.flink.deadletter;

/** One dead letter as the Kafka record it is written as: the key (may be null) and the encoded DeadLetter value. */
public record Letter(byte[] key, byte[] value) {
    /** Bytes of key and value: what a Kafka size limit applies to, less the record overhead. */
    public int size() {
        return (key == null ? 0 : key.length) + value.length;
    }
}
