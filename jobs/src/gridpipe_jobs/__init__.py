"""The PyFlink anomaly-detection jobs (grid z-score, equipment status, rocket rule table)."""
