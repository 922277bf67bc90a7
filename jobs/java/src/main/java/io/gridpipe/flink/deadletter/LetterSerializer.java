package io.gridpipe.flink.deadletter;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/** The checkpointed form of an unacknowledged dead letter: key length (-1 for none), key, value length, value. */
public final class LetterSerializer implements SimpleVersionedSerializer<Letter> {
    private static final int VERSION = 1;

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(Letter letter) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(letter.size() + 8);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(letter.key() == null ? -1 : letter.key().length);
            if (letter.key() != null) {
                out.write(letter.key());
            }
            out.writeInt(letter.value().length);
            out.write(letter.value());
        }
        return bytes.toByteArray();
    }

    @Override
    public Letter deserialize(int version, byte[] serialized) throws IOException {
        if (version != VERSION) {
            throw new IOException("unknown dead-letter state version " + version + "; this job writes " + VERSION);
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
            int keyLength = in.readInt();
            byte[] key = keyLength < 0 ? null : in.readNBytes(keyLength);
            byte[] value = in.readNBytes(in.readInt());
            return new Letter(key, value);
        }
    }
}
