package io.gridpipe.flink.metrics;

import java.util.Properties;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;
import org.apache.flink.util.PortRange;

/** Configured as {@code metrics.reporter.<name>.factory.class} with {@code host} and {@code port} (a range). */
public class LoopbackPrometheusReporterFactory implements MetricReporterFactory {
    @Override
    public MetricReporter createMetricReporter(Properties properties) {
        String host = properties.getProperty("host", "127.0.0.1");
        String ports = properties.getProperty("port", "9249");
        return new LoopbackPrometheusReporter(host, new PortRange(ports));
    }
}
