"""Provisioning and supervision of gridpipe's real local services."""
