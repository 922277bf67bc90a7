"""Pure rules of the resources module: where a pipeline's archive lives, and what may be deleted."""

from __future__ import annotations

import pytest

from gridpipe_schemas.resources import archive_pipeline_prefix, delete_s3_prefix

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("prefix", "expected"), [("", "grid-demo"), ("lake", "lake/grid-demo"), ("/lake/raw/", "lake/raw/grid-demo")]
)
def test_a_pipelines_archive_is_its_own_folder_under_the_prefix(prefix: str, expected: str) -> None:
    assert archive_pipeline_prefix(prefix, "grid-demo") == expected


@pytest.mark.parametrize("prefix", ["", "/", "//"])
def test_an_empty_prefix_is_refused_before_anything_is_listed_or_deleted(prefix: str) -> None:
    with pytest.raises(ValueError, match="refusing to delete every object in bucket lake"):
        delete_s3_prefix(None, "lake", prefix)  # no filesystem: nothing may be touched
