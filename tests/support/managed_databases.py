"""What a cloud application stack's managed database must be, as one list of problems per run.

`wiring_problems(run)` holds every promise of the cloud provisioners (stacks.application.provision.managed_postgres,
components.rds / azure_postgres / cloudsql / database / database_roles) against the resources a run registered:
the database exists where the cluster's network is, has no public endpoint, refuses unencrypted connections,
encrypts and backs up its storage, is protected; the pods reach it through the same variables as locally, as the
application's own role, verifying the server against the cloud's CA, the password from a Secret marked secret.
The tests assert it is empty for each cloud, and not empty for each planted mistake.
"""

from __future__ import annotations

import json

from tools.stack_files import ROOT
from tools.verify.fake_clouds import CLOUD_SQL_CA
from tools.verify.mock_runner import ProgramRun, Registered, dig

RDS = "aws:rds/instance:Instance"
AZURE_POSTGRES = "azure-native:dbforpostgresql:Server"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PASSWORD = "pulumi-python:dynamic/kubeport:GeneratedPassword"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
JOB = "kubernetes:batch/v1:Job"
CA_PATH = "/etc/kubeport/postgres/ca.crt"
RDS_BUNDLE = (ROOT / "components" / "ca" / "rds-global-bundle.pem").read_text()
AZURE_ROOTS = (ROOT / "components" / "ca" / "azure-postgres-roots.pem").read_text()
DATABASE = "payments-db"
"""The walkthrough's one postgres resource: payments' `db`."""


def named(run: ProgramRun, type_: str, name: str) -> Registered:
    (found,) = [r for r in run.resources if r.type == type_ and r.name == name]
    return found


def k8s_named(run: ProgramRun, type_: str, name: str) -> Registered:
    (found,) = [r for r in run.of_type(type_) if r.inputs["metadata"]["name"] == name]
    return found


def pod_problems(run: ProgramRun, network: str, address: str, ca: str) -> list[str]:
    """The Kubernetes side, the same on every cloud: the pods sign in as the application's own role, over TLS they
    verify against the cloud's CA for the database's own name; the roles Job makes that role as the master user,
    whose credentials only it reads; egress to the database's network alone."""
    found = []
    payments = k8s_named(run, DEPLOYMENT, "payments")
    template = payments.inputs["spec"]["template"]["spec"]
    (container,) = template["containers"]
    env = {e["name"]: e for e in container["env"]}
    if dig(env, "DB_HOST", "value") != address:
        found.append(f"DB_HOST is {dig(env, 'DB_HOST', 'value')!r}, not the database's own name {address!r}")
    if dig(env, "DB_PORT", "value") != "5432" or dig(env, "DB_NAME", "value") != "payments":
        found.append("DB_PORT / DB_NAME differ from the local targets'")
    if dig(env, "DB_USER", "value") != "payments_app":
        found.append(f"the pods sign in as {dig(env, 'DB_USER', 'value')!r}, not the application's own role")
    if "value" in env["DB_PASSWORD"] or dig(env, "DB_PASSWORD", "valueFrom", "secretKeyRef") != {
        "name": DATABASE,
        "key": "password",
    }:
        found.append("DB_PASSWORD is not read from the database's Secret")
    if dig(env, "PGSSLMODE", "value") != "verify-full" or dig(env, "PGSSLROOTCERT", "value") != CA_PATH:
        found.append("the pods do not verify the server (PGSSLMODE verify-full, PGSSLROOTCERT)")
    volumes = {v["name"]: v for v in template.get("volumes") or []}
    mounted = {m["mountPath"]: volumes.get(m["name"], {}) for m in container.get("volumeMounts") or []}
    bundle_map = dig(mounted.get(CA_PATH.rsplit("/", 1)[0], {}), "configMap", "name")
    bundle = dig(k8s_named(run, CONFIG_MAP, bundle_map).inputs, "data", "ca.crt") if bundle_map else None
    if bundle != ca:
        found.append("the pods' CA bundle is not the cloud's CA for its database")
    secret = k8s_named(run, SECRET, DATABASE)
    if not ({"stringData", "stringData.password"} & set(secret.secret_inputs)):
        found.append("the database's Secret is not marked secret in Pulumi")
    if set(secret.inputs.get("stringData") or {}) != {"host", "username", "database", "password"}:
        found.append("the database's Secret lacks host, username, database or password")
    found += roles_job_problems(run, network, address, ca)
    policy = k8s_named(run, NETWORK_POLICY, "payments")
    egress = policy.inputs["spec"]["egress"]
    to_database = [r for r in egress if dig(r, "ports", 0, "port") == 5432]
    if [dig(r, "to", 0, "ipBlock", "cidr") for r in to_database] != [network]:
        found.append(f"payments' egress to 5432 is not the database's network {network}: {to_database}")
    if run.of_type("kubernetes:apps/v1:StatefulSet"):
        found.append("an in-cluster PostgreSQL was made on a cloud")
    return found


def roles_job_problems(run: ProgramRun, network: str, address: str, ca: str) -> list[str]:
    found = []
    jobs = run.of_type(JOB)
    if len(jobs) != 1:
        return [f"{len(jobs)} roles Jobs: the application's role is not made"]
    pod = jobs[0].inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    if dig(env, "PGHOST", "value") != address or dig(env, "PGSSLMODE", "value") != "verify-full":
        found.append("the roles Job does not verify the database by its own name")
    ca_map = dig({v["name"]: v for v in pod["volumes"]}, "ca", "configMap", "name")
    if dig(k8s_named(run, CONFIG_MAP, ca_map).inputs, "data", "ca.crt") != ca:
        found.append("the roles Job does not trust the cloud's CA")
    admin = f"{DATABASE}-admin"
    if dig(env, "PGPASSWORD", "valueFrom", "secretKeyRef", "name") != admin:
        found.append("the roles Job does not sign in as the master user")
    readers = {
        r.inputs["metadata"]["name"]
        for r in run.of_type(DEPLOYMENT)
        for c in r.inputs["spec"]["template"]["spec"]["containers"]
        for e in c.get("env") or []
        if dig(e, "valueFrom", "secretKeyRef", "name") == admin
    }
    if readers:
        found.append(f"the master user's credentials reach the services: {sorted(readers)}")
    if not ({"stringData", "stringData.password"} & set(k8s_named(run, SECRET, admin).secret_inputs)):
        found.append("the master user's Secret is not marked secret in Pulumi")
    (policy,) = [p for p in run.of_type(NETWORK_POLICY) if p.inputs["metadata"]["name"] == f"{DATABASE}-roles"]
    rules = policy.inputs["spec"]["egress"]
    if [dig(r, "to", 0, "ipBlock", "cidr") for r in rules if dig(r, "ports", 0, "port") == 5432] != [network]:
        found.append("the roles Job's egress is not the database's network alone")
    return found


def eks_problems(run: ProgramRun) -> list[str]:
    found = []
    instance = named(run, RDS, f"{DATABASE}-instance")
    p = instance.inputs
    key = named(run, "aws:kms/key:Key", "eks-secrets-key").state["arn"]
    cluster = named(run, "aws:eks/cluster:Cluster", "eks-cluster")
    node_group = named(run, "aws:eks/nodeGroup:NodeGroup", "eks-nodes")
    subnets = named(run, "aws:rds/subnetGroup:SubnetGroup", f"{DATABASE}-subnets")
    group = named(run, "aws:ec2/securityGroup:SecurityGroup", f"{DATABASE}-sg")
    if p.get("publiclyAccessible") is not False:
        found.append("RDS: publicly accessible")
    if p.get("dbSubnetGroupName") != subnets.state["name"] or sorted(subnets.inputs["subnetIds"]) != sorted(
        node_group.inputs["subnetIds"]
    ):
        found.append(f"RDS: not in the nodes' private subnets ({subnets.inputs['subnetIds']})")
    if p.get("vpcSecurityGroupIds") != [group.id]:
        found.append("RDS: not behind its own security group alone")
    node_sg = cluster.state["vpcConfig"]["clusterSecurityGroupId"]
    rules = group.inputs.get("ingress") or []
    if [(r.get("fromPort"), r.get("toPort"), r.get("securityGroups"), r.get("cidrBlocks")) for r in rules] != [
        (5432, 5432, [node_sg], None)
    ]:
        found.append(f"RDS: the security group admits more than the nodes on 5432: {rules}")
    if group.inputs.get("vpcId") != cluster.state["vpcConfig"]["vpcId"]:
        found.append("RDS: the security group is not in the cluster's VPC")
    if p.get("storageEncrypted") is not True or p.get("kmsKeyId") != key:
        found.append("RDS: storage not encrypted with the cluster's KMS key")
    if (p.get("backupRetentionPeriod") or 0) < 7 or p.get("deletionProtection") is not True:
        found.append("RDS: no week of automated backups, or no deletion protection")
    found += rds_password_problems(run, instance, key)
    if p.get("skipFinalSnapshot") is not False or not str(p.get("finalSnapshotIdentifier") or ""):
        found.append("RDS: no final snapshot on delete")
    if p.get("deleteAutomatedBackups") is not False:
        found.append("RDS: the automated backups go with the instance")
    if not instance.protect:
        found.append("RDS: not protected")
    parameters = named(run, "aws:rds/parameterGroup:ParameterGroup", f"{DATABASE}-parameters")
    forced = {q["name"]: q["value"] for q in parameters.inputs.get("parameters") or []}.get("rds.force_ssl")
    if forced != "1" or p.get("parameterGroupName") != parameters.state["name"]:
        found.append("RDS: accepts unencrypted connections (rds.force_ssl is not 1 in its parameter group)")
    if p.get("caCertIdentifier") != "rds-ca-rsa2048-g1":
        found.append("RDS: its certificate's CA is not the one the pods trust")
    return found + pod_problems(run, "10.0.0.0/16", instance.state["address"], RDS_BUNDLE)


def rds_password_problems(run: ProgramRun, instance: Registered, key: str) -> list[str]:
    """The generated password, given to RDS and kept in kubeport's KMS-encrypted Secrets Manager secret, from
    which the pods' Secret takes it; nothing rotates it behind the pods' back."""
    found = []
    p = instance.inputs
    generated = named(run, PASSWORD, f"{DATABASE}-password").state["value"]
    secret = named(run, "aws:secretsmanager/secret:Secret", f"{DATABASE}-secret")
    version = named(run, "aws:secretsmanager/secretVersion:SecretVersion", f"{DATABASE}-secret-version")
    kept = json.loads(version.inputs.get("secretString") or "{}")
    if p.get("manageMasterUserPassword") or p.get("password") != generated or "password" not in instance.secret_inputs:
        found.append("RDS: the password is not the generated one, secret in Pulumi")
    if kept.get("password") != generated or version.inputs.get("secretId") != secret.id:
        found.append("RDS: the password is not kept in kubeport's Secrets Manager secret")
    if "secretString" not in version.secret_inputs:
        found.append("RDS: the Secrets Manager secret's value is not secret in Pulumi")
    if secret.inputs.get("kmsKeyId") != key:
        found.append("RDS: the Secrets Manager secret is not encrypted with the cluster's KMS key")
    if run.of_type("aws:secretsmanager/secretRotation:SecretRotation"):
        found.append("RDS: the password rotates, and the pods' Secret would fall behind")
    if dig(k8s_named(run, SECRET, f"{DATABASE}-admin").inputs, "stringData", "password") != kept.get("password"):
        found.append("RDS: the roles Job's Secret does not take the password from the Secrets Manager secret")
    return found


def aks_problems(run: ProgramRun) -> list[str]:
    found = []
    server = named(run, AZURE_POSTGRES, f"{DATABASE}-server")
    p = server.inputs
    vnet = named(run, "azure-native:network:VirtualNetwork", "aks-vnet")
    delegated = named(run, "azure-native:network:Subnet", "aks-databases")
    nodes = named(run, "azure-native:network:Subnet", "aks-nodes")
    zone = named(run, "azure-native:privatedns:PrivateZone", f"{DATABASE}-dns")
    link = named(run, "azure-native:privatedns:VirtualNetworkLink", f"{DATABASE}-dns-link")
    cluster = named(run, "azure-native:containerservice:ManagedCluster", "aks-cluster")
    network = p.get("network") or {}
    if network.get("publicNetworkAccess") != "Disabled":
        found.append("Azure PostgreSQL: public network access")
    if (
        network.get("delegatedSubnetResourceId") != delegated.id
        or dig(delegated.inputs, "delegations", 0, "serviceName") != "Microsoft.DBforPostgreSQL/flexibleServers"
    ):
        found.append("Azure PostgreSQL: not in the subnet delegated to it")
    if delegated.inputs.get("virtualNetworkName") != vnet.state["name"]:
        found.append("Azure PostgreSQL: its subnet is not in the cluster's network")
    if dig(cluster.inputs, "agentPoolProfiles", 0, "vnetSubnetID") != nodes.id:
        found.append("AKS: the nodes are not in the network the database is in")
    if network.get("privateDnsZoneArmResourceId") != zone.id or dig(link.inputs, "virtualNetwork", "id") != vnet.id:
        found.append("Azure PostgreSQL: its private DNS zone is not linked to the cluster's network")
    if dig(p, "authConfig", "activeDirectoryAuth") != "Enabled":
        found.append("Azure PostgreSQL: Entra ID authentication off")
    admin = named(run, "azure-native:dbforpostgresql:AdministratorsMicrosoftEntra", f"{DATABASE}-entra-admin").inputs
    if not admin.get("principalName") or admin.get("principalType") not in ("user", "servicePrincipal"):
        found.append("Azure PostgreSQL: the Entra administrator has no principal name or type")
    if (dig(p, "backup", "backupRetentionDays") or 0) < 7:
        found.append("Azure PostgreSQL: less than a week of backups")
    if "administratorLoginPassword" not in server.secret_inputs:
        found.append("Azure PostgreSQL: the administrator's password is not secret in Pulumi")
    if not server.protect:
        found.append("Azure PostgreSQL: not protected")
    tls = named(run, "azure-native:dbforpostgresql:Configuration", f"{DATABASE}-tls-only").inputs
    if (tls.get("configurationName"), tls.get("value"), tls.get("serverName")) != (
        "require_secure_transport",
        "ON",
        server.state["name"],
    ):
        found.append("Azure PostgreSQL: accepts unencrypted connections (require_secure_transport is not ON)")
    return found + pod_problems(run, "10.40.16.0/24", server.state["fullyQualifiedDomainName"], AZURE_ROOTS)


def gke_problems(run: ProgramRun) -> list[str]:
    found = []
    instance = named(run, CLOUD_SQL, f"{DATABASE}-instance")
    p = instance.inputs
    network = named(run, "gcp:compute/network:Network", "gke-network")
    peering = named(run, "gcp:servicenetworking/connection:Connection", "gke-services-peering")
    zone = named(run, "gcp:dns/managedZone:ManagedZone", f"{DATABASE}-dns")
    record = named(run, "gcp:dns/recordSet:RecordSet", f"{DATABASE}-dns-record")
    ip = dig(p, "settings", "ipConfiguration") or {}
    if ip.get("ipv4Enabled") is not False or ip.get("authorizedNetworks"):
        found.append("Cloud SQL: a public IP")
    if ip.get("privateNetwork") != network.id or peering.inputs.get("network") != network.id:
        found.append("Cloud SQL: its private IP is not on the cluster's network")
    if peering.urn not in instance.dependencies:
        found.append("Cloud SQL: made before private services access")
    if dig(zone.inputs, "privateVisibilityConfig", "networks", 0, "networkUrl") != network.id:
        found.append("Cloud SQL: its DNS name is not visible on the cluster's network")
    if record.inputs.get("rrdatas") != [instance.state["privateIpAddress"]]:
        found.append("Cloud SQL: its DNS name does not resolve to its private IP")
    backup = dig(p, "settings", "backupConfiguration") or {}
    if backup.get("enabled") is not True or backup.get("pointInTimeRecoveryEnabled") is not True:
        found.append("Cloud SQL: no backups with point-in-time recovery")
    if p.get("deletionProtection") is not True or dig(p, "settings", "deletionProtectionEnabled") is not True:
        found.append("Cloud SQL: no deletion protection")
    flags = {f["name"]: f["value"] for f in dig(p, "settings", "databaseFlags") or []}
    if flags.get("cloudsql.iam_authentication") != "on":
        found.append("Cloud SQL: IAM database authentication off")
    user = named(run, "gcp:sql/user:User", f"{DATABASE}-user")
    if "password" not in user.secret_inputs:
        found.append("Cloud SQL: the user's password is not secret in Pulumi")
    if user.inputs.get("deletionPolicy") != "ABANDON":
        found.append("Cloud SQL: deleting the user fails (it holds the application's role); abandon it instead")
    access_range = named(run, "gcp:compute/globalAddress:GlobalAddress", "gke-services-range")
    if peering.inputs.get("deletionPolicy") != "ABANDON" or not (peering.protect and access_range.protect):
        found.append("Cloud SQL: private services access is not protected and kept like the database")
    if not instance.protect:
        found.append("Cloud SQL: not protected")
    if ip.get("sslMode") != "ENCRYPTED_ONLY":
        found.append("Cloud SQL: accepts unencrypted connections (ssl_mode is not ENCRYPTED_ONLY)")
    if ip.get("serverCaMode") != "GOOGLE_MANAGED_CAS_CA" or zone.inputs.get("dnsName") != instance.state["dnsName"]:
        found.append("Cloud SQL: its certificate does not name the DNS name the pods connect to")
    return found + pod_problems(run, "10.60.0.0/20", instance.state["dnsName"].rstrip("."), CLOUD_SQL_CA)


PROBLEMS = {"walkthrough-eks": eks_problems, "walkthrough-aks": aks_problems, "walkthrough-gke": gke_problems}


def wiring_problems(run: ProgramRun) -> list[str]:
    """Every broken promise of the stack's managed database (empty: wired right)."""
    return PROBLEMS[run.stack](run)
