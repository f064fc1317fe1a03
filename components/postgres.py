"""InClusterPostgres: a `postgres` resource as a StatefulSet in the application's namespace.

One PostgreSQL pod with its data on a PersistentVolumeClaim, a headless Service for its stable name, and a
NetworkPolicy that admits only the workload that declared the resource (and the Job that makes its role).
The server speaks TLS only, with a certificate kubeport issues for the Service's names under a CA of the
database's own (components.certificate); its clients verify it (`sslmode=verify-full`) against that CA, which the
provisioner mounts into them. Two roles: the administrator (the image's POSTGRES_USER, named after the database)
signs in over TLS only from the roles Job, or inside the pod over its socket (`kubectl exec`: migrate); the
services sign in as the application's own role (components.database_roles), which owns the database and nothing
more. Each has a generated password in a Secret of its own. The server's pg_hba.conf (a ConfigMap) admits
nothing else: no plain TCP, no other database, no other role.

It follows the hardened pod spec as far as PostgreSQL allows: a non-root numeric user, no capabilities,
RuntimeDefault seccomp and a read-only root filesystem, with writable emptyDirs for the socket directory
(/var/run/postgresql) and /tmp. What it cannot follow: one replica (no PodDisruptionBudget that would let a
drain proceed, and no anti-affinity to spread), and its data lives on a volume that outlives the pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.certificate import IssuedCertificate
from components.database_roles import DatabaseRoles, DatabaseRolesArgs, app_role
from components.exposure import await_annotations
from components.password import GeneratedPassword
from components.platform import Platform
from components.pod_parts import (
    container_security_context,
    content_digest,
    pod_security_context,
    resources,
    scanner_waivers,
)
from components.service_spec import Peer

PORT = 5432
DATA_PATH = "/var/lib/postgresql/data"
PGDATA = f"{DATA_PATH}/pgdata"
"""A folder below the volume's root: a fresh cloud disk's root holds lost+found, which initdb refuses."""
TLS_FOLDER = "/etc/kubeport/tls"
HBA_FOLDER = "/etc/kubeport/hba"
SOCKET_FOLDER = "/var/run/postgresql"
IMAGE = "postgres:17-bookworm@sha256:639ab7ceb90e13123085b741fb31ef493fba25463002f6da665352e7b534b652"
"""The official image, pinned by digest (PostgreSQL 17 on Debian bookworm); kubeport:postgresImage replaces it."""
WAIVERS = {
    "CKV_K8S_35": "the image's entrypoint reads POSTGRES_PASSWORD from the environment; it comes from a Secret",
}
SERVER_SETTINGS = (
    "ssl=on",
    f"ssl_cert_file={TLS_FOLDER}/tls.crt",
    f"ssl_key_file={TLS_FOLDER}/tls.key",
    "ssl_min_protocol_version=TLSv1.2",
    "password_encryption=scram-sha-256",
    f"hba_file={HBA_FOLDER}/pg_hba.conf",
)
"""Passed as `-c` options, so they hold for a data directory made by any earlier version too."""


def hba_conf(database: str, role: str, admin: str) -> str:
    """Who may connect, and how: over the pod's own socket anyone (only `kubectl exec` gets there); over the
    network TLS and SCRAM only, to the application's database only, as its role or as the administrator."""
    return (
        "# kubeport (components/postgres.py): first match wins.\n"
        "local   all  all  trust\n"
        f"hostssl {database}  {role}  all  scram-sha-256\n"
        f"hostssl {database}  {admin}  all  scram-sha-256\n"
        "host    all  all  all  reject\n"
    )


def service_names(name: str, namespace: str) -> list[str]:
    """Every name a client may reach the Service by: the server's certificate is for these."""
    return [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}", name]


@dataclass(frozen=True)
class InClusterPostgresArgs:
    """Inputs of InClusterPostgres."""

    application: str
    """The application's name (the part-of label)."""
    platform: Platform
    """Provider, storage class, pull policy and timeouts."""
    namespace: pulumi.Input[str]
    database: str
    """Database name, and the administrator's (the application's role is `<database>_app`)."""
    clients: Sequence[Mapping[str, str]]
    """Labels of the pods that may connect (the workload that declared the resource)."""
    image: str = IMAGE
    storage: str = "1Gi"
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None = None


class InClusterPostgres(pulumi.ComponentResource):
    """PostgreSQL in the cluster; its outputs are what a Score `postgres` resource provides."""

    host: pulumi.Output[str]
    port: int
    database: str
    username: str
    """The application's role (not the administrator)."""
    password: pulumi.Output[str]
    """Secret: the application role's."""
    secret_name: pulumi.Output[str]
    """The Secret holding the application role's `host`, `username`, `password` and `database`: its pods read the
    password from it."""
    ca: pulumi.Output[str]
    """The CA (PEM) the server's certificate chains to: the one its clients trust."""
    labels: Mapping[str, str]
    """Selects the database's pod (for its clients' egress rules)."""

    def __init__(self, name: str, args: InClusterPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:InClusterPostgres", name, None, opts)
        platform = args.platform
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=platform.provider, depends_on=list(platform.depends_on))
        selector = {
            "app.kubernetes.io/name": "postgres",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/part-of": args.application,
        }
        labels = {**selector, "app.kubernetes.io/managed-by": "pulumi"}
        self.labels = selector
        self.port = PORT
        self.database = args.database
        self.username = app_role(args.database)
        admin = args.database
        # The administrator's password keeps the name it had when the services signed in as the administrator.
        admin_password = GeneratedPassword(
            f"{name}-password", purpose=f"{name} database", opts=pulumi.ResourceOptions(parent=self)
        )
        password = GeneratedPassword(
            f"{name}-app-password", purpose=f"{name} application role", opts=pulumi.ResourceOptions(parent=self)
        )
        self.password = pulumi.Output.secret(password.value)

        def meta(suffix: str = "", annotations: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}{suffix}", namespace=args.namespace, labels=labels, annotations=annotations
            )

        host = pulumi.Output.concat(name, ".", args.namespace, ".svc")
        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=meta(),
            type="Opaque",
            string_data={"host": host, "username": self.username, "database": self.database, "password": self.password},
            opts=k8s_opts,
        )
        self.secret_name = secret.metadata.apply(lambda m: m.name or name)
        admin_value: pulumi.Output[str] = pulumi.Output.secret(admin_password.value)
        admin_secret = k8s.core.v1.Secret(
            f"{name}-admin-credentials",
            metadata=meta("-admin"),
            type="Opaque",
            string_data={"username": admin, "database": self.database, "password": admin_value},
            opts=k8s_opts,
        )
        admin_secret_name = admin_secret.metadata.apply(lambda m: m.name or f"{name}-admin")
        names = pulumi.Output.from_input(args.namespace).apply(lambda ns: service_names(name, ns))
        certificate = IssuedCertificate(
            f"{name}-certificate", common_name=names.apply(lambda n: n[0]), dns_names=names,
            opts=pulumi.ResourceOptions(parent=self),
        )  # fmt: skip
        self.ca = certificate.ca
        tls = k8s.core.v1.Secret(
            f"{name}-tls",
            metadata=meta("-tls"),
            type="kubernetes.io/tls",
            string_data={"tls.crt": certificate.certificate, "tls.key": certificate.key, "ca.crt": certificate.ca},
            opts=k8s_opts,
        )
        ca = k8s.core.v1.ConfigMap(f"{name}-ca", metadata=meta("-ca"), data={"ca.crt": certificate.ca}, opts=k8s_opts)
        hba = k8s.core.v1.ConfigMap(
            f"{name}-hba",
            metadata=meta("-hba"),
            data={"pg_hba.conf": hba_conf(self.database, self.username, admin)},
            opts=k8s_opts,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(annotations=await_annotations("ClusterIP")),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                cluster_ip="None",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="postgres", port=PORT, target_port="postgres", protocol="TCP")],
            ),
            opts=k8s_opts,
        )
        self.host = pulumi.Output.concat(service.metadata.apply(lambda m: m.name or name), ".", args.namespace, ".svc")

        def from_secret(secret_name: pulumi.Input[str], key: str) -> k8s.core.v1.EnvVarSourceArgs:
            return k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
            )

        ready = ["pg_isready", f"--host={SOCKET_FOLDER}", f"--port={PORT}", f"--username={admin}", "--quiet"]
        timeouts = pulumi.CustomTimeouts(create=platform.rollout_timeout, update=platform.rollout_timeout)
        pull_policy = platform.image_pull_policy if platform.image_pull_policy != "Never" else "IfNotPresent"
        statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=meta(annotations=scanner_waivers(WAIVERS)),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=service.metadata.apply(lambda m: m.name or name),
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                persistent_volume_claim_retention_policy=k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain", when_scaled="Retain"
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    # PostgreSQL reads its certificate when it starts: a new one restarts it.
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        annotations={"kubeport.dev/certificate": certificate.certificate.apply(content_digest)},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        image_pull_secrets=list(args.pull_secrets) if args.pull_secrets else None,
                        # The volume's group is set once, when it is new: a recursive change on every start would
                        # open PGDATA to the group, which PostgreSQL refuses (and take long on a large database).
                        security_context=pod_security_context(fs_group_change_policy="OnRootMismatch"),
                        # PostgreSQL's fast shutdown (SIGINT from the image's STOPSIGNAL) finishes within this.
                        termination_grace_period_seconds=30,
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="postgres",
                                image=args.image,
                                image_pull_policy=pull_policy,
                                args=["postgres", *(part for s in SERVER_SETTINGS for part in ("-c", s))],
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(name="postgres", container_port=PORT, protocol="TCP")
                                ],
                                env=[
                                    k8s.core.v1.EnvVarArgs(
                                        name="POSTGRES_USER", value_from=from_secret(admin_secret_name, "username")
                                    ),
                                    k8s.core.v1.EnvVarArgs(
                                        name="POSTGRES_DB", value_from=from_secret(admin_secret_name, "database")
                                    ),
                                    k8s.core.v1.EnvVarArgs(
                                        name="POSTGRES_PASSWORD", value_from=from_secret(admin_secret_name, "password")
                                    ),
                                    k8s.core.v1.EnvVarArgs(name="PGDATA", value=PGDATA),
                                ],
                                readiness_probe=k8s.core.v1.ProbeArgs(
                                    exec_=k8s.core.v1.ExecActionArgs(command=ready),
                                    period_seconds=5,
                                    timeout_seconds=3,
                                    failure_threshold=3,
                                ),
                                liveness_probe=k8s.core.v1.ProbeArgs(
                                    tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="postgres"),
                                    initial_delay_seconds=30,
                                    period_seconds=10,
                                    timeout_seconds=3,
                                    failure_threshold=6,
                                ),
                                resources=resources("100m", "128Mi", "1", "512Mi"),
                                security_context=container_security_context(),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_PATH),
                                    k8s.core.v1.VolumeMountArgs(name="run", mount_path=SOCKET_FOLDER),
                                    k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                                    k8s.core.v1.VolumeMountArgs(name="tls", mount_path=TLS_FOLDER, read_only=True),
                                    k8s.core.v1.VolumeMountArgs(name="hba", mount_path=HBA_FOLDER, read_only=True),
                                ],
                            )
                        ],
                        volumes=[
                            *(
                                k8s.core.v1.VolumeArgs(
                                    name=v, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")
                                )
                                for v in ("run", "tmp")
                            ),
                            # Owned by root, readable by the pod's group only: what PostgreSQL accepts for a key.
                            k8s.core.v1.VolumeArgs(
                                name="tls",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=tls.metadata.apply(lambda m: m.name or f"{name}-tls"),
                                    default_mode=0o440,
                                    items=[
                                        k8s.core.v1.KeyToPathArgs(key=k, path=k)
                                        for k in ("tls.crt", "tls.key", "ca.crt")
                                    ],
                                ),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="hba",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                    name=hba.metadata.apply(lambda m: m.name or f"{name}-hba"), default_mode=0o444
                                ),
                            ),
                        ],
                    ),
                ),
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=labels),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=platform.storage_class,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": args.storage}),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(custom_timeouts=timeouts, depends_on=[admin_secret])
            ),
        )
        roles = DatabaseRoles(
            name,
            DatabaseRolesArgs(
                application=args.application,
                provider=platform.provider,
                namespace=args.namespace,
                host=self.host,
                port=PORT,
                database=self.database,
                role=self.username,
                admin_secret=admin_secret_name,
                app_secret=self.secret_name,
                ca_config_map=ca.metadata.apply(lambda m: m.name or f"{name}-ca"),
                image=args.image,
                server=Peer(labels=selector, port=PORT),
                pull_policy=pull_policy,
                pull_secrets=args.pull_secrets,
                timeout=platform.rollout_timeout,
                depends_on=[*platform.depends_on, statefulset],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ready: Sequence[pulumi.Resource] = [roles]
        """What a client waits for: the role it signs in as exists (after the server is up)."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=meta(),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(client))
                            )
                            for client in [*args.clients, roles.labels]
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=PORT, protocol="TCP")],
                    )
                ],
                egress=[],
            ),
            opts=k8s_opts,
        )
        self.register_outputs({"host": self.host, "secret_name": self.secret_name, "ca": self.ca})
