"""Pure logic of the Kubernetes test cluster: certificates, kubeconfig, service flags, CRD handling."""

from __future__ import annotations

import base64
import ipaddress
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gridpipe_stack.config import HOST, Ports, StackConfig
from gridpipe_stack.kube.binaries import KubeBinaries
from gridpipe_stack.kube.cluster import cluster_of, write_kubeconfig
from gridpipe_stack.kube.crds import (
    FLINK_2_VERSIONS,
    PROMETHEUS_OPERATOR_CRDS,
    PROMETHEUS_OPERATOR_MODULE,
    extract_prometheus_operator_crds,
    goproxy_base,
    gridpipe_crd_dir,
    load_crds,
    with_flink_2_versions,
)
from gridpipe_stack.kube.pki import ensure_pki
from gridpipe_stack.kube.provision import KubeInstallation
from gridpipe_stack.kube.services import kube_services
from gridpipe_stack.versions import PROMETHEUS_OPERATOR

pytestmark = pytest.mark.unit


def stack_in(tmp_path: Path) -> StackConfig:
    return StackConfig(name="unit", ports=Ports(40000), cache_dir=tmp_path / "cache", run_dir=tmp_path / "run")


def test_certificates_name_loopback_and_in_cluster_addresses_and_an_admin(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.96.0.1"}
    assert {"localhost", "kubernetes.default.svc"} <= set(names.get_values_for_type(x509.DNSName))
    serving.verify_directly_issued_by(ca)

    admin = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes())
    admin.verify_directly_issued_by(ca)
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    for key in (pki.ca_key, pki.serving_key, pki.admin_key, pki.service_account_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_certificates_are_reused_while_valid(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path / "pki")
    before = {f: f.read_bytes() for f in first.files()}
    second = ensure_pki(tmp_path / "pki")
    assert {f: f.read_bytes() for f in second.files()} == before
    first.admin_cert.unlink()
    third = ensure_pki(tmp_path / "pki")
    assert third.ca_cert.read_bytes() != before[first.ca_cert], "a missing file renews the whole set"


def test_kubeconfig_is_private_and_self_contained(tmp_path: Path) -> None:
    cfg = stack_in(tmp_path)
    cluster = cluster_of(cfg)
    ensure_pki(cluster.pki.directory)
    path = write_kubeconfig(cfg, cluster)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = yaml.safe_load(path.read_text())
    (entry,) = document["clusters"]
    assert entry["cluster"]["server"] == f"https://{HOST}:{cfg.ports.kube_apiserver}"
    assert base64.b64decode(entry["cluster"]["certificate-authority-data"]) == cluster.pki.ca_cert.read_bytes()
    assert document["current-context"] == document["contexts"][0]["name"]


def test_services_listen_on_loopback_only_with_the_notes_flags(tmp_path: Path) -> None:
    cfg = stack_in(tmp_path)
    bins = KubeBinaries(
        *(Path(f"/bin/{n}") for n in ("etcd", "kube-apiserver", "kube-controller-manager", "helm", "helm-unittest"))
    )
    etcd, apiserver, controllers = kube_services(cfg, KubeInstallation(bins, ()))
    assert [s.name for s in (etcd, apiserver, controllers)] == ["etcd", "kube-apiserver", "kube-controller-manager"]
    assert f"--listen-client-urls=http://{HOST}:{cfg.ports.etcd_client}" in etcd.command
    assert {"--endpoint-reconciler-type=none", f"--bind-address={HOST}", "--authorization-mode=RBAC"} <= set(
        apiserver.command
    )
    assert f"--bind-address={HOST}" in controllers.command
    assert "--leader-elect=false" in controllers.command
    ports = [port for service in (etcd, apiserver, controllers) for port in service.ports.values()]
    assert len(set(ports)) == len(ports)
    assert (cfg.run_dir / "kube" / "kubeconfig").is_file()


def test_auditing_is_opt_in_and_records_metadata_of_writes_and_secrets_only(tmp_path: Path) -> None:
    cfg = stack_in(tmp_path)
    bins = KubeBinaries(
        *(Path(f"/bin/{n}") for n in ("etcd", "kube-apiserver", "kube-controller-manager", "helm", "helm-unittest"))
    )
    _, plain, _ = kube_services(cfg, KubeInstallation(bins, ()))
    assert not [flag for flag in plain.command if flag.startswith("--audit")]
    _, audited, _ = kube_services(cfg, KubeInstallation(bins, ()), audit=True)
    assert f"--audit-log-path={cluster_of(cfg).audit_log}" in audited.command
    (policy_flag,) = [flag for flag in audited.command if flag.startswith("--audit-policy-file=")]
    policy = yaml.safe_load(Path(policy_flag.partition("=")[2]).read_text())
    assert {rule["level"] for rule in policy["rules"]} == {"Metadata", "None"}, "never a request's content"
    assert policy["rules"][-1] == {"level": "None"}, "everything else (reads, watches) is not recorded"


def test_flink_2_versions_are_added_to_flink_version_enums_only() -> None:
    document: dict[str, Any] = {
        "spec": {
            "properties": {
                "flinkVersion": {"enum": ["v1_19", "v1_20"], "type": "string"},
                "mode": {"enum": ["native", "standalone"]},
                "nested": [{"flinkVersion": {"enum": ["v1_20", "v2_0"]}}],
            }
        }
    }
    patched = with_flink_2_versions(document)
    properties = patched["spec"]["properties"]
    assert properties["flinkVersion"]["enum"] == ["v1_19", "v1_20", *FLINK_2_VERSIONS]
    assert properties["mode"]["enum"] == ["native", "standalone"]
    assert properties["nested"][0]["flinkVersion"]["enum"] == ["v1_20", *FLINK_2_VERSIONS]


def test_gridpipe_crd_is_found_in_the_checkout() -> None:
    (crd,) = load_crds(gridpipe_crd_dir().glob("*.yaml"))
    assert crd["metadata"]["name"] == "gridpipelines.gridpipe.io"


def test_service_ip_is_the_first_address_of_the_service_range() -> None:
    from gridpipe_stack.kube.pki import SERVICE_CIDR, SERVICE_IP

    assert ipaddress.ip_address(SERVICE_IP) == next(ipaddress.ip_network(SERVICE_CIDR).hosts())


@pytest.mark.parametrize(
    ("goproxy", "base"),
    [
        ("", "https://proxy.golang.org"),
        ("off", "https://proxy.golang.org"),
        ("https://mirror.example/go/,direct", "https://mirror.example/go"),
        ("direct|http://10.0.0.1:3000", "http://10.0.0.1:3000"),
    ],
)
def test_module_zips_come_from_the_first_http_proxy_of_goproxy(goproxy: str, base: str) -> None:
    assert goproxy_base({"GOPROXY": goproxy}) == base


def test_prometheus_operator_crds_are_unpacked_from_the_module_zip_once(tmp_path: Path) -> None:
    module_zip = tmp_path / "module.zip"
    prefix = f"{PROMETHEUS_OPERATOR_MODULE}@{PROMETHEUS_OPERATOR}/example/prometheus-operator-crd/"
    with zipfile.ZipFile(module_zip, "w") as archive:
        for name in PROMETHEUS_OPERATOR_CRDS:
            archive.writestr(prefix + name, f"kind: CustomResourceDefinition\nmetadata: {{name: {name}}}\n")
        archive.writestr(prefix + "monitoring.coreos.com_alertmanagers.yaml", "kind: CustomResourceDefinition\n")
    files = extract_prometheus_operator_crds(module_zip, tmp_path / "cache")
    assert sorted(f.name for f in files) == sorted(PROMETHEUS_OPERATOR_CRDS)
    module_zip.unlink()  # the second call reads the cache, not the zip
    assert extract_prometheus_operator_crds(module_zip, tmp_path / "cache") == files
