"""InClusterRedis: a `redis` resource as one Redis pod in the application's namespace: a cache, not a store.

The server speaks TLS only (`port 0`, `tls-port`), with a certificate kubeport issues for its Service's names under
a CA of its own (components.certificate), which the declaring workload's containers trust. Its only user is the
application's own ACL user with a generated password; the `default` user is off. The password reaches the server
in its configuration file, from a Secret the pod mounts, never on a command line or in the environment. A
NetworkPolicy admits the declaring workload alone, on Redis's port, and lets the server reach nothing.

Nothing is kept on disk (`save ""`, no append-only file): the pod's restart empties the cache, which is what
a cache's clients expect. Memory is bounded (`maxmemory`, least-recently-used keys go first). The pod follows the
hardened pod spec whole: a non-root numeric user, no capabilities, RuntimeDefault seccomp, a read-only root
filesystem; it is probed over TCP, because any Redis command would need the password in the probe's command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.certificate import server_tls
from components.exposure import await_annotations
from components.password import GeneratedPassword
from components.platform import Platform
from components.pod_parts import (
    container_security_context,
    content_digest,
    pod_security_context,
    resources,
    server_network_policy,
)

IMAGE = "redis:7.2-bookworm@sha256:e51cbc16f94b2426e80b9516db174a07d55e882217a1ec1d729b137b32e24e42"
"""The official image, pinned by digest (Redis 7.2, the last BSD-licensed line); kubeport:redisImage replaces it."""
PORT = 6379
CONFIG_FOLDER = "/etc/kubeport/redis"
TLS_FOLDER = "/etc/kubeport/tls"
MAX_MEMORY = "192mb"
"""Below the container's memory limit (256Mi), so Redis evicts keys before the kernel kills it."""


def server_config(username: str, password: str) -> str:
    """redis.conf: TLS only, the application's user alone, nothing kept on disk, memory bounded."""
    if not password or any(c.isspace() for c in password):
        raise ValueError("a Redis password must be non-empty and hold no white space")
    return "\n".join(
        [
            "# kubeport (components/redis.py)",
            "bind * -::*",
            "protected-mode yes",
            "port 0",
            f"tls-port {PORT}",
            f"tls-cert-file {TLS_FOLDER}/tls.crt",
            f"tls-key-file {TLS_FOLDER}/tls.key",
            f"tls-ca-cert-file {TLS_FOLDER}/ca.crt",
            "tls-auth-clients no",
            'tls-protocols "TLSv1.2 TLSv1.3"',
            'save ""',
            "appendonly no",
            "dir /tmp",
            f"maxmemory {MAX_MEMORY}",
            "maxmemory-policy allkeys-lru",
            "user default off",
            # Every key and channel, every command but the dangerous ones (FLUSHALL, CONFIG, KEYS, DEBUG, ...).
            f"user {username} on >{password} ~* &* +@all -@dangerous",
            "",
        ]
    )


@dataclass(frozen=True)
class InClusterRedisArgs:
    """Inputs of InClusterRedis."""

    application: str
    platform: Platform
    namespace: pulumi.Input[str]
    username: str
    """The application's ACL user."""
    clients: Sequence[Mapping[str, str]]
    """Labels of the pods that may connect (the workload that declared the resource)."""
    image: str = IMAGE
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None = None


class InClusterRedis(pulumi.ComponentResource):
    """Redis in the cluster; its outputs are what a Score `redis` resource provides."""

    host: pulumi.Output[str]
    port: int
    username: str
    secret_name: pulumi.Output[str]
    """The clients' Secret: `host`, `port`, `username`, `password`."""
    ca: pulumi.Output[str]
    """The CA (PEM) the server's certificate chains to: the one its clients trust."""
    labels: Mapping[str, str]
    """Selects the server's pod (for its clients' egress rules)."""

    def __init__(self, name: str, args: InClusterRedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:InClusterRedis", name, None, opts)
        platform = args.platform
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=platform.provider, depends_on=list(platform.depends_on))
        selector = {
            "app.kubernetes.io/name": "redis",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/part-of": args.application,
        }
        labels = {**selector, "app.kubernetes.io/managed-by": "pulumi"}
        self.labels = selector
        self.port = PORT
        self.username = args.username

        def meta(suffix: str = "", annotations: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}{suffix}", namespace=args.namespace, labels=labels, annotations=annotations
            )

        self.host = pulumi.Output.concat(name, ".", args.namespace, ".svc")
        config_text, config = self._secrets(name, args.username, meta(), meta("-config"), k8s_opts)
        certificate, tls = server_tls(self, name, args.namespace, meta("-tls"), k8s_opts)
        self.ca = certificate.ca
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(annotations=await_annotations("ClusterIP")),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="redis", port=PORT, target_port="redis", protocol="TCP")],
            ),
            opts=k8s_opts,
        )
        # Redis reads its configuration and certificate when it starts: a new one restarts it. Digests only (the
        # configuration's of a 32-character random password among the rest).
        template = k8s.meta.v1.ObjectMetaArgs(
            labels=labels,
            annotations={
                "kubeport.dev/config": pulumi.Output.unsecret(config_text.apply(content_digest)),
                "kubeport.dev/certificate": certificate.certificate.apply(content_digest),
            },
        )
        pull_policy = platform.image_pull_policy if platform.image_pull_policy != "Never" else "IfNotPresent"
        timeouts = pulumi.CustomTimeouts(create=platform.rollout_timeout, update=platform.rollout_timeout)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=template, spec=_pod_spec(args, pull_policy, config, tls)
                ),
            ),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(custom_timeouts=timeouts)),
        )
        self.ready: Sequence[pulumi.Resource] = [deployment]
        server_network_policy(f"{name}-netpol", selector, args.clients, port=PORT, metadata=meta(), opts=k8s_opts)
        self.register_outputs({"host": self.host, "secret_name": self.secret_name, "ca": self.ca})

    def _secrets(
        self,
        name: str,
        username: str,
        clients_metadata: k8s.meta.v1.ObjectMetaArgs,
        config_metadata: k8s.meta.v1.ObjectMetaArgs,
        opts: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], k8s.core.v1.Secret]:
        """A generated password, in the clients' Secret (`host`, `port`, `username`, `password`) and in the server's
        configuration's Secret; returns the configuration (secret) and its Secret."""
        password = GeneratedPassword(
            f"{name}-password", purpose=f"{name} cache", opts=pulumi.ResourceOptions(parent=self)
        )
        secret_password: pulumi.Output[str] = pulumi.Output.secret(password.value)
        clients = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=clients_metadata,
            type="Opaque",
            string_data={"host": self.host, "port": str(PORT), "username": username, "password": secret_password},
            opts=opts,
        )
        self.secret_name = clients.metadata.apply(lambda m: m.name or name)
        config_text: pulumi.Output[str] = pulumi.Output.secret(
            secret_password.apply(lambda p: server_config(username, p))
        )
        config = k8s.core.v1.Secret(
            f"{name}-config", metadata=config_metadata, type="Opaque", string_data={"redis.conf": config_text},
            opts=opts,
        )  # fmt: skip
        return config_text, config


def _pod_spec(
    args: InClusterRedisArgs, pull_policy: str, config: k8s.core.v1.Secret, tls: k8s.core.v1.Secret
) -> k8s.core.v1.PodSpecArgs:
    """The server's pod: one container, hardened, its configuration and certificate read-only, /tmp its own."""
    tcp = k8s.core.v1.TCPSocketActionArgs(port="redis")
    container = k8s.core.v1.ContainerArgs(
        name="redis",
        image=args.image,
        image_pull_policy=pull_policy,
        command=["redis-server", f"{CONFIG_FOLDER}/redis.conf"],
        ports=[k8s.core.v1.ContainerPortArgs(name="redis", container_port=PORT, protocol="TCP")],
        readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=tcp, period_seconds=5, timeout_seconds=3, failure_threshold=3),
        liveness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=tcp, initial_delay_seconds=10, period_seconds=10, timeout_seconds=3, failure_threshold=6
        ),
        resources=resources("50m", "64Mi", "500m", "256Mi"),
        security_context=container_security_context(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_FOLDER, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tls", mount_path=TLS_FOLDER, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )
    return k8s.core.v1.PodSpecArgs(
        automount_service_account_token=False,
        enable_service_links=False,
        image_pull_secrets=list(args.pull_secrets) if args.pull_secrets else None,
        security_context=pod_security_context(),
        termination_grace_period_seconds=10,
        containers=[container],
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="config",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=config.metadata.apply(lambda m: m.name or ""), default_mode=0o440
                ),
            ),
            k8s.core.v1.VolumeArgs(
                name="tls",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=tls.metadata.apply(lambda m: m.name or ""), default_mode=0o440
                ),
            ),
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")),
        ],
    )
