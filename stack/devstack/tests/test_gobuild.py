"""Native binaries from the Go module proxy: the pure parts (spec keys, command lines, pins) and real builds."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gridpipe_schemas.paths import default_cache_dir
from gridpipe_stack import gobuild, versions
from gridpipe_stack.errors import StackError
from gridpipe_stack.gobuild import SPECS, GoBinary, build_command, build_env, spec_for, spec_key

CONTRACT_NAMES = {"influxd", "weed", "kube-apiserver", "etcd", "helm"}


@pytest.mark.unit
def test_every_contract_binary_has_a_spec_and_a_committed_wrapper() -> None:
    assert set(SPECS) >= CONTRACT_NAMES
    for spec in SPECS.values():
        go_mod = (spec.wrapper_dir / "go.mod").read_text()
        assert gobuild.pinned_version(go_mod, spec.module) == spec.version, spec.name
        assert f"tool {spec.package}\n" in go_mod, f"{spec.name}: `go mod tidy` would drop the require"
        assert (spec.wrapper_dir / "go.sum").stat().st_size > 0


@pytest.mark.unit
def test_kube_apiserver_wrapper_replaces_every_staging_module_with_its_published_version() -> None:
    go_mod = (SPECS["kube-apiserver"].wrapper_dir / "go.mod").read_text()
    staging = "v0." + versions.KUBERNETES.removeprefix("v1.")
    replaces = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", go_mod, re.MULTILINE)
    assert len(replaces) == 33
    assert all(source == target and version == staging for source, target, version in replaces)


@pytest.mark.unit
def test_spec_key_is_stable_and_follows_every_input() -> None:
    weed = SPECS["weed"]
    assert spec_key(weed) == spec_key(weed)
    assert spec_key(weed) != spec_key(dataclasses.replace(weed, tags=("extra",)))
    assert spec_key(weed) != spec_key(dataclasses.replace(weed, version="v9.9.9"))
    # influxd's key covers the pkg-config helper it builds with.
    assert spec_key(SPECS["influxd"]) != spec_key(dataclasses.replace(SPECS["influxd"], tool_env=()))


@pytest.mark.unit
def test_build_command_uses_the_committed_go_sum_only() -> None:
    go, out = Path("/opt/go/bin/go"), Path("/cache/bin/influxd.partial")
    command = build_command(SPECS["influxd"], go, out)
    build = command[command.index(str(go)) :]
    assert build[:5] == [str(go), "build", "-mod=readonly", "-trimpath", "-v"]
    assert build[build.index("-tags") + 1] == "sqlite_foreign_keys,sqlite_json"
    assert build[build.index("-o") + 1] == str(out)
    assert build[-1] == "github.com/influxdata/influxdb/v2/cmd/influxd"
    assert f"-X main.version={versions.INFLUXDB}" in build[build.index("-ldflags") + 1]
    assert "get" not in build and "tidy" not in build


@pytest.mark.unit
def test_kube_apiserver_version_flags_reach_every_package() -> None:
    command = build_command(SPECS["kube-apiserver"], Path("go"), Path("out"))
    ldflags = command[command.index("-ldflags") + 1]
    assert ldflags.startswith("all=")
    assert f"-X k8s.io/component-base/version.gitVersion={versions.KUBERNETES}" in ldflags
    assert "-X k8s.io/client-go/pkg/version.gitMinor=37" in ldflags
    assert command[command.index("-tags") + 1] == "selinux,notest,grpcnotrace"


@pytest.mark.unit
def test_build_env_pins_the_toolchain_and_wires_influxd_rust_build(tmp_path: Path) -> None:
    go = Path("/usr/local/go/bin/go")
    influx = build_env(SPECS["influxd"], go, tmp_path, {"pkg-config": Path("/cache/pkg-config")})
    assert influx["GOTOOLCHAIN"] == "local" and influx["CGO_ENABLED"] == "1"
    assert influx["PKG_CONFIG"] == "/cache/pkg-config"
    assert influx["RUSTC_WORKSPACE_WRAPPER"] == str(tmp_path / "rustc-cap-lints.sh")
    assert influx["RUSTUP_TOOLCHAIN"] == "stable"
    assert influx["PATH"].split(":")[0] == "/usr/local/go/bin"
    weed = build_env(SPECS["weed"], go, tmp_path, {})
    assert weed["CGO_ENABLED"] == "0"
    assert weed.get("PKG_CONFIG") == os.environ.get("PKG_CONFIG"), "only influxd's build gets the pkg-config helper"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("go_mod", "version"),
    [("module m\n\ngo 1.24.0\n", (1, 24, 0)), ("module m\ngo 1.26\ntoolchain go1.26.8\n", (1, 26, 8))],
)
def test_required_go_reads_go_and_toolchain_lines(go_mod: str, version: tuple[int, ...]) -> None:
    assert gobuild.required_go(go_mod) == version


@pytest.mark.unit
def test_unknown_binary_names_the_known_ones() -> None:
    with pytest.raises(StackError, match=r"use one of: .*influxd.*weed"):
        spec_for("minio")


@pytest.mark.unit
def test_too_old_go_is_named_with_the_version_needed(tmp_path: Path) -> None:
    old_go = tmp_path / "go"
    old_go.write_text("#!/bin/sh\necho go1.21.0\n")
    old_go.chmod(0o755)
    with pytest.raises(StackError, match=r"Go 1\.21\.0, older than the Go 1\.26\.6 .*install Go 1\.26\.6 or newer"):
        gobuild._check_go(old_go, SPECS["weed"])


@pytest.mark.unit
def test_missing_go_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("GOROOT", raising=False)
    monkeypatch.setattr(gobuild, "GO_INSTALL_DEFAULT", tmp_path / "no-go")
    with pytest.raises(StackError, match=r"Go is not installed.*fix: install Go 1\.26 or newer"):
        gobuild.find_go()


@pytest.mark.unit
def test_missing_cargo_names_the_fix(tmp_path: Path) -> None:
    gcc = Path(shutil.which("gcc") or "/usr/bin/gcc")
    (tmp_path / "gcc").symlink_to(gcc)
    with pytest.raises(StackError, match=r"needs Rust \(cargo not found\).*fix: install Rust stable with rustup"):
        gobuild._check_native_toolchain(SPECS["influxd"], {"PATH": str(tmp_path)})
    gobuild._check_native_toolchain(SPECS["weed"], {"PATH": str(tmp_path)})  # no cgo, no Rust: nothing needed


@pytest.mark.unit
def test_failed_build_shows_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("")
    with pytest.raises(StackError, match="failed") as caught:
        gobuild._run_logged(
            ["sh", "-c", "echo compiling; echo 'undefined: foo' >&2; exit 3"], {}, tmp_path, log, "building x", print
        )
    assert "undefined: foo" in caught.value.detail


def _built(name: str) -> tuple[GoBinary, Path]:
    spec = spec_for(name)
    return spec, gobuild.ensure_binary(name, default_cache_dir(), print)


@pytest.mark.integration
@pytest.mark.timeout(3600)
@pytest.mark.parametrize(("name", "expected"), [("influxd", "InfluxDB v2.8.0"), ("weed", "4.53")])
def test_ensure_binary_gives_a_working_cached_binary(name: str, expected: str) -> None:
    spec, binary = _built(name)
    assert binary == default_cache_dir() / "bin" / f"{name}-{spec.version}" / name
    done = subprocess.run([str(binary), *spec.version_args], capture_output=True, text=True, timeout=60, check=True)
    assert expected in done.stdout
    built_at = binary.stat().st_mtime_ns
    assert gobuild.ensure_binary(name, default_cache_dir(), print) == binary
    assert binary.stat().st_mtime_ns == built_at, "a second call must reuse the cached binary"


@pytest.mark.unit
def test_heartbeat_names_elapsed_time_and_the_current_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gobuild, "HEARTBEAT_SECONDS", 0.5)
    log, lines = tmp_path / "build.log", list[str]()
    log.write_text("")
    gobuild._run_logged(
        ["sh", "-c", "echo compiling-step-one; sleep 1.5"], {}, tmp_path, log, "building x", lines.append
    )
    assert lines and all(line.startswith("  building x:") for line in lines)
    assert "now: compiling-step-one" in lines[-1]


@pytest.mark.unit
def test_a_held_build_lock_is_waited_for_then_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gobuild, "LOCK_TIMEOUT", 1.5)
    lock, said = tmp_path / ".x.lock", list[str]()
    with (
        gobuild._exclusive(lock, "x", said.append),
        pytest.raises(StackError, match="held the build lock of x"),
        gobuild._exclusive(lock, "x", said.append),
    ):
        pass
    assert said == ["waiting for another process that is building x…"]


@pytest.mark.integration
def test_ensure_binary_installs_only_working_builds_and_reuses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole mechanism on a tiny local module: a failed build installs nothing, a fixed one is cached."""
    wrapper = tmp_path / "go" / "hello"
    wrapper.mkdir(parents=True)
    (wrapper / "go.mod").write_text("module example.com/hello\n\ngo 1.22\n")
    (wrapper / "go.sum").write_text("")
    (wrapper / "main.go").write_text("package main\n\nfunc main() { undefinedCall() }\n")
    spec = GoBinary(name="hello", module="example.com/hello", version="v0.0.1", package="example.com/hello")
    monkeypatch.setattr(gobuild, "WRAPPERS_DIR", tmp_path / "go")
    monkeypatch.setitem(SPECS, "hello", spec)
    cache, said = tmp_path / "cache", list[str]()

    with pytest.raises(StackError, match=r"building hello v0\.0\.1 failed") as failed:
        gobuild.ensure_binary("hello", cache, said.append)
    assert "undefined: undefinedCall" in failed.value.detail
    target = gobuild.binary_path(spec, cache)
    assert not target.exists() and not target.with_name(".spec-key").exists()

    (wrapper / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello v0.0.1") }\n')
    assert gobuild.ensure_binary("hello", cache, said.append) == target
    assert (
        subprocess.run([str(target), "version"], capture_output=True, text=True, check=True).stdout == "hello v0.0.1\n"
    )
    assert target.with_name(".spec-key").read_text().strip() == spec_key(spec)
    said.clear()
    gobuild.ensure_binary("hello", cache, said.append)
    assert said == [], "a cached binary with the same spec key is not built again"
    (wrapper / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello again") }\n')
    gobuild.ensure_binary("hello", cache, said.append)
    assert subprocess.run([str(target)], capture_output=True, text=True, check=True).stdout == "hello again\n"
