"""pytest fixtures for tests that need the real local stack (loaded from the root conftest.py).

The test stack has its own name, run directory and port base, so it never collides with a dev stack that is
running at the same time. It is started once per test session and stopped at the end, and the teardown checks
that no process of it survived.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridpipe_schemas.paths import default_cache_dir
from gridpipe_stack import stack
from gridpipe_stack.config import Ports, StackConfig
from gridpipe_stack.supervise import marked_processes

TEST_PORT_BASE = int(os.environ.get("GRIDPIPE_TEST_PORT_BASE", "28000"))


def stack_config(name: str, run_dir: Path, port_base: int) -> StackConfig:
    return StackConfig(name=name, ports=Ports(port_base), cache_dir=default_cache_dir(), run_dir=run_dir)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    cfg = stack_config("test", tmp_path_factory.mktemp("stack"), TEST_PORT_BASE)
    try:
        stack.up(cfg)
        yield cfg
    finally:
        stack.down(cfg)
        survivors = list(marked_processes(str(cfg.run_dir)))
        assert not survivors, f"processes of the test stack survived `down`: {survivors}"
