"""A workload file's `redis`: a cache of the workload's own, the same variables on every target. Locally an in-cluster
Redis (TLS with a certificate kubeport issues, the application's user alone, its configuration and password in a
Secret, a NetworkPolicy admitting the declaring workload only); on each cloud the cloud's managed Redis, private,
TLS only, encrypted at rest where the cloud lets one choose, with an AUTH token. One stack profile at a time, under
mocks; each cloud's unsafe variants (public, unencrypted, without AUTH) planted and caught."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs

from tests.support.application import API, NETPOL, named, only_container, run_files
from tools.stack_files import ROOT
from tools.verify.mock_runner import ProgramRun, Registered

sys.path.insert(0, str(ROOT / "policy"))
import kubeport_policies as kp

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CA_PATH = "/etc/kubeport/postgres/ca.crt"
NOTES = """\
apiVersion: score.dev/v1b1
metadata: {name: notes}
containers:
  main:
    image: registry.example.com/notes:1.0.0
    variables:
      CACHE_HOST: ${resources.cache.host}
      CACHE_PORT: ${resources.cache.port}
      CACHE_USER: ${resources.cache.username}
      CACHE_PASSWORD: ${resources.cache.password}
      CACHE_TLS: ${resources.cache.tls}
      CACHE_CA: ${resources.cache.cacert}
service:
  ports:
    http: {port: 80, targetPort: 8080}
resources:
  cache:
    type: redis
"""
CLOUD_CACHES = {
    "walkthrough-eks": (kp.ELASTICACHE, 6379),
    "walkthrough-aks": (kp.AZURE_REDIS, 6380),
    "walkthrough-gke": (kp.MEMORYSTORE, 6378),
}


def run_notes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack: str) -> ProgramRun:
    run = run_files(monkeypatch, tmp_path, {"notes": NOTES, "api": API}, stack=stack)
    assert run.error is None, run.error
    return run


def env_of(run: ProgramRun) -> dict[str, Any]:
    container = only_container(named(run, DEPLOYMENT)["notes"])
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def variables_problems(run: ProgramRun, host: str, port: int, username: str) -> list[str]:
    """The notes container reads the cache's variables: the password from a Secret (never inline), TLS, the CA
    bundle's path; and no libpq variables, since it declares no database."""
    env = env_of(run)
    found = []
    expected = {"CACHE_HOST": host, "CACHE_PORT": str(port), "CACHE_USER": username, "CACHE_TLS": "true",
                "CACHE_CA": CA_PATH}  # fmt: skip
    for name, value in expected.items():
        if env.get(name) != value:
            found.append(f"{name}={env.get(name)!r}, expected {value!r}")
    reference = env.get("CACHE_PASSWORD")
    if not isinstance(reference, dict) or "secretKeyRef" not in reference:
        found.append(f"the password is not read from a Secret: {reference!r}")
    else:
        secret = named(run, SECRET).get(reference["secretKeyRef"]["name"])
        if secret is None or reference["secretKeyRef"]["key"] not in secret.inputs.get("stringData", {}):
            found.append(f"the password's Secret or key is missing: {reference}")
    if "PGSSLMODE" in env:
        found.append("libpq's variables on a workload without a database")
    return found


def egress_of(run: ProgramRun) -> list[dict[str, Any]]:
    spec = named(run, NETPOL)["notes"].inputs["spec"]
    return list(spec["egress"])


def test_locally_the_cache_is_kubeports_redis_tls_only_its_user_alone_reached_by_the_declarer_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_notes(monkeypatch, tmp_path, "walkthrough")
    assert variables_problems(run, "notes-cache.walkthrough.svc", 6379, "notes") == []
    server = named(run, DEPLOYMENT)["notes-cache"]
    pod = server.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # The password reaches the server in its configuration file, from a Secret: not on a command line, nor in env.
    assert container["command"] == ["redis-server", "/etc/kubeport/redis/redis.conf"]
    assert "env" not in container and "args" not in container
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["secret"]["secretName"] == "notes-cache-config"
    assert volumes["tls"]["secret"]["secretName"] == "notes-cache-tls"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    # Only the notes pods reach it, on its port; it reaches nothing.
    policy = named(run, NETPOL)["notes-cache"]
    (rule,) = policy.inputs["spec"]["ingress"]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in rule["from"]] == ["notes"]
    assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}] and policy.inputs["spec"]["egress"] == []
    assert any(
        r["to"][0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/instance") == "notes-cache"
        for r in egress_of(run)
    ), "the notes pods may reach their cache"
    # The workload trusts the cache's own CA (the certificate kubeport issued), mounted at the bundle's path.
    ca = named(run, CONFIG_MAP)["notes-postgres-ca"]
    certificate = next(r for r in run.resources if r.name == "notes-cache-certificate")
    assert ca.inputs["data"]["ca.crt"] == certificate.state["ca"]
    assert "api" not in named(run, CONFIG_MAP)


def test_the_server_configuration_is_tls_only_with_the_default_user_off() -> None:
    from components.redis import server_config

    text = server_config("notes", "s3cr3t-Value_1")
    lines = text.splitlines()
    assert "port 0" in lines and "tls-port 6379" in lines
    assert "user default off" in lines
    assert "user notes on >s3cr3t-Value_1 ~* &* +@all -@dangerous" in lines
    assert 'save ""' in lines and "appendonly no" in lines
    for bad in ("", "two words"):
        with pytest.raises(ValueError, match="white space"):
            server_config("notes", bad)


@pytest.mark.parametrize("stack", sorted(CLOUD_CACHES))
def test_on_each_cloud_the_cache_is_the_clouds_managed_redis_private_encrypted_with_auth(
    stack: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_notes(monkeypatch, tmp_path, stack)
    kind, port = CLOUD_CACHES[stack]
    (made,) = run.of_type(kind)
    assert cache_problems(made) == []
    assert not named(run, DEPLOYMENT).get("notes-cache"), "no in-cluster Redis on a cloud"
    secret = named(run, SECRET)["notes-cache"]
    assert secret.inputs["stringData"]["username"] == "default"
    env = env_of(run)
    assert variables_problems(run, env["CACHE_HOST"], port, "default") == []
    # The notes pods may leave for the cache's private network, on its port only.
    cache_rules = [r for r in egress_of(run) if r["ports"] == [{"port": port, "protocol": "TCP"}]]
    assert cache_rules and all("ipBlock" in to for r in cache_rules for to in r["to"]), egress_of(run)
    # No static cloud key in any Secret: the pods hold the cache's own AUTH token only.
    for each in run.of_type(SECRET):
        text = json.dumps(each.inputs).lower()
        assert "aws_secret_access_key" not in text and "accountkey=" not in text, each.name


def cache_problems(made: Registered) -> list[str]:
    """What the policy pack's `cloud-caches` says of the cache's own properties."""
    return violations(policy_args(made, made.inputs))


def violations(args: ResourceValidationArgs) -> list[str]:
    found: list[str] = []

    def report(message: str, _urn: str | None = None) -> None:
        found.append(message)

    kp.cloud_caches(args, report)
    return found


def policy_args(made: Registered, props: dict[str, Any]) -> ResourceValidationArgs:
    return ResourceValidationArgs(made.type, props, made.urn, made.name, None, None, None)  # type: ignore[arg-type]


PLANTED: dict[str, dict[str, dict[str, Any]]] = {
    "walkthrough-eks": {
        "public": {"subnetGroupName": ""},
        "unencrypted in transit": {"transitEncryptionEnabled": False},
        "plain text allowed": {"transitEncryptionMode": "preferred"},
        "unencrypted at rest": {"atRestEncryptionEnabled": False},
        "not with the cluster's key": {"kmsKeyId": ""},
        "no AUTH": {"authToken": ""},
    },
    "walkthrough-aks": {
        "public": {"publicNetworkAccess": "Enabled"},
        "unencrypted": {"enableNonSslPort": True},
        "old TLS": {"minimumTlsVersion": "1.0"},
    },
    "walkthrough-gke": {
        "public": {"connectMode": "DIRECT_PEERING"},
        "unencrypted": {"transitEncryptionMode": "DISABLED"},
        "no AUTH": {"authEnabled": False},
    },
}


@pytest.mark.parametrize(("stack", "plant"), [(s, p) for s, plants in PLANTED.items() for p in plants], ids=str)
def test_an_unsafe_cache_planted_on_a_cloud_is_caught(
    stack: str, plant: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_notes(monkeypatch, tmp_path, stack)
    (made,) = run.of_type(CLOUD_CACHES[stack][0])
    props: dict[str, Any] = {**copy.deepcopy(made.inputs), **PLANTED[stack][plant]}
    assert violations(policy_args(made, props)), f"{stack}: a cache {plant} passed"


def test_a_workload_without_a_cache_gets_no_cache_and_no_cloud_network_for_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_files(monkeypatch, tmp_path, {"api": API}, stack="walkthrough-gke")
    assert run.error is None, run.error
    assert not run.of_type(kp.MEMORYSTORE)
    assert not [r for r in run.resources if r.type == "gcp:servicenetworking/connection:Connection"]
