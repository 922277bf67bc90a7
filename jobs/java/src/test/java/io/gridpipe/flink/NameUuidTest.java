package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** The expected values are Python's uuid.uuid5 of the same names (jobs/tests/test_sql_and_severity.py). */
class NameUuidTest {
    private final NameUuid nameUuid = new NameUuid();

    @Test
    void sameAsPythonsUuid5InTheAlertIdNamespace() {
        assertEquals("f7c610d7-2d0b-57ef-a9ce-02b20aa822a7",
                nameUuid.eval("rocket-demo|Falcon-9-001|2025-01-10T14:30:00.000Z|45.2|engineTemp"));
        assertEquals("d0b4f7cc-5222-57ed-8150-02d43fce3405", nameUuid.eval("naïve|Ünicode ✓"));
        // The digest is reused: a second call must not carry anything over from the first.
        assertEquals("f7c610d7-2d0b-57ef-a9ce-02b20aa822a7",
                nameUuid.eval("rocket-demo|Falcon-9-001|2025-01-10T14:30:00.000Z|45.2|engineTemp"));
        assertNull(nameUuid.eval(null));
    }
}
