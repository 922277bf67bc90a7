"""gridpipe's event schemas: Avro for grid topics, JSON Schema for rocket topics, one dead-letter record for both."""
