package io.gridpipe.flink.influx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConnectionTest {
    private static Connection withOptions(String url, String org) {
        return new Connection(url, org, "b", 1000, Duration.ofMillis(500), Duration.ofSeconds(10), Backoff.DEFAULT);
    }

    @Test
    void tokenComesFromTheEnvironmentOnly() {
        Connection.Resolved resolved = withOptions("http://influx:8086", "gridpipe")
                .resolve(Map.of(Connection.TOKEN_ENV, "t0ken", Connection.URL_ENV, "http://other:1"));
        assertTrue(resolved.usable());
        assertEquals("http://influx:8086", resolved.url(), "options win over the environment for the URL");
        assertEquals("t0ken", resolved.token());
        assertFalse(resolved.toString().contains("t0ken"));
    }

    @Test
    void urlAndOrgFallBackToTheEnvironment() {
        Connection.Resolved resolved = withOptions(null, " ").resolve(Map.of(
                Connection.URL_ENV, "http://env:8086", Connection.ORG_ENV, "o", Connection.TOKEN_ENV, "t"));
        assertEquals("http://env:8086", resolved.url());
        assertEquals("o", resolved.org());
    }

    @Test
    void missingTokenNamesTheVariableAndTheFix() {
        Connection.Resolved resolved = withOptions("http://influx:8086", "gridpipe").resolve(Map.of());
        assertFalse(resolved.usable());
        assertNull(resolved.token());
        assertTrue(resolved.problem().contains(Connection.TOKEN_ENV + " is not set in the TaskManager's environment"));
        assertTrue(resolved.problem().contains("-- fix:"));
        WriteOutcome outcome = WriteOutcome.notConfigured(resolved.problem());
        assertEquals(WriteOutcome.Kind.PERMANENT, outcome.kind());
        assertEquals("InfluxDBNotConfigured", outcome.errorClass());
    }
}
