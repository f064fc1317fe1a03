"""DatabaseRoles: the application's own PostgreSQL role, made by a Job in the cluster, the same on every target.

The services never sign in as the server's administrator (the in-cluster superuser, or a cloud's master user):
a Job signs in as the administrator once, over TLS that verifies the server (`sslmode=verify-full` against the
CA the provisioner mounts), and makes the role the services use. The role logs in, owns the application's
database (so it creates and changes its own tables), and has no other right: not a superuser, it creates no
database and no role, and it cannot replicate or bypass row security. The same SQL runs on the in-cluster
PostgreSQL and on RDS, Azure's flexible server and Cloud SQL, where the administrator is not a superuser but has
CREATEROLE and CREATEDB, which is all it needs. It is idempotent: every run (a new Job after any change of its
inputs) leaves the role as described, and hands the role objects an earlier version of kubeport let the services
create as the administrator.

The Job runs in the cluster because a cloud's database is private to the cluster's network: Pulumi, wherever it
runs, cannot reach it. Passwords reach psql through the environment from the Secrets, never on a command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.pod_parts import container_security_context, pod_security_context, resources, scanner_waivers
from components.service import DNS_PORTS
from components.service_spec import Peer

CA_FOLDER = "/etc/kubeport/postgres-ca"
CA_FILE = f"{CA_FOLDER}/ca.crt"
ROLES_FOLDER = "/etc/kubeport/roles"
ATTEMPTS = 45
"""How many times (2 s apart) the Job asks the server whether it answers before it gives up: a new pod's address
may take a few seconds to reach cluster DNS and the NetworkPolicy enforcer."""

ROLES_SQL = r"""-- kubeport: the application's own role (components/database_roles.py). psql variables: role, database.
\getenv app_password KUBEPORT_APP_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
ALTER ROLE :"role" WITH LOGIN NOCREATEDB NOCREATEROLE INHERIT PASSWORD :'app_password';
SELECT rolsuper OR rolreplication OR rolbypassrls OR rolcreaterole OR rolcreatedb AS too_much
  FROM pg_roles WHERE rolname = :'role' \gset
\if :too_much
  DO $$BEGIN RAISE EXCEPTION 'the application role is a superuser, or may replicate, bypass row security, create '
                             'roles or databases: kubeport hands the database only to a role without such rights';
  END$$;
\endif
-- PostgreSQL 16+: a CREATEROLE administrator (RDS, Cloud SQL, Azure) may hand a database only to a role it is a
-- member of. A superuser (in-cluster) needs nothing, and gets nothing it did not have.
SELECT format('GRANT %I TO CURRENT_USER', :'role')
 WHERE NOT pg_has_role(current_user, :'role', 'MEMBER') \gexec
ALTER DATABASE :"database" OWNER TO :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
-- What the administrator owns in the application's schemas (an earlier kubeport let the services sign in as it)
-- becomes the application's. Sequences that belong to a column follow their table.
SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, :'role')
  FROM pg_namespace n
 WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND n.nspname NOT IN ('information_schema', 'kubeport') AND n.nspname NOT LIKE 'pg\_%'
\gexec
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                             WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
              n.nspname, c.relname, :'role')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND n.nspname NOT IN ('information_schema', 'kubeport') AND n.nspname NOT LIKE 'pg\_%'
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                           AND d.deptype IN ('a', 'i'))
\gexec
"""
"""The role's SQL, for psql (15 or later, for its getenv command). Idempotent."""

JOB_SCRIPT = r"""
if [ -z "${KUBEPORT_APP_PASSWORD:-}" ] || [ -z "${PGPASSWORD:-}" ]; then
  echo "database roles: a password is missing from the Secrets" >&2; exit 1
fi
i=0
until pg_isready --quiet --timeout=3; do
  i=$((i + 1))
  if [ "$i" -ge "$ATTEMPTS" ]; then echo "database roles: $PGHOST:$PGPORT does not answer" >&2; exit 1; fi
  sleep 2
done
exec psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --set=role="$APP_ROLE" --set=database="$PGDATABASE" \
  --file="$ROLES_SQL"
"""
"""The Job's program (POSIX sh): wait for the server, then run ROLES_SQL as the administrator."""
WAIVERS = {
    "CKV_K8S_35": "psql reads the administrator's password from the environment (PGPASSWORD), taken from a Secret",
    "CKV_K8S_8": "a Job that runs once and exits: nothing to keep alive",
    "CKV_K8S_9": "a Job that runs once and exits: its success is its readiness",
}


def app_role(database: str) -> str:
    """The role the application's services sign in as: never the administrator, whose name is the database's."""
    return f"{database}_app"


@dataclass(frozen=True)
class DatabaseRolesArgs:
    """Inputs of DatabaseRoles."""

    application: str
    provider: k8s.Provider
    namespace: pulumi.Input[str]
    host: pulumi.Input[str]
    """The name the server's certificate is for: the Job connects to it and verifies it."""
    port: int
    database: str
    role: str
    admin_secret: pulumi.Input[str]
    """The Secret with the administrator's `username` and `password`."""
    app_secret: pulumi.Input[str]
    """The Secret with the application role's `password`."""
    ca_config_map: pulumi.Input[str]
    """The ConfigMap whose `ca.crt` the server's certificate chains to."""
    image: pulumi.Input[str]
    """An image with psql 15 or later and pg_isready: the database's own image (the official postgres)."""
    server: Peer
    """Where the server is, for the Job's egress rule: its pods' labels (in-cluster) or its address block."""
    pull_policy: str = "IfNotPresent"
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None = None
    timeout: str = "10m"
    depends_on: Sequence[pulumi.Resource] = ()


class DatabaseRoles(pulumi.ComponentResource):
    """A ConfigMap with ROLES_SQL, the Job that runs it, and the Job's NetworkPolicy (the server and DNS only)."""

    labels: Mapping[str, str]
    """The Job's pods: the server's NetworkPolicy admits them."""
    job: k8s.batch.v1.Job

    def __init__(self, name: str, args: DatabaseRolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:DatabaseRoles", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.depends_on))
        self.labels = {
            "app.kubernetes.io/name": "postgres-roles",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/part-of": args.application,
        }
        labels = {**self.labels, "app.kubernetes.io/managed-by": "pulumi"}
        script = k8s.core.v1.ConfigMap(
            f"{name}-sql",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-roles", namespace=args.namespace, labels=labels),
            data={"roles.sql": ROLES_SQL},
            opts=k8s_opts,
        )
        # Its template is immutable: a change of what it runs replaces it (the provider deletes the old Job first,
        # the name being the same), and the role is made again, idempotently.
        self.job = self._job(name, args, labels, script, k8s_opts)
        self._network_policy(name, args, labels, k8s_opts)
        self.register_outputs({"job": self.job.metadata.apply(lambda m: m.name)})

    def _job(
        self,
        name: str,
        args: DatabaseRolesArgs,
        labels: Mapping[str, str],
        script: k8s.core.v1.ConfigMap,
        opts: pulumi.ResourceOptions,
    ) -> k8s.batch.v1.Job:
        """The Job that runs ROLES_SQL once as the administrator, retried a few times within five minutes."""
        return k8s.batch.v1.Job(
            f"{name}-roles",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}-roles",
                namespace=args.namespace,
                labels=labels,
                # A Job that failed (a server that did not answer in time) is replaced by the next `up`, not kept
                # as a failure that every later `up` reports again.
                annotations={**scanner_waivers(WAIVERS), "pulumi.com/replaceUnready": "true"},
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=3,
                active_deadline_seconds=300,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=_pod_spec(args, script.metadata.apply(lambda m: m.name or "")),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=args.timeout, update=args.timeout)),
            ),
        )

    def _network_policy(
        self, name: str, args: DatabaseRolesArgs, labels: Mapping[str, str], opts: pulumi.ResourceOptions
    ) -> None:
        """The Job's NetworkPolicy: no ingress; egress to the server's port and to DNS only."""
        server = args.server
        to = (
            k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=server.cidr))
            if server.cidr is not None
            else k8s.networking.v1.NetworkPolicyPeerArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(server.labels))
            )
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-roles-netpol",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-roles", namespace=args.namespace, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(self.labels)),
                policy_types=["Ingress", "Egress"],
                ingress=[],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[to], ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=server.port, protocol="TCP")]
                    ),
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=DNS_PORTS),
                ],
            ),
            opts=opts,
        )


def _secret(secret_name: pulumi.Input[str], key: str) -> k8s.core.v1.EnvVarSourceArgs:
    """An environment variable's value taken from `key` of the Secret `secret_name`."""
    return k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key))


def _env(args: DatabaseRolesArgs) -> list[k8s.core.v1.EnvVarArgs]:
    """The Job's environment: where the server is, the administrator's credentials, the role and its password."""
    return [
        k8s.core.v1.EnvVarArgs(name="PGHOST", value=args.host),
        k8s.core.v1.EnvVarArgs(name="PGPORT", value=str(args.port)),
        k8s.core.v1.EnvVarArgs(name="PGDATABASE", value=args.database),
        k8s.core.v1.EnvVarArgs(name="PGUSER", value_from=_secret(args.admin_secret, "username")),
        k8s.core.v1.EnvVarArgs(name="PGPASSWORD", value_from=_secret(args.admin_secret, "password")),
        k8s.core.v1.EnvVarArgs(name="PGSSLMODE", value="verify-full"),
        k8s.core.v1.EnvVarArgs(name="PGSSLROOTCERT", value=CA_FILE),
        k8s.core.v1.EnvVarArgs(name="PGCONNECT_TIMEOUT", value="5"),
        k8s.core.v1.EnvVarArgs(name="PGAPPNAME", value="kubeport-roles"),
        k8s.core.v1.EnvVarArgs(name="APP_ROLE", value=args.role),
        k8s.core.v1.EnvVarArgs(name="KUBEPORT_APP_PASSWORD", value_from=_secret(args.app_secret, "password")),
        k8s.core.v1.EnvVarArgs(name="ROLES_SQL", value=f"{ROLES_FOLDER}/roles.sql"),
        k8s.core.v1.EnvVarArgs(name="ATTEMPTS", value=str(ATTEMPTS)),
    ]


def _pod_spec(args: DatabaseRolesArgs, script: pulumi.Input[str]) -> k8s.core.v1.PodSpecArgs:
    """The Job's pod: psql in a hardened container, with the SQL and the server's CA mounted."""
    return k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        automount_service_account_token=False,
        enable_service_links=False,
        image_pull_secrets=list(args.pull_secrets) if args.pull_secrets else None,
        security_context=pod_security_context(),
        containers=[
            k8s.core.v1.ContainerArgs(
                name="roles",
                image=args.image,
                image_pull_policy=args.pull_policy,
                command=["/bin/sh", "-c", JOB_SCRIPT],
                env=_env(args),
                resources=resources("20m", "32Mi", "200m", "64Mi"),
                security_context=container_security_context(),
                volume_mounts=[
                    k8s.core.v1.VolumeMountArgs(name="sql", mount_path=ROLES_FOLDER, read_only=True),
                    k8s.core.v1.VolumeMountArgs(name="ca", mount_path=CA_FOLDER, read_only=True),
                    k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                ],
            )
        ],
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="sql", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=script, default_mode=0o444)
            ),
            k8s.core.v1.VolumeArgs(
                name="ca", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=args.ca_config_map, default_mode=0o444)
            ),
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="8Mi")),
        ],
    )
