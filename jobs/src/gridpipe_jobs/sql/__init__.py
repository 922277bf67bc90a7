"""The job's topology as Flink SQL (``topology.job_sql``): shared parts, the grid and the rocket topology."""
