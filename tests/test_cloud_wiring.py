"""What each cloud's workload waits for, who may pull and push, and where push credentials come from.

The same questions on EKS, AKS and GKE: pods are created only once nodes exist and may pull the image;
on AKS the deployer holds the rights it uses, and the push token is exchanged from the deployer's own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import mocks as pulumi_mocks

from tests.workload import DEPLOYMENT, IMAGE, POD, stack_run
from tools.offline import FakeCloud, ProgramRun, Registered, run_program

# Azure's built-in role definitions, by their documented ids.
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def transitive_dependencies(run: ProgramRun, resource: Registered) -> set[str]:
    """Every URN `resource` waits for, directly or through what it waits for."""
    seen: set[str] = set()
    todo = list(resource.dependencies)
    while todo:
        urn = todo.pop()
        if urn in seen:
            continue
        seen.add(urn)
        todo.extend(next((r.dependencies for r in run.resources if r.urn == urn), []))
    return seen


def role_assignment(run: ProgramRun, role: str) -> Registered:
    (found,) = [a for a in run.of_type(ROLE_ASSIGNMENT) if a.inputs["roleDefinitionId"].endswith(f"/{role}")]
    return found


def eks_needs(run: ProgramRun) -> dict[str, Registered]:
    node_group = run.one("aws:eks/nodeGroup:NodeGroup")
    node_role = next(r for r in run.of_type("aws:iam/role:Role") if r.state["arn"] == node_group.inputs["nodeRoleArn"])
    (ecr_read,) = [
        a
        for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.state["name"] and a.inputs["policyArn"].endswith("ContainerRegistryReadOnly")
    ]
    return {"nodes": node_group, "pull rights": ecr_read}


def aks_needs(run: ProgramRun) -> dict[str, Registered]:
    # AKS's node pool is part of the managed cluster resource.
    return {
        "nodes": run.one("azure-native:containerservice:ManagedCluster"),
        "pull rights": role_assignment(run, ACR_PULL),
        "Kubernetes rights": role_assignment(run, AKS_RBAC_CLUSTER_ADMIN),
    }


def gke_needs(run: ProgramRun) -> dict[str, Registered]:
    return {
        "nodes": run.one("gcp:container/nodePool:NodePool"),
        "pull rights": run.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"),
    }


NEEDS: dict[str, Callable[[ProgramRun], dict[str, Registered]]] = {"eks": eks_needs, "aks": aks_needs, "gke": gke_needs}


@pytest.mark.parametrize("stack", sorted(NEEDS))
def test_pods_wait_for_nodes_and_pull_rights(stack: str) -> None:
    run = stack_run(stack)
    needs = NEEDS[stack](run)
    for runs_pods in (run.one(DEPLOYMENT), run.one(POD)):
        waits_for = transitive_dependencies(run, runs_pods)
        for what, resource in needs.items():
            assert resource.urn in waits_for, f"{stack}: {runs_pods.type} does not wait for {what}"


class SentinelAzure(FakeCloud):
    """The fake cloud, with a deployer, a tenant and an Entra token no other test uses."""

    DEPLOYER = "deployer-object-id-sentinel"
    TENANT = "tenant-sentinel"
    ENTRA_TOKEN = "entra-token-sentinel"

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answer, failures = super().call(args)
        if args.token == "azure-native:authorization:getClientConfig":
            answer = {**answer, "tenantId": self.TENANT, "objectId": self.DEPLOYER}
        if args.token == "azure-native:authorization:getClientToken":
            answer = {"token": self.ENTRA_TOKEN}
        return answer, failures


def test_aks_every_kubernetes_object_waits_for_the_deployers_cluster_rights() -> None:
    run = stack_run("aks")
    admin = role_assignment(run, AKS_RBAC_CLUSTER_ADMIN)
    for obj in run.kubernetes_objects():
        assert admin.urn in transitive_dependencies(run, obj), obj.type


def test_aks_role_assignments_give_each_identity_only_its_job() -> None:
    run = run_program("aks", mocks=SentinelAzure())
    assert run.error is None, run.error
    cluster = run.one("azure-native:containerservice:ManagedCluster")
    registry = run.one("azure-native:containerregistry:Registry")
    deployer = SentinelAzure.DEPLOYER
    kubelet = cluster.state["identityProfile"]["kubeletidentity"]["objectId"]
    granted = {
        (a.inputs["roleDefinitionId"].rsplit("/", 1)[1], a.inputs["principalId"], a.inputs["scope"])
        for a in run.of_type(ROLE_ASSIGNMENT)
    }
    assert granted == {
        (ACR_PULL, kubelet, registry.id),
        (ACR_PUSH, deployer, registry.id),
        (AKS_RBAC_CLUSTER_ADMIN, deployer, cluster.id),
    }


EXCHANGE_PROGRAM = """
import pulumi
from components.aks import AksCluster, AksClusterArgs

def exchange(login_server: str, tenant: str, token: str) -> str:
    return f"exchanged:{login_server}:{tenant}:{token}"

cluster = AksCluster("aks", AksClusterArgs(
    location="westeurope", subscription_id="00000000-0000-0000-0000-000000000000",
    allowed_cidrs=["203.0.113.0/24"], token_exchange=exchange))
pulumi.export("address", cluster.registry_login.address)
pulumi.export("username", cluster.registry_login.username)
pulumi.export("password", cluster.registry_login.password)
"""


def test_aks_push_token_is_exchanged_from_the_deployers_entra_token(tmp_path: Path) -> None:
    program = tmp_path / "exchange.py"
    program.write_text(EXCHANGE_PROGRAM)
    run = run_program("aks", program=program, mocks=SentinelAzure())
    assert run.error is None, run.error
    login_server = run.one("azure-native:containerregistry:Registry").state["loginServer"]
    assert run.outputs["address"].value == login_server
    password = run.outputs["password"]
    assert password.secret
    assert password.value == f"exchanged:{login_server}:{SentinelAzure.TENANT}:{SentinelAzure.ENTRA_TOKEN}"


def test_aks_image_logs_in_to_the_clusters_own_registry_with_a_secret() -> None:
    # Under mocks the full program switches the exchange off (it would call the registry); the login is the same.
    run = stack_run("aks")
    login = run.one(IMAGE).inputs["registries"][0]
    assert login["address"] == run.one("azure-native:containerregistry:Registry").state["loginServer"]
    assert any(path.startswith("registries") for path in run.one(IMAGE).secret_inputs)
