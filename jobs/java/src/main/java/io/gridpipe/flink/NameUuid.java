package io.gridpipe.flink;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.UUID;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code NAME_UUID(name)}: the RFC 4122 version 5 (SHA-1, name-based) UUID of {@code name} in gridpipe's alert-id
 * namespace, as Python's {@code uuid.uuid5(ALERT_ID_NAMESPACE, name)} computes it. The same name always gives the same
 * UUID, so an alert replayed after a failure keeps its id.
 */
public class NameUuid extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    /** {@code uuid5(NAMESPACE_URL, "https://gridpipe.io/alert-ids")}; gridpipe_jobs.sql.ALERT_ID_NAMESPACE. */
    public static final UUID NAMESPACE = UUID.fromString("f22caab3-4fe1-5b8a-9cd8-2b116621c70f");

    private transient MessageDigest sha1;

    public String eval(String name) {
        if (name == null) {
            return null;
        }
        if (sha1 == null) {
            sha1 = newSha1();
        }
        sha1.update(ByteBuffer.allocate(16)
                .putLong(NAMESPACE.getMostSignificantBits())
                .putLong(NAMESPACE.getLeastSignificantBits())
                .array());
        byte[] hash = sha1.digest(name.getBytes(StandardCharsets.UTF_8));
        hash[6] = (byte) ((hash[6] & 0x0f) | 0x50); // version 5
        hash[8] = (byte) ((hash[8] & 0x3f) | 0x80); // RFC 4122 variant
        ByteBuffer bits = ByteBuffer.wrap(hash, 0, 16);
        return new UUID(bits.getLong(), bits.getLong()).toString();
    }

    private static MessageDigest newSha1() {
        try {
            return MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform must provide SHA-1", e);
        }
    }
}
