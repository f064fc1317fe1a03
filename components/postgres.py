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

from components.certificate import IssuedCertificate, service_names
from components.database_roles import DatabaseRoles, DatabaseRolesArgs, app_role
from components.exposure import await_annotations
from components.password import GeneratedPassword
from components.platform import Platform
from components.pod_parts import content_digest, scanner_waivers, server_network_policy
from components.postgres_pod import PORT, pod_spec
from components.service_spec import Peer

IMAGE = "postgres:17-bookworm@sha256:639ab7ceb90e13123085b741fb31ef493fba25463002f6da665352e7b534b652"
"""The official image, pinned by digest (PostgreSQL 17 on Debian bookworm); kubeport:postgresImage replaces it."""
WAIVERS = {
    "CKV_K8S_35": "the image's entrypoint reads POSTGRES_PASSWORD from the environment; it comes from a Secret",
}


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
        selector = _selector(name, args.application)
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

        secret = self._credentials(name, args.namespace, meta(), k8s_opts)
        self.secret_name = secret.metadata.apply(lambda m: m.name or name)
        admin_secret = self._admin_credentials(name, admin, admin_password, meta("-admin"), k8s_opts)
        admin_secret_name = admin_secret.metadata.apply(lambda m: m.name or f"{name}-admin")
        certificate = self._certificate(name, args.namespace)
        self.ca = certificate.ca
        tls = self._tls(name, certificate, meta("-tls"), k8s_opts)
        ca = k8s.core.v1.ConfigMap(f"{name}-ca", metadata=meta("-ca"), data={"ca.crt": certificate.ca}, opts=k8s_opts)
        hba = self._hba(name, admin, meta("-hba"), k8s_opts)
        service = self._service(name, selector, meta(annotations=await_annotations("ClusterIP")), k8s_opts)
        self.host = pulumi.Output.concat(service.metadata.apply(lambda m: m.name or name), ".", args.namespace, ".svc")
        pull_policy = platform.image_pull_policy if platform.image_pull_policy != "Never" else "IfNotPresent"
        pod = pod_spec(name, args, pull_policy, admin_secret=admin_secret_name, tls=tls, hba=hba)
        statefulset = self._statefulset(
            name,
            args,
            meta(annotations=scanner_waivers(WAIVERS)),
            k8s_opts,
            selector=selector,
            labels=labels,
            service=service,
            certificate=certificate,
            pod=pod,
            admin_secret=admin_secret,
        )
        roles = self._roles(
            name, args, selector, admin_secret_name, ca, pull_policy=pull_policy, statefulset=statefulset
        )
        self.ready: Sequence[pulumi.Resource] = [roles]
        """What a client waits for: the role it signs in as exists (after the server is up)."""
        server_network_policy(
            f"{name}-netpol", selector, [*args.clients, roles.labels], port=PORT, metadata=meta(), opts=k8s_opts
        )
        self.register_outputs({"host": self.host, "secret_name": self.secret_name, "ca": self.ca})

    def _credentials(
        self,
        name: str,
        namespace: pulumi.Input[str],
        metadata: k8s.meta.v1.ObjectMetaArgs,
        opts: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
        """The application role's Secret: the `host`, `username`, `database` and `password` its pods read."""
        host = pulumi.Output.concat(name, ".", namespace, ".svc")
        return k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=metadata,
            type="Opaque",
            string_data={"host": host, "username": self.username, "database": self.database, "password": self.password},
            opts=opts,
        )

    def _admin_credentials(
        self,
        name: str,
        admin: str,
        password: GeneratedPassword,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        opts: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
        """The administrator's Secret: what the server's image starts with, and what the roles Job signs in as."""
        admin_value: pulumi.Output[str] = pulumi.Output.secret(password.value)
        return k8s.core.v1.Secret(
            f"{name}-admin-credentials",
            metadata=metadata,
            type="Opaque",
            string_data={"username": admin, "database": self.database, "password": admin_value},
            opts=opts,
        )

    def _certificate(self, name: str, namespace: pulumi.Input[str]) -> IssuedCertificate:
        """The server's certificate, for every name of its Service, under a CA of its own."""
        names = pulumi.Output.from_input(namespace).apply(lambda ns: service_names(name, ns))
        return IssuedCertificate(
            f"{name}-certificate", common_name=names.apply(lambda n: n[0]), dns_names=names,
            opts=pulumi.ResourceOptions(parent=self),
        )  # fmt: skip

    def _tls(
        self,
        name: str,
        certificate: IssuedCertificate,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        opts: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
        """The server's certificate, key and CA as a TLS Secret the pod mounts."""
        return k8s.core.v1.Secret(
            f"{name}-tls",
            metadata=metadata,
            type="kubernetes.io/tls",
            string_data={"tls.crt": certificate.certificate, "tls.key": certificate.key, "ca.crt": certificate.ca},
            opts=opts,
        )

    def _hba(
        self, name: str, admin: str, metadata: k8s.meta.v1.ObjectMetaArgs, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.ConfigMap:
        """The ConfigMap with the server's pg_hba.conf: who may connect, and how."""
        return k8s.core.v1.ConfigMap(
            f"{name}-hba",
            metadata=metadata,
            data={"pg_hba.conf": hba_conf(self.database, self.username, admin)},
            opts=opts,
        )

    def _service(
        self,
        name: str,
        selector: Mapping[str, str],
        metadata: k8s.meta.v1.ObjectMetaArgs,
        opts: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Service:
        """The headless Service that gives the server its stable name."""
        return k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata,
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                cluster_ip="None",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="postgres", port=PORT, target_port="postgres", protocol="TCP")],
            ),
            opts=opts,
        )

    def _statefulset(
        self,
        name: str,
        args: InClusterPostgresArgs,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        opts: pulumi.ResourceOptions,
        *,
        selector: Mapping[str, str],
        labels: Mapping[str, str],
        service: k8s.core.v1.Service,
        certificate: IssuedCertificate,
        pod: k8s.core.v1.PodSpecArgs,
        admin_secret: k8s.core.v1.Secret,
    ) -> k8s.apps.v1.StatefulSet:
        """The server's StatefulSet: one pod, its data on a volume claim kept when the set is deleted or scaled."""
        timeouts = pulumi.CustomTimeouts(create=args.platform.rollout_timeout, update=args.platform.rollout_timeout)
        return k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=metadata,
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
                    spec=pod,
                ),
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=labels),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=args.platform.storage_class,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": args.storage}),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(custom_timeouts=timeouts, depends_on=[admin_secret])
            ),
        )

    def _roles(
        self,
        name: str,
        args: InClusterPostgresArgs,
        selector: Mapping[str, str],
        admin_secret: pulumi.Input[str],
        ca: k8s.core.v1.ConfigMap,
        *,
        pull_policy: str,
        statefulset: k8s.apps.v1.StatefulSet,
    ) -> DatabaseRoles:
        """The Job that makes the application's role, once the server is up."""
        platform = args.platform
        return DatabaseRoles(
            name,
            DatabaseRolesArgs(
                application=args.application,
                provider=platform.provider,
                namespace=args.namespace,
                host=self.host,
                port=PORT,
                database=self.database,
                role=self.username,
                admin_secret=admin_secret,
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


def _selector(name: str, application: str) -> dict[str, str]:
    """The labels that select the server's pod."""
    return {
        "app.kubernetes.io/name": "postgres",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/part-of": application,
    }
