"""Grafana dashboards as code (dashboards/README.md)."""
