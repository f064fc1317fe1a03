"""The clouds' answers under Pulumi's mocks: outputs shaped like the real providers' results, per cloud.

The mock runner (`tools.verify.mock_runner`) hands every registration and invoke to `FakeCloud`, which fills in what
the real provider would compute: a LoadBalancer's address, an image digest, cloud ids, the EKS endpoint, the
AKS kubelet identity, the GKE node account's e-mail; and answers the invokes the programs call (availability
zones, registry tokens, client configs). Nothing here reaches a cloud.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from components.certificate import Issued, issue

ACCOUNT = "123456789012"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n").decode()
AKS_USER_KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: aks-cluster
  cluster:
    server: https://aks-fake.hcp.westeurope.azmk8s.io:443
    certificate-authority-data: {FAKE_CA}
contexts:
- name: aks-cluster
  context: {{cluster: aks-cluster, user: clusterUser_aks-cluster}}
current-context: aks-cluster
users:
- name: clusterUser_aks-cluster
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --environment, AzurePublicCloud, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630,
             --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, 11111111-2222-3333-4444-555555555555,
             --login, devicecode]
"""


CLOUD_SQL_CA = "-----BEGIN CERTIFICATE-----\nfake Cloud SQL server CA\n-----END CERTIFICATE-----\n"


@functools.cache
def issued_certificate(common_name: str, dns_names: tuple[str, ...]) -> Issued:
    """A real certificate from the provider's own function (components.certificate), one per name in a process: two
    renders of the same names (`tools diff` of two stacks) hold the same certificate, as a stack's state would."""
    return issue(common_name, dns_names)


def fake_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeCloud(pulumi_mocks.Mocks):
    """Answers registrations and invokes with outputs shaped like the real providers' results.

    `references` answers StackReferences: stack name -> (outputs, names of the secret ones).
    """

    def __init__(self, references: Mapping[str, tuple[dict[str, Any], list[str]]] | None = None) -> None:
        self.references = dict(references or {})

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ == "pulumi:pulumi:StackReference":
            name = str(args.inputs.get("name"))
            if name not in self.references:
                raise RuntimeError(f"unknown stack {name!r}")
            outputs, secrets = self.references[name]
            return name, {"name": name, "outputs": outputs, "secretOutputNames": secrets}
        if args.typ == "pulumi-python:dynamic/kubeport:GeneratedPassword":
            # What the program's own provider would make (components.password), so its path to a Secret shows.
            state["value"] = f"fake-generated-password-{args.name}"
        elif args.typ == "pulumi-python:dynamic/kubeport:IssuedCertificate":
            # A real one, from the provider's own function (components.certificate): its names can be read back.
            issued = issued_certificate(str(state["common_name"]), tuple(str(n) for n in state["dns_names"]))
            state |= {"ca": issued.ca, "certificate": issued.certificate, "key": issued.key,
                      "not_after": issued.not_after.isoformat()}  # fmt: skip
        elif args.typ == "docker-build:index:Image":
            tags = state.get("tags") or []
            digest = fake_digest(args.name + json.dumps(tags))
            state["digest"] = digest if state.get("push") else ""
            state["ref"] = f"{tags[0]}@{digest}" if tags and state.get("push") else (tags[0] if tags else "")
        elif args.typ.startswith("kubernetes:") and args.typ != "pulumi:providers:kubernetes":
            metadata = dict(state.get("metadata") or {})
            # Pulumi auto-names objects without a name: logical name plus a random suffix.
            metadata.setdefault("name", f"{args.name}-a1b2c3d4")
            state["metadata"] = metadata
            if args.typ == "kubernetes:core/v1:Service":
                state["status"] = self._service_status(state)
            elif args.typ == "kubernetes:networking.k8s.io/v1:Ingress":
                annotations = metadata.get("annotations") or {}
                # An ALB reports a DNS name; the other controllers an IP.
                address = (
                    {"hostname": "k8s-kubeport-web-0123456789.eu-west-1.elb.example.com"}
                    if any(k.startswith("alb.ingress.kubernetes.io/") for k in annotations)
                    else {"ip": "203.0.113.20"}
                )
                state["status"] = {"loadBalancer": {"ingress": [address]}}
        else:
            resource_id = self._cloud_outputs(args.typ, args.name, state) or resource_id
        return resource_id, state

    @staticmethod
    def _cloud_outputs(typ: str, name: str, state: dict[str, Any]) -> str | None:
        """Fill the computed outputs a cloud provider would return; returns the resource id when it matters."""
        auto_name = f"{name}-1a2b3c4"
        region = "eu-west-1"
        if typ.startswith("aws:"):
            state.setdefault("name", auto_name)
            state.setdefault("arn", f"arn:aws:{typ.split(':')[1].split('/', maxsplit=1)[0]}:{region}:{ACCOUNT}:{name}")
        if typ == "aws:eks/cluster:Cluster":
            state["endpoint"] = "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
            state["certificateAuthority"] = {"data": FAKE_CA}
            # The VPC EKS finds from the subnets, and the security group it puts on the managed nodes.
            state["vpcConfig"] = {
                **(state.get("vpcConfig") or {}),
                "vpcId": "vpc-0fa4e0000000000001",
                "clusterSecurityGroupId": "sg-0c1a5e0000000000001",
            }
        elif typ == "aws:ecr/repository:Repository":
            state["registryId"] = ACCOUNT
            state["repositoryUrl"] = f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{state['name']}"
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            state["latestVersion"] = 1
        elif typ == "aws:rds/instance:Instance":
            state["address"] = f"{name}.c0ffee123456.{region}.rds.amazonaws.com"
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            state["primaryEndpointAddress"] = f"master.{name}.abc123.euw1.cache.amazonaws.com"
        elif typ == "aws:s3/bucket:Bucket":
            state.setdefault("bucket", f"{state.get('bucketPrefix') or name + '-'}20261206000000000000000001")
            state["arn"] = f"arn:aws:s3:::{state['bucket']}"
        elif typ.startswith("azure-native:"):
            state.setdefault("name", auto_name.replace("-", ""))
            resource_id = f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/{typ}/{name}"
            if typ == "azure-native:containerservice:ManagedCluster":
                state["identityProfile"] = {
                    "kubeletidentity": {
                        "objectId": "aaaaaaaa-0000-0000-0000-000000000001",
                        "clientId": "aaaaaaaa-0000-0000-0000-000000000002",
                        "resourceId": f"{resource_id}/kubelet",
                    }
                }
                state["fqdn"] = "aks-fake.hcp.westeurope.azmk8s.io"
                state["oidcIssuerProfile"] = {
                    "enabled": True,
                    "issuerURL": "https://westeurope.oic.prod-aks.azure.com/11111111-2222/aaaa-bbbb/",
                }
            elif typ == "azure-native:managedidentity:UserAssignedIdentity":
                digest = hashlib.sha256(name.encode()).hexdigest()[:12]
                state["clientId"] = f"cccccccc-0000-0000-0000-{digest}"
                state["principalId"] = f"dddddddd-0000-0000-0000-{digest}"
            elif typ == "azure-native:containerregistry:Registry":
                state["loginServer"] = f"{state['name']}.azurecr.io"
            elif typ == "azure-native:dbforpostgresql:Server":
                state["fullyQualifiedDomainName"] = f"{state['name']}.postgres.database.azure.com"
            elif typ == "azure-native:redis:Redis":
                state["hostName"] = f"{state['name']}.redis.cache.windows.net"
            return resource_id
        elif typ.startswith("gcp:"):
            return FakeCloud._gcp_outputs(typ, name, state)
        return None

    @staticmethod
    def _gcp_outputs(typ: str, name: str, state: dict[str, Any]) -> str:
        """Google Cloud's computed outputs; the resource id."""
        auto_name = f"{name}-1a2b3c4"
        state.setdefault("name", auto_name)
        resource_id = f"projects/acme/locations/europe-west1/{name}"
        if typ == "gcp:container/cluster:Cluster":
            state["endpoint"] = "34.0.0.1"
            state["masterAuth"] = {**(state.get("masterAuth") or {}), "clusterCaCertificate": FAKE_CA}
        elif typ == "gcp:sql/databaseInstance:DatabaseInstance":
            state["privateIpAddress"] = "10.60.0.3"
            # With the CA Service's server CA, the instance's DNS name (its certificate's) and that CA.
            state["dnsName"] = f"{name}-0a1b2c3d.acme.europe-west1.sql-psa.goog."
            state["serverCaCerts"] = [{"cert": CLOUD_SQL_CA, "sha1Fingerprint": "00"}]
        elif typ == "gcp:redis/instance:Instance":
            state["host"] = "10.60.0.11"
            state["authString"] = "fake-memorystore-auth-string"
            state["serverCaCerts"] = [{"cert": CLOUD_SQL_CA, "sha1Fingerprint": "01"}]
        elif typ == "gcp:serviceaccount/account:Account":
            state["email"] = f"{state['accountId']}@acme.iam.gserviceaccount.com"
        return resource_id

    @staticmethod
    def _service_status(state: Mapping[str, Any]) -> dict[str, Any]:
        spec = state.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            return {"loadBalancer": {}}
        annotations = (state.get("metadata") or {}).get("annotations") or {}
        if any(k.startswith("service.beta.kubernetes.io/aws-") for k in annotations):
            return {"loadBalancer": {"ingress": [{"hostname": "k8s-web-0123456789.elb.example.com"}]}}
        return {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answers: dict[str, dict[str, Any]] = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "names": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
                "zoneIds": ["euw1-az1", "euw1-az2", "euw1-az3"],
            },
            "aws:ecr/getAuthorizationToken:getAuthorizationToken": {
                "userName": "AWS",
                "password": "fake-ecr-password",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com",
                "authorizationToken": base64.b64encode(b"AWS:fake-ecr-password").decode(),
                "expiresAt": "2099-01-01T00:00:00Z",
            },
            "azure-native:containerservice:listManagedClusterUserCredentials": {
                "kubeconfigs": [
                    {"name": "clusterUser", "value": base64.b64encode(AKS_USER_KUBECONFIG.encode()).decode()}
                ]
            },
            "azure-native:authorization:getClientConfig": {
                "clientId": "bbbbbbbb-0000-0000-0000-000000000001",
                "objectId": "bbbbbbbb-0000-0000-0000-000000000002",
                "subscriptionId": "00000000-0000-0000-0000-000000000000",
                "tenantId": "11111111-2222-3333-4444-555555555555",
            },
            "azure-native:authorization:getClientToken": {"token": "fake-entra-token"},
            "azure-native:redis:listRedisKeys": {"primaryKey": "fake-redis-key", "secondaryKey": "fake-redis-key-2"},
            "gcp:compute/getZones:getZones": {"names": ["europe-west1-d", "europe-west1-b", "europe-west1-c"]},
            "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": {
                "emailAddress": "service-123456789012@gs-project-accounts.iam.gserviceaccount.com",
                "member": "serviceAccount:service-123456789012@gs-project-accounts.iam.gserviceaccount.com",
            },
            "gcp:organizations/getClientConfig:getClientConfig": {
                "accessToken": "fake-gcp-access-token",
                "project": "acme",
                "region": "europe-west1",
            },
        }
        return answers.get(args.token, {}), []
