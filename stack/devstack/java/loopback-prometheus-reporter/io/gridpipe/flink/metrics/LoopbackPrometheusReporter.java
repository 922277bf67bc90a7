package io.gridpipe.flink.metrics;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.exporter.HTTPServer;
import java.io.IOException;
import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.util.Iterator;
import org.apache.flink.metrics.prometheus.AbstractPrometheusReporter;
import org.apache.flink.util.PortRange;

/**
 * Flink's Prometheus reporter, bound to one host address instead of every interface.
 *
 * <p>The stock reporter listens on the wildcard address; a local gridpipe stack must listen on loopback only.
 * The collectors are Flink's own: only the HTTP endpoint differs.
 */
public class LoopbackPrometheusReporter extends AbstractPrometheusReporter {
    private final HTTPServer httpServer;
    private final int port;

    LoopbackPrometheusReporter(String host, PortRange ports) {
        CollectorRegistry registry = flinkRegistry(this);
        Iterator<Integer> candidates = ports.getPortsIterator();
        HTTPServer server = null;
        int bound = -1;
        while (server == null && candidates.hasNext()) {
            int candidate = candidates.next();
            try {
                server = new HTTPServer(new InetSocketAddress(host, candidate), registry, true);
                bound = candidate;
            } catch (IOException busy) {
                log.debug("Prometheus endpoint could not bind {}:{}", host, candidate, busy);
            }
        }
        if (server == null) {
            throw new IllegalStateException("no free port for the Prometheus endpoint on " + host + " in " + ports);
        }
        httpServer = server;
        port = bound;
        log.info("Prometheus endpoint listening on {}:{}", host, port);
    }

    int getPort() {
        return port;
    }

    @Override
    public void close() {
        httpServer.stop();
        super.close();
    }

    private static CollectorRegistry flinkRegistry(AbstractPrometheusReporter reporter) {
        try {
            Field field = AbstractPrometheusReporter.class.getDeclaredField("registry");
            field.setAccessible(true);
            return (CollectorRegistry) field.get(reporter);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("this Flink's Prometheus reporter has no 'registry' field", e);
        }
    }
}
