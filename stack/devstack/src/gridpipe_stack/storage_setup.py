"""First-start setup of the stack's InfluxDB and S3 storage, without prompts; idempotent.

InfluxDB gets its organisation, default bucket, admin user and API token; SeaweedFS gets the buckets the product
writes to. Both run each time their service becomes ready and do nothing when that is already done, so
``gridctl stack up`` stays idempotent. Secrets come from the stack's secrets files and are never printed, not even
in errors.
"""

from __future__ import annotations

import httpx

from gridpipe_stack import credentials
from gridpipe_stack.config import StackConfig
from gridpipe_stack.errors import StackError

_TIMEOUT = httpx.Timeout(30.0)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except ValueError:
        return response.text[:200]


def ensure_influxdb_setup(cfg: StackConfig) -> None:
    stored = credentials.influxdb_secrets(cfg)
    url = cfg.influxdb_url
    try:
        allowed = httpx.get(f"{url}/api/v2/setup", timeout=_TIMEOUT).json().get("allowed")
        if allowed:
            response = httpx.post(
                f"{url}/api/v2/setup",
                json={
                    "username": stored["username"],
                    "password": stored["password"],
                    "org": credentials.INFLUXDB_ORG,
                    "bucket": credentials.INFLUXDB_BUCKET,
                    "retentionPeriodSeconds": credentials.INFLUXDB_BUCKET_RETENTION_SECONDS,
                    "token": stored["token"],
                },
                timeout=_TIMEOUT,
            )
            if response.status_code != httpx.codes.CREATED:
                raise StackError(
                    f"InfluxDB refused its initial setup (HTTP {response.status_code}: {_message(response)})",
                    f"read {cfg.logs_dir / 'influxdb.log'}",
                )
            return
        check = httpx.get(
            f"{url}/api/v2/orgs",
            params={"org": credentials.INFLUXDB_ORG},
            headers={"Authorization": f"Token {stored['token']}"},
            timeout=_TIMEOUT,
        )
    except (httpx.HTTPError, ValueError) as error:
        raise StackError(
            f"InfluxDB at {url} did not answer its setup API ({error.__class__.__name__})",
            f"read {cfg.logs_dir / 'influxdb.log'}",
        ) from error
    if check.status_code == httpx.codes.UNAUTHORIZED:
        raise StackError(
            f"InfluxDB's data in {cfg.data_dir / 'influxdb'} was set up with another token than the one in "
            f"{credentials.secrets_dir(cfg) / 'influxdb.json'}",
            "restore that secrets file, or `gridctl stack down` and delete the InfluxDB data directory "
            "(its data is lost) so the next `up` sets it up anew",
        )
    if check.status_code != httpx.codes.OK or not check.json().get("orgs"):
        raise StackError(
            f"InfluxDB has no organisation '{credentials.INFLUXDB_ORG}' (HTTP {check.status_code})",
            "`gridctl stack down` and delete its data directory so the next `up` sets it up anew",
        )


def ensure_s3_buckets(cfg: StackConfig) -> None:
    import boto3  # imported late: botocore's start-up is not free
    from botocore.client import Config
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = credentials.s3(cfg)
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name=s3.region,
        config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}),
    )
    try:
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        for bucket in credentials.S3_BUCKETS:
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError) as error:
        raise StackError(
            f"creating the S3 buckets {', '.join(credentials.S3_BUCKETS)} in SeaweedFS failed: {error}",
            f"read {cfg.logs_dir / 'seaweedfs.log'}",
        ) from error
