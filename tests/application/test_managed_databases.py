"""The walkthrough's application on each cloud, under mocks: its `postgres` resource is the cloud's managed
PostgreSQL (RDS, Azure Database for PostgreSQL flexible server, Cloud SQL), the application's files and the pods'
variables unchanged; the database keys validated; and planted wiring mistakes caught."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from tests.support.managed_databases import (
    AZURE_POSTGRES,
    CLOUD_SQL,
    DATABASE,
    DEPLOYMENT,
    RDS,
    SECRET,
    k8s_named,
    named,
    wiring_problems,
)
from tools.stack_files import cloud_application_stack_names
from tools.verify.check import check_manifests
from tools.verify.diff import DATABASE_HOST, classify, workload_differences
from tools.verify.diff import workload as workload_objects
from tools.verify.mock_runner import ProgramRun, Registered, run_program
from tools.verify.render import render

CLOUD_STACKS = ["walkthrough-aks", "walkthrough-eks", "walkthrough-gke"]
DATABASE_TYPES = {"walkthrough-eks": RDS, "walkthrough-aks": AZURE_POSTGRES, "walkthrough-gke": CLOUD_SQL}


@cache
def run_of(stack: str) -> ProgramRun:
    run = run_program(stack)
    assert run.error is None, run.error
    return run


def test_each_cloud_has_an_application_stack() -> None:
    assert cloud_application_stack_names() == CLOUD_STACKS


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_the_database_is_the_clouds_managed_postgres_wired_as_promised(stack: str) -> None:
    run = run_of(stack)
    assert run.one(DATABASE_TYPES[stack])
    assert wiring_problems(run) == []


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_the_pods_read_the_same_variables_as_on_the_local_targets(stack: str) -> None:
    local = run_program("walkthrough")
    assert local.error is None, local.error

    def env(run: ProgramRun, workload: str) -> list[dict[str, object]]:
        (container,) = k8s_named(run, DEPLOYMENT, workload).inputs["spec"]["template"]["spec"]["containers"]
        return list(container.get("env") or [])

    for workload in ("login", "web"):
        assert env(run_of(stack), workload) == env(local, workload), workload
    # payments: the same variables, and the same values but the host, which is the database's own name (the one its
    # certificate names: the pods verify it).
    cloud_payments = {str(e["name"]): e for e in env(run_of(stack), "payments")}
    local_payments = {str(e["name"]): e for e in env(local, "payments")}
    assert sorted(cloud_payments) == sorted(local_payments)
    assert [n for n in cloud_payments if cloud_payments[n] != local_payments[n]] == ["DB_HOST"]
    host = k8s_named(run_of(stack), SECRET, DATABASE).inputs["stringData"]["host"]
    assert cloud_payments["DB_HOST"]["value"] == host != local_payments["DB_HOST"]["value"]
    # The Secret the password comes from has the same name and keys, and stays secret.
    cloud_secret, local_secret = k8s_named(run_of(stack), SECRET, DATABASE), k8s_named(local, SECRET, DATABASE)
    assert set(cloud_secret.inputs["stringData"]) == set(local_secret.inputs["stringData"])


@pytest.mark.parametrize(("a", "b"), [("walkthrough-eks", "walkthrough-aks"), ("walkthrough-eks", "walkthrough-gke"),
                                      ("walkthrough-aks", "walkthrough-gke")])  # fmt: skip
def test_between_clouds_the_application_differs_only_where_the_platform_and_the_provisioner_say(a: str, b: str) -> None:
    differences = workload_differences(run_of(a), run_of(b))
    assert [d.line() for d in differences if d.carried_by is None] == []
    carriers = {d.carried_by for d in differences}
    assert DATABASE_HOST in carriers
    assert "provisioner: the managed database's address block" in carriers
    assert "provisioner: the database's CA, which its clients verify it against" in carriers


def test_the_provisioners_differences_are_allowed_on_the_databases_objects_only() -> None:
    objects = workload_objects(run_of("walkthrough-eks"))
    web = objects["Service web"]
    secret, policy = objects[f"Secret {DATABASE}"], objects["NetworkPolicy payments"]
    ca, bundle = objects[f"ConfigMap {DATABASE}-ca"], objects["ConfigMap payments-postgres-ca"]
    assert classify(f"Secret {DATABASE}", "stringData.password", secret, secret)
    assert classify(f"Secret {DATABASE}", "stringData.host", secret, secret) == DATABASE_HOST
    assert classify(f"ConfigMap {DATABASE}-ca", "data.ca.crt", ca, ca)
    assert classify("ConfigMap payments-postgres-ca", "data.ca.crt", bundle, bundle)
    files = {**bundle, "metadata": {**bundle["metadata"], "labels": {"app.kubernetes.io/name": "payments"}}}
    assert classify("ConfigMap payments-files", "data.ca.crt", files, files) is None
    (to_database,) = [i for i, r in enumerate(policy["spec"]["egress"]) if r["ports"][0]["port"] == 5432]
    assert classify("NetworkPolicy payments", f"spec.egress[{to_database}].to[0].ipBlock.cidr", policy, policy)
    # The same paths on any other object are the workload's own differences.
    assert classify("Service web", "stringData.host", web, web) is None
    other_secret = {**secret, "metadata": {**secret["metadata"], "labels": {"app.kubernetes.io/name": "web"}}}
    assert classify("Secret web-token", "stringData.password", other_secret, other_secret) is None
    wider = copy.deepcopy(policy)
    wider["spec"]["egress"][to_database]["ports"] = [{"port": 443, "protocol": "TCP"}]
    path = f"spec.egress[{to_database}].to[0].ipBlock.cidr"
    assert classify("NetworkPolicy payments", path, wider, wider) is None


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_release_protection_releases_the_database_too(stack: str) -> None:
    run = run_program(stack, {"releaseProtection": "true"})
    assert run.error is None, run.error
    database = run.one(DATABASE_TYPES[stack])
    assert not database.protect
    if stack == "walkthrough-eks":
        # Released, the instance can be deleted; it still leaves its final snapshot and its automated backups.
        assert database.inputs["deletionProtection"] is False
        assert database.inputs["skipFinalSnapshot"] is False and database.inputs["deleteAutomatedBackups"] is False
        assert database.inputs["finalSnapshotIdentifier"] == run_of(stack).one(RDS).inputs["finalSnapshotIdentifier"]
    if stack == "walkthrough-gke":
        assert database.inputs["deletionProtection"] is False
        assert database.inputs["settings"]["deletionProtectionEnabled"] is False
        # A teardown deletes the peering, removing it from the network if Google still holds its resources.
        peering = named(run, "gcp:servicenetworking/connection:Connection", "gke-services-peering")
        access_range = named(run, "gcp:compute/globalAddress:GlobalAddress", "gke-services-range")
        assert peering.inputs["deletionPolicy"] == "REMOVE_PEERING"
        assert not peering.protect and not access_range.protect
        # The user is abandoned either way: its role owns the tables, and the instance's deletion takes it.
        assert named(run, "gcp:sql/user:User", f"{DATABASE}-user").inputs["deletionPolicy"] == "ABANDON"


@pytest.mark.parametrize(
    ("stack", "config", "path", "expected"),
    [
        ("walkthrough-eks", {}, ["instanceClass"], "db.t4g.micro"),
        ("walkthrough-eks", {}, ["allocatedStorage"], 20),
        ("walkthrough-eks", {}, ["engineVersion"], "17"),
        ("walkthrough-eks", {"databaseSize": "db.m7g.large", "databaseHighAvailability": "true",
                             "databaseStorage": "100", "databaseVersion": "16"},
         ["instanceClass", "multiAz", "allocatedStorage", "engineVersion"], ("db.m7g.large", True, 100, "16")),
        ("walkthrough-aks", {}, ["sku"], {"name": "Standard_B1ms", "tier": "Burstable"}),
        ("walkthrough-aks", {"databaseSize": "Standard_D2ds_v5", "databaseHighAvailability": "true",
                             "databaseStorage": "128"},
         ["sku", "highAvailability", "storage"],
         ({"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
          {"mode": "ZoneRedundant", "standbyAvailabilityZone": ""},
          {"storageSizeGB": 128, "autoGrow": "Enabled"})),
        ("walkthrough-gke", {}, ["databaseVersion"], "POSTGRES_17"),
        ("walkthrough-gke", {"databaseHighAvailability": "true", "databaseSize": "db-custom-2-7680"},
         ["settings"], None),
    ],
)  # fmt: skip
def test_the_database_keys_size_the_database(
    stack: str, config: dict[str, str], path: list[str], expected: object
) -> None:
    run = run_program(stack, config)
    assert run.error is None, run.error
    inputs = run.one(DATABASE_TYPES[stack]).inputs
    if stack == "walkthrough-gke" and path == ["settings"]:
        assert inputs["settings"]["availabilityType"] == "REGIONAL"
        assert inputs["settings"]["tier"] == "db-custom-2-7680"
        return
    got = tuple(inputs[p] for p in path) if len(path) > 1 else inputs[path[0]]
    assert got == expected


@pytest.mark.parametrize(
    ("stack", "config", "says"),
    [
        ("walkthrough-eks", {"databaseSize": "Standard_B1ms"}, "kubeport:databaseSize: 'Standard_B1ms' is not accepted "
                                                               "on target 'eks'"),
        ("walkthrough-aks", {"databaseSize": "db.t4g.micro"}, "kubeport:databaseSize: 'db.t4g.micro'"),
        ("walkthrough-gke", {"databaseSize": "e2-standard-2"}, "kubeport:databaseSize: 'e2-standard-2'"),
        ("walkthrough-gke", {"databaseVersion": "13"}, "kubeport:databaseVersion: '13' is not accepted"),
        ("walkthrough-eks", {"databaseStorage": "10"}, "kubeport:databaseStorage: 10 GiB is not accepted"),
        ("walkthrough-aks", {"databaseStorage": "33"}, "kubeport:databaseStorage: 33 GiB is not accepted"),
        ("walkthrough-eks", {"databaseStorage": "-1"}, "kubeport:databaseStorage: -1 is out of range"),
        ("walkthrough-aks", {"databaseHighAvailability": "true"}, "kubeport:databaseHighAvailability: Azure offers "
                                                                   "no high availability on a Burstable SKU"),
        ("walkthrough-gke", {"databaseHighAvailability": "yes"}, "kubeport:databaseHighAvailability: 'yes'"),
        ("eks", {"databaseSize": "db.t4g.micro"}, "kubeport:databaseSize: only applies with kubeport:application"),
        ("walkthrough-aks", {"databaseAdmin": None}, "kubeport:databaseAdmin: is required with kubeport:application"),
        ("walkthrough-aks", {"databaseAdmin": "kubeport-deployer"}, "kubeport:databaseAdmin: 'kubeport-deployer' is "
                                                                    "not a user principal name"),
        ("walkthrough-aks", {"databaseAdminType": "group"}, "kubeport:databaseAdminType: 'group' is not accepted"),
        ("aks", {"databaseAdmin": "alice@contoso.com"}, "kubeport:databaseAdmin: only applies with "
                                                        "kubeport:application"),
    ],
)  # fmt: skip
def test_a_bad_database_key_is_refused_naming_it_before_any_resource(
    stack: str, config: dict[str, str], says: str
) -> None:
    run = run_program(stack, config)
    assert run.error is not None and says in str(run.error), run.error
    problems = [line for line in str(run.error).splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, problems  # nothing else is reported: the rest of the stack is fine
    assert run.resources == []


@pytest.mark.parametrize(
    ("config", "name", "principal_type"),
    [
        ({}, "alice@contoso.com", "user"),
        ({"databaseAdmin": "kubeport-deployer", "databaseAdminType": "servicePrincipal"}, "kubeport-deployer",
         "servicePrincipal"),
    ],
)  # fmt: skip
def test_the_azure_entra_administrator_is_the_configured_deploying_identity(
    config: dict[str, str], name: str, principal_type: str
) -> None:
    run = run_program("walkthrough-aks", config)
    assert run.error is None, run.error
    admin = named(run, "azure-native:dbforpostgresql:AdministratorsMicrosoftEntra", f"{DATABASE}-entra-admin")
    assert (admin.inputs["principalName"], admin.inputs["principalType"]) == (name, principal_type)
    assert admin.inputs["objectId"]


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_the_clouds_application_objects_are_valid_and_scanner_clean(stack: str, tmp_path: Path) -> None:
    rendered = render(stack, tmp_path)
    kinds = sorted(d["kind"] for d in rendered.manifests.values())
    # The role's credentials (the pods') and the master user's (the roles Job's).
    assert kinds.count("Secret") == 2 and kinds.count("StatefulSet") == 0 and kinds.count("Job") == 1
    report = check_manifests(stack, tmp_path)
    assert report.findings == [], report.findings


# --- planted wiring mistakes: each must be caught -------------------------------------------------------------


def _resource(run: ProgramRun, type_: str, name: str) -> Registered:
    return named(run, type_, name)


def public_rds(run: ProgramRun) -> None:
    _resource(run, RDS, "payments-db-instance").inputs["publiclyAccessible"] = True


def rds_in_public_subnets(run: ProgramRun) -> None:
    _resource(run, "aws:rds/subnetGroup:SubnetGroup", "payments-db-subnets").inputs["subnetIds"] = [
        "eks-public-0-id",
        "eks-public-1-id",
    ]


def rds_open_to_the_vpc(run: ProgramRun) -> None:
    (rule,) = _resource(run, "aws:ec2/securityGroup:SecurityGroup", "payments-db-sg").inputs["ingress"]
    rule["cidrBlocks"] = ["0.0.0.0/0"]


def rds_unencrypted(run: ProgramRun) -> None:
    _resource(run, RDS, "payments-db-instance").inputs["storageEncrypted"] = False


def rds_password_in_the_program(run: ProgramRun) -> None:
    _resource(run, RDS, "payments-db-instance").inputs["password"] = "hunter2hunter2"


def rds_master_password_not_from_secrets_manager(run: ProgramRun) -> None:
    k8s_named(run, SECRET, f"{DATABASE}-admin").inputs["stringData"]["password"] = "hunter2hunter2"


def rds_tls_optional(run: ProgramRun) -> None:
    parameters = _resource(run, "aws:rds/parameterGroup:ParameterGroup", "payments-db-parameters").inputs
    parameters["parameters"][0]["value"] = "0"


def azure_tls_optional(run: ProgramRun) -> None:
    _resource(run, "azure-native:dbforpostgresql:Configuration", "payments-db-tls-only").inputs["value"] = "OFF"


def cloud_sql_unencrypted_allowed(run: ProgramRun) -> None:
    ip = _resource(run, CLOUD_SQL, "payments-db-instance").inputs["settings"]["ipConfiguration"]
    ip["sslMode"] = "ALLOW_UNENCRYPTED_AND_ENCRYPTED"


def _payments_env(run: ProgramRun) -> dict[str, dict[str, object]]:
    (container,) = k8s_named(run, DEPLOYMENT, "payments").inputs["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def pods_sign_in_as_the_master_user(run: ProgramRun) -> None:
    _payments_env(run)["DB_USER"]["value"] = "payments"


def pods_do_not_verify_the_server(run: ProgramRun) -> None:
    _payments_env(run)["PGSSLMODE"]["value"] = "require"


def pods_trust_another_ca(run: ProgramRun) -> None:
    k8s_named(run, "kubernetes:core/v1:ConfigMap", "payments-postgres-ca").inputs["data"]["ca.crt"] = "-----BEGIN"


def master_password_reaches_the_pods(run: ProgramRun) -> None:
    (container,) = k8s_named(run, DEPLOYMENT, "payments").inputs["spec"]["template"]["spec"]["containers"]
    container["env"].append({"name": "ADMIN", "valueFrom": {"secretKeyRef": {"name": f"{DATABASE}-admin",
                                                                             "key": "password"}}})  # fmt: skip


def rds_secret_not_kms_encrypted(run: ProgramRun) -> None:
    _resource(run, "aws:secretsmanager/secret:Secret", "payments-db-secret").inputs.pop("kmsKeyId")


def rds_without_final_snapshot(run: ProgramRun) -> None:
    _resource(run, RDS, "payments-db-instance").inputs["skipFinalSnapshot"] = True


def public_azure_server(run: ProgramRun) -> None:
    _resource(run, AZURE_POSTGRES, "payments-db-server").inputs["network"]["publicNetworkAccess"] = "Enabled"


def azure_server_in_the_nodes_subnet(run: ProgramRun) -> None:
    nodes = _resource(run, "azure-native:network:Subnet", "aks-nodes").id
    _resource(run, AZURE_POSTGRES, "payments-db-server").inputs["network"]["delegatedSubnetResourceId"] = nodes


def public_cloud_sql(run: ProgramRun) -> None:
    _resource(run, CLOUD_SQL, "payments-db-instance").inputs["settings"]["ipConfiguration"]["ipv4Enabled"] = True


def cloud_sql_on_the_default_network(run: ProgramRun) -> None:
    ip = _resource(run, CLOUD_SQL, "payments-db-instance").inputs["settings"]["ipConfiguration"]
    ip["privateNetwork"] = "projects/acme/global/networks/default"


def plain_text_password_in_the_secret(run: ProgramRun) -> None:
    k8s_named(run, SECRET, DATABASE).secret_inputs.clear()


def plain_text_password_in_the_deployment(run: ProgramRun) -> None:
    (container,) = k8s_named(run, DEPLOYMENT, "payments").inputs["spec"]["template"]["spec"]["containers"]
    variable = next(e for e in container["env"] if e["name"] == "DB_PASSWORD")
    variable.pop("valueFrom")
    variable["value"] = "hunter2hunter2"


def cloud_sql_user_deleted_on_delete(run: ProgramRun) -> None:
    _resource(run, "gcp:sql/user:User", "payments-db-user").inputs.pop("deletionPolicy")


def private_services_access_unprotected(run: ProgramRun) -> None:
    _resource(run, "gcp:servicenetworking/connection:Connection", "gke-services-peering").protect = False


def egress_to_the_wrong_network(run: ProgramRun) -> None:
    policy = k8s_named(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "payments")
    policy.inputs["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] = "0.0.0.0/0"


MISTAKES: list[tuple[str, Callable[[ProgramRun], None], str]] = [
    ("walkthrough-eks", public_rds, "RDS: publicly accessible"),
    ("walkthrough-eks", rds_in_public_subnets, "RDS: not in the nodes' private subnets"),
    ("walkthrough-eks", rds_open_to_the_vpc, "admits more than the nodes"),
    ("walkthrough-eks", rds_unencrypted, "RDS: storage not encrypted"),
    ("walkthrough-eks", rds_password_in_the_program, "RDS: the password is not the generated one"),
    ("walkthrough-eks", rds_master_password_not_from_secrets_manager, "does not take the password from the Secrets"),
    ("walkthrough-eks", rds_tls_optional, "RDS: accepts unencrypted connections"),
    ("walkthrough-aks", azure_tls_optional, "Azure PostgreSQL: accepts unencrypted connections"),
    ("walkthrough-gke", cloud_sql_unencrypted_allowed, "Cloud SQL: accepts unencrypted connections"),
    ("walkthrough-eks", pods_sign_in_as_the_master_user, "not the application's own role"),
    ("walkthrough-aks", pods_do_not_verify_the_server, "the pods do not verify the server"),
    ("walkthrough-gke", pods_trust_another_ca, "the pods' CA bundle is not the cloud's CA"),
    ("walkthrough-eks", master_password_reaches_the_pods, "the master user's credentials reach the services"),
    ("walkthrough-eks", rds_secret_not_kms_encrypted, "Secrets Manager secret is not encrypted with the cluster's"),
    ("walkthrough-eks", rds_without_final_snapshot, "RDS: no final snapshot on delete"),
    ("walkthrough-aks", public_azure_server, "Azure PostgreSQL: public network access"),
    ("walkthrough-aks", azure_server_in_the_nodes_subnet, "not in the subnet delegated to it"),
    ("walkthrough-gke", public_cloud_sql, "Cloud SQL: a public IP"),
    ("walkthrough-gke", cloud_sql_on_the_default_network, "not on the cluster's network"),
    ("walkthrough-eks", plain_text_password_in_the_secret, "not marked secret"),
    ("walkthrough-aks", plain_text_password_in_the_deployment, "DB_PASSWORD is not read from the database's Secret"),
    ("walkthrough-gke", cloud_sql_user_deleted_on_delete, "Cloud SQL: deleting the user fails"),
    ("walkthrough-gke", private_services_access_unprotected, "private services access is not protected"),
    ("walkthrough-gke", egress_to_the_wrong_network, "payments' egress to 5432 is not the database's network"),
]


@pytest.mark.parametrize(("stack", "plant", "says"), MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_a_planted_wiring_mistake_is_caught(stack: str, plant: Callable[[ProgramRun], None], says: str) -> None:
    run = copy.deepcopy(run_of(stack))
    assert wiring_problems(run) == []
    plant(run)
    found = wiring_problems(run)
    assert any(says in problem for problem in found), found
