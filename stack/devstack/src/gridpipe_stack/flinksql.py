"""Submit ad-hoc Flink SQL to the stack's session cluster (the smoke pipeline, tests).

``gridpipe_jobs.flinkrest`` watches and cancels the jobs.
"""

from __future__ import annotations

from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.errors import StackError


def submit_sql(cfg: StackConfig, ddl: list[str], insert: str, job_name: str) -> str:
    """Run the DDL, submit ``insert`` as a detached job on the session cluster; return its job id."""
    from pyflink.table import EnvironmentSettings, TableEnvironment  # starts a JVM: only when needed

    settings = EnvironmentSettings.new_instance().in_streaming_mode().build()
    env = TableEnvironment.create(settings)
    conf = env.get_config()
    for key, value in {
        "execution.target": "remote",
        "rest.address": HOST,
        "rest.port": str(cfg.ports.flink_rest),
        "pipeline.name": job_name,
        "execution.checkpointing.interval": "10 s",
    }.items():
        conf.set(key, value)
    for statement in ddl:
        env.execute_sql(statement)
    result = env.execute_sql(insert)
    client = result.get_job_client()
    if client is None:
        raise StackError(f"Flink accepted '{job_name}' but returned no job", "check the JobManager log")
    return str(client.get_job_id())
