"""InClusterPostgres: a `postgres` resource as a StatefulSet in the application's namespace.

One PostgreSQL pod with its data on a PersistentVolumeClaim, a Secret with generated credentials, a headless
Service for its stable name, and a NetworkPolicy that admits only the workload that declared the resource.
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

from components.exposure import await_annotations
from components.password import GeneratedPassword
from components.platform import Platform
from components.pod_parts import container_security_context, pod_security_context, resources, scanner_waivers

PORT = 5432
DATA_PATH = "/var/lib/postgresql/data"
PGDATA = f"{DATA_PATH}/pgdata"
"""A folder below the volume's root: a fresh cloud disk's root holds lost+found, which initdb refuses."""
IMAGE = "postgres:17-bookworm@sha256:639ab7ceb90e13123085b741fb31ef493fba25463002f6da665352e7b534b652"
"""The official image, pinned by digest (PostgreSQL 17 on Debian bookworm); kubeport:postgresImage replaces it."""
WAIVERS = {
    "CKV_K8S_35": "the image's entrypoint reads POSTGRES_PASSWORD from the environment; it comes from a Secret",
}


@dataclass(frozen=True)
class InClusterPostgresArgs:
    """Inputs of InClusterPostgres."""

    application: str
    """The application's name (the part-of label)."""
    platform: Platform
    """Provider, storage class, pull policy and timeouts."""
    namespace: pulumi.Input[str]
    database: str
    """Database name, and the user that owns it."""
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
    password: pulumi.Output[str]
    """Secret."""
    secret_name: pulumi.Output[str]
    """The Secret holding `username`, `password` and `database`: pods read the password from it."""
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
        self.username = args.database
        password = GeneratedPassword(
            f"{name}-password", purpose=f"{name} database", opts=pulumi.ResourceOptions(parent=self)
        )
        self.password = pulumi.Output.secret(password.value)

        def meta(annotations: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=name, namespace=args.namespace, labels=labels, annotations=annotations
            )

        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=meta(),
            type="Opaque",
            string_data={"username": self.username, "database": self.database, "password": self.password},
            opts=k8s_opts,
        )
        self.secret_name = secret.metadata.apply(lambda m: m.name or name)
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(await_annotations("ClusterIP")),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                cluster_ip="None",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="postgres", port=PORT, target_port="postgres", protocol="TCP")],
            ),
            opts=k8s_opts,
        )
        self.host = pulumi.Output.concat(service.metadata.apply(lambda m: m.name or name), ".", args.namespace, ".svc")

        def from_secret(key: str) -> k8s.core.v1.EnvVarSourceArgs:
            return k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=self.secret_name, key=key)
            )

        ready = ["pg_isready", "--host=127.0.0.1", f"--port={PORT}", f"--username={self.username}", "--quiet"]
        timeouts = pulumi.CustomTimeouts(create=platform.rollout_timeout, update=platform.rollout_timeout)
        k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=meta(scanner_waivers(WAIVERS)),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=service.metadata.apply(lambda m: m.name or name),
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                persistent_volume_claim_retention_policy=k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain", when_scaled="Retain"
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
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
                                image_pull_policy=platform.image_pull_policy
                                if platform.image_pull_policy != "Never"
                                else "IfNotPresent",
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(name="postgres", container_port=PORT, protocol="TCP")
                                ],
                                env=[
                                    k8s.core.v1.EnvVarArgs(name="POSTGRES_USER", value_from=from_secret("username")),
                                    k8s.core.v1.EnvVarArgs(name="POSTGRES_DB", value_from=from_secret("database")),
                                    k8s.core.v1.EnvVarArgs(
                                        name="POSTGRES_PASSWORD", value_from=from_secret("password")
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
                                    k8s.core.v1.VolumeMountArgs(name="run", mount_path="/var/run/postgresql"),
                                    k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name=v, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")
                            )
                            for v in ("run", "tmp")
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
                k8s_opts, pulumi.ResourceOptions(custom_timeouts=timeouts, depends_on=[secret])
            ),
        )
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
                            for client in args.clients
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=PORT, protocol="TCP")],
                    )
                ],
                egress=[],
            ),
            opts=k8s_opts,
        )
        self.register_outputs({"host": self.host, "secret_name": self.secret_name})
