"""The walkthrough's application under mocks, one local stack profile at a time: what each service gets, how
the database is provisioned, and who may reach whom (the NetworkPolicies, asked of cyclonus)."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.support.cyclonus import Peer, Question, ask, cyclonus
from tests.support.workload import DEPLOYMENT, SERVICE, transitive_dependencies
from tools.stack_files import ROOT, application_stack_names
from tools.verify.diff import workload_differences
from tools.verify.mock_runner import ProgramRun, Registered, run_program
from tools.verify.render import render

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
JOB = "kubernetes:batch/v1:Job"
PUSHED = {"registry": "server", "registryServer": "registry.example.com/team", "image": None}
PROFILES: dict[str, dict[str, str | None]] = {
    "walkthrough": {},
    "dev": {"application": "walkthrough"},
    "kind": {"application": "walkthrough", **PUSHED},
    "local": {"application": "walkthrough", "storageClass": "kubeport-local"},
    "local-a": {"application": "walkthrough", **PUSHED},
}
"""Every local and existing stack, with the application instead of the single app."""


@cache
def run_of(profile: str) -> ProgramRun:
    stack = profile
    run = run_program(stack, PROFILES[profile])
    assert run.error is None, run.error
    return run


def by_name(run: ProgramRun, kind: str) -> dict[str, Registered]:
    return {r.inputs["metadata"]["name"]: r for r in run.of_type(kind)}


def container(deployment: Registered) -> dict[str, Any]:
    (only,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_the_application_stacks_are_the_walkthroughs_and_the_notebook() -> None:
    assert application_stack_names() == ["notebook", "walkthrough", "walkthrough-a", "walkthrough-b"]


@pytest.mark.parametrize("profile", PROFILES)
def test_each_service_is_a_hardened_deployment_and_only_web_is_public(profile: str) -> None:
    run = run_of(profile)
    deployments = by_name(run, DEPLOYMENT)
    assert sorted(deployments) == ["login", "payments", "web"]
    services = by_name(run, SERVICE)
    assert services["login"].inputs["spec"]["type"] == "ClusterIP"
    assert services["payments"].inputs["spec"]["type"] == "ClusterIP"
    assert services["payments-db"].inputs["spec"]["clusterIP"] == "None"
    assert services["web"].inputs["spec"]["type"] in ("NodePort", "LoadBalancer")
    for deployment in deployments.values():
        pod = deployment.inputs["spec"]["template"]["spec"]
        main = container(deployment)
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert main["securityContext"]["readOnlyRootFilesystem"] is True
        assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert "/tmp" in {m["mountPath"] for m in main["volumeMounts"]}
        assert all(m.get("readOnly") for m in main["volumeMounts"] if m["mountPath"] != "/tmp")


@pytest.mark.parametrize("profile", PROFILES)
def test_web_proxies_payments_through_the_file_its_workload_file_declares(profile: str) -> None:
    run = run_of(profile)
    web = by_name(run, DEPLOYMENT)["web"]
    namespace = web.inputs["metadata"]["namespace"]
    (mount,) = [m for m in container(web)["volumeMounts"] if m["mountPath"] != "/tmp"]
    assert mount["mountPath"] == "/etc/nginx/kubeport.d/payments.conf" and mount["readOnly"] is True
    (files,) = [r for r in run.of_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"] == "web-files"]
    (content,) = files.inputs["data"].values()
    assert f"proxy_pass http://payments.{namespace}.svc:80/;" in content
    # web starts after the Service it calls exists: nginx resolves the name when it starts.
    assert by_name(run, SERVICE)["payments"].urn in transitive_dependencies(run, web)


@pytest.mark.parametrize("profile", PROFILES)
def test_payments_gets_its_database_through_the_same_variables_everywhere(profile: str) -> None:
    run = run_of(profile)
    payments = by_name(run, DEPLOYMENT)["payments"]
    env = {e["name"]: e for e in container(payments)["env"]}
    namespace = payments.inputs["metadata"]["namespace"]
    assert env["DB_HOST"]["value"] == f"payments-db.{namespace}.svc"
    assert env["DB_PORT"]["value"] == "5432"
    assert env["DB_NAME"]["value"] == "payments"
    # Its own role, never the server's administrator (named after the database).
    assert env["DB_USER"]["value"] == "payments_app"
    # The password is never in the Deployment: it is read from the database's Secret, which Pulumi keeps secret.
    assert "value" not in env["DB_PASSWORD"]
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "payments-db", "key": "password"}
    secret = by_name(run, SECRET)["payments-db"]
    assert "stringData.password" in secret.secret_inputs or "stringData" in secret.secret_inputs
    assert secret.inputs["stringData"]["username"] == "payments_app"
    login = {e["name"]: e["value"] for e in container(by_name(run, DEPLOYMENT)["login"])["env"]}
    assert login == {"PAYMENTS_URL": f"http://payments.{namespace}.svc:80/"}


@pytest.mark.parametrize("profile", PROFILES)
def test_payments_verifies_its_database_against_the_ca_that_signed_the_servers_certificate(profile: str) -> None:
    """verify-full for any libpq client (PGSSLMODE, PGSSLROOTCERT) and in the file's own variable; the CA mounted
    is the one the server's certificate chains to, and that certificate is for the host payments connects to."""
    run = run_of(profile)
    payments = by_name(run, DEPLOYMENT)["payments"]
    main = container(payments)
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["PGSSLMODE"] == "verify-full"
    assert env["PGSSLROOTCERT"] == env["DB_SSLROOTCERT"] == "/etc/kubeport/postgres/ca.crt"
    mount = {m["mountPath"]: m for m in main["volumeMounts"]}["/etc/kubeport/postgres"]
    volume = {v["name"]: v for v in payments.inputs["spec"]["template"]["spec"]["volumes"]}[mount["name"]]
    bundle = by_name(run, CONFIG_MAP)[volume["configMap"]["name"]].inputs["data"]["ca.crt"]
    assert by_name(run, CONFIG_MAP)["payments-db-ca"].inputs["data"]["ca.crt"] == bundle
    tls = by_name(run, SECRET)["payments-db-tls"]
    assert tls.inputs["type"] == "kubernetes.io/tls"
    assert "stringData" in tls.secret_inputs or "stringData.tls.key" in tls.secret_inputs
    assert_issued_for(tls.inputs["stringData"]["tls.crt"], bundle, env["DB_HOST"])
    # Not for another name: a server presenting this certificate as someone else is refused.
    with pytest.raises(AssertionError):
        assert_issued_for(tls.inputs["stringData"]["tls.crt"], bundle, f"impostor.{env['DB_HOST'].split('.', 1)[1]}")


def assert_issued_for(certificate: str, ca: str, host: str) -> None:
    cert = x509.load_pem_x509_certificate(certificate.encode())
    issuer = x509.load_pem_x509_certificate(ca.encode())
    cert.verify_directly_issued_by(issuer)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert host in names, (host, names)


@pytest.mark.parametrize("profile", PROFILES)
def test_the_database_is_a_statefulset_on_a_volume_with_generated_credentials(profile: str) -> None:
    run = run_of(profile)
    (database,) = run.of_type(STATEFULSET)
    spec = database.inputs["spec"]
    (claim,) = spec["volumeClaimTemplates"]
    expected_class = {"walkthrough": "kubeport-local", "local": "kubeport-local"}.get(profile)
    assert claim["spec"].get("storageClassName") == expected_class
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    pod = spec["template"]["spec"]
    # Set the volume's group once, not on every start: a recursive change opens PGDATA to the group, and
    # PostgreSQL then refuses to start (found by the real run's restart of the database pod).
    assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    (postgres,) = pod["containers"]
    assert postgres["securityContext"]["readOnlyRootFilesystem"] is True
    assert postgres["securityContext"]["runAsNonRoot"] is True
    assert postgres["image"].startswith("postgres:17-bookworm@sha256:") or profile == "walkthrough"
    # One generated password for the administrator, one for the application's role.
    passwords = run.of_type("pulumi-python:dynamic/kubeport:GeneratedPassword")
    assert sorted(p.name for p in passwords) == ["payments-db-app-password", "payments-db-password"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in postgres["env"] if "valueFrom" in e}
    assert env == {"POSTGRES_USER": "payments-db-admin", "POSTGRES_DB": "payments-db-admin",
                   "POSTGRES_PASSWORD": "payments-db-admin"}  # fmt: skip


@pytest.mark.parametrize("profile", PROFILES)
def test_the_database_speaks_tls_only_and_admits_only_its_role_and_the_roles_job(profile: str) -> None:
    run = run_of(profile)
    (database,) = run.of_type(STATEFULSET)
    pod = database.inputs["spec"]["template"]["spec"]
    (postgres,) = pod["containers"]
    settings = dict(zip(postgres["args"][1::2], postgres["args"][2::2], strict=True))
    assert postgres["args"][0] == "postgres" and set(settings) == {"-c"}
    options = dict(o.split("=", 1) for o in postgres["args"][2::2])
    assert options["ssl"] == "on" and options["ssl_min_protocol_version"] == "TLSv1.2"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in postgres["volumeMounts"]}
    tls_folder = options["ssl_key_file"].rsplit("/", 1)[0]
    assert volumes[mounts[tls_folder]]["secret"]["secretName"] == "payments-db-tls"
    assert volumes[mounts[tls_folder]]["secret"]["defaultMode"] == 0o440
    hba_folder = options["hba_file"].rsplit("/", 1)[0]
    hba = by_name(run, CONFIG_MAP)[volumes[mounts[hba_folder]]["configMap"]["name"]].inputs["data"]["pg_hba.conf"]
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert rules == [
        ["local", "all", "all", "trust"],
        ["hostssl", "payments", "payments_app", "all", "scram-sha-256"],
        ["hostssl", "payments", "payments", "all", "scram-sha-256"],
        ["host", "all", "all", "all", "reject"],
    ]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_roles_job_makes_the_applications_role_as_the_administrator_over_verified_tls(profile: str) -> None:
    run = run_of(profile)
    (job,) = run.of_type(JOB)
    pod = job.inputs["spec"]["template"]["spec"]
    (roles,) = pod["containers"]
    env = {e["name"]: e for e in roles["env"]}
    namespace = job.inputs["metadata"]["namespace"]
    assert env["PGHOST"]["value"] == f"payments-db.{namespace}.svc"
    assert env["PGSSLMODE"]["value"] == "verify-full"
    assert env["APP_ROLE"]["value"] == "payments_app"
    assert env["PGUSER"]["valueFrom"]["secretKeyRef"] == {"name": "payments-db-admin", "key": "username"}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "payments-db-admin", "key": "password"}
    assert env["KUBEPORT_APP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "payments-db", "key": "password"}
    ca_volume = {v["name"]: v for v in pod["volumes"]}["ca"]["configMap"]["name"]
    assert ca_volume == "payments-db-ca"
    assert env["PGSSLROOTCERT"]["value"].startswith({m["name"]: m["mountPath"] for m in roles["volumeMounts"]}["ca"])
    # The services wait for it: their role exists before they start.
    assert job.urn in transitive_dependencies(run, by_name(run, DEPLOYMENT)["payments"])
    # Only the Job reads the administrator's credentials.
    readers = {
        r.inputs["metadata"]["name"]
        for r in [*run.of_type(DEPLOYMENT), *run.of_type(STATEFULSET), job]
        for c in r.inputs["spec"]["template"]["spec"]["containers"]
        for e in c.get("env") or []
        if (e.get("valueFrom") or {}).get("secretKeyRef", {}).get("name") == "payments-db-admin"
    }
    assert readers == {"payments-db", job.inputs["metadata"]["name"]}


@pytest.mark.parametrize("profile", ["kind", "local-a", "walkthrough"])
def test_pushed_services_run_by_digest_from_one_repository(profile: str) -> None:
    run = run_of(profile)
    images = {name: container(d)["image"] for name, d in by_name(run, DEPLOYMENT).items()}
    repositories = set()
    for name, image in images.items():
        reference, _, digest = image.partition("@")
        repository, _, tag = reference.rpartition(":")
        assert tag.startswith(f"{name}-") and digest.startswith("sha256:"), image
        repositories.add(repository)
    assert len(repositories) == 1


@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "walkthrough"])
def test_the_application_is_the_same_on_every_local_target_but_what_the_platform_carries(profile: str) -> None:
    """`python -m tools diff`'s rule over the application: every difference is one the Platform carries."""
    same_namespace = run_program(profile, {**PROFILES[profile], "namespace": "walkthrough"})
    assert same_namespace.error is None, same_namespace.error
    differences = workload_differences(run_of("walkthrough"), same_namespace)
    assert [d.line() for d in differences if d.carried_by is None] == []
    assert differences, "the targets do differ (images, exposure, storage): the rule must have seen them"


@pytest.mark.parametrize(
    ("other", "config"),
    [
        ("walkthrough-a", ["~ kubeport:kubeContext: kubeport-node -> kubeport-a"]),
        # The migration's target: the other node's context and address.
        ("walkthrough-b", ["~ kubeport:kubeContext: kubeport-node -> kubeport-node-b",
                           "~ kubeport:nodeAddress: 10.250.0.2 -> 10.250.1.2"]),
    ],
)  # fmt: skip
def test_diff_between_the_application_stacks_finds_nothing_but_the_cluster(other: str, config: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools", "diff", "walkthrough", other],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 differences" in done.stdout
    for line in config:
        assert line in done.stdout, done.stdout


def test_an_app_stack_refuses_the_database_naming_the_target_before_any_resource() -> None:
    """An app stack deploys onto another stack's cluster, which makes no database for it (the clouds' managed
    databases: tests/application/test_managed_databases.py)."""
    run = run_program("shop-eks", {"application": "walkthrough", "image": None, "registry": "server",
                                   "registryServer": "registry.example.com/team"})  # fmt: skip
    assert run.error is not None
    assert "payments.score.yaml: resources.db: target 'stackref' has no postgres provisioner" in str(run.error)
    assert run.resources == []


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Peer]]:
    out = tmp_path_factory.mktemp("walkthrough")
    render("walkthrough", out / "all")
    docs = [yaml.safe_load(f.read_text()) for f in sorted((out / "all").glob("*.yaml"))]
    (out / "policies").mkdir()
    pods: dict[str, Peer] = {}
    for doc in docs:
        if doc["kind"] == "NetworkPolicy":
            (out / "policies" / f"{doc['metadata']['name']}.yaml").write_text(yaml.safe_dump(doc))
        if doc["kind"] in ("Deployment", "StatefulSet"):
            template = doc["spec"]["template"]
            ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c["ports"]}
            name = doc["metadata"]["name"]
            pods[name] = Peer(name, doc["metadata"]["namespace"], template["metadata"]["labels"], ports)
    return out / "policies", pods


def test_the_network_policies_admit_exactly_the_declared_calls(
    policies: tuple[Path, dict[str, Peer]], tmp_path: Path
) -> None:
    cyclonus()
    folder, pods = policies
    web, login, payments, db = pods["web"], pods["login"], pods["payments"], pods["payments-db"]
    unlabelled = Peer("unlabelled", web.namespace, {})
    outsider = Peer("outsider", ip="203.0.113.7")
    expect = [
        (Question(outsider, web, 8080), True),  # web is public
        (Question(web, payments, 8080), True),
        (Question(login, payments, 8080), True),
        (Question(payments, db, 5432), True),
        (Question(web, db, 5432), False),  # only payments reaches the database
        (Question(login, db, 5432), False),
        (Question(outsider, payments, 8080), False),
        (Question(outsider, login, 8080), False),
        (Question(outsider, db, 5432), False),
        (Question(payments, web, 8080), False),  # no call the files do not declare
        (Question(payments, login, 8080), False),
        (Question(web, login, 8080), False),
        (Question(unlabelled, payments, 8080), False),  # a pod with no labels reaches nothing
        (Question(unlabelled, db, 5432), False),
        (Question(unlabelled, login, 8080), False),
        (Question(db, payments, 8080), False),
    ]
    answers = ask(folder, [q for q, _ in expect], tmp_path)
    wrong = [f"{q}: {'allowed' if a else 'denied'}" for (q, want), a in zip(expect, answers, strict=True) if a != want]
    assert wrong == []
