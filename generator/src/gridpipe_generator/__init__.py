"""Load generator: realistic grid and rocket streams with labelled anomalies and malformed records."""
