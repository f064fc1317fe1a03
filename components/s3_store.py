"""InClusterS3: an `s3` resource as one versitygw pod in the application's namespace, serving one bucket.

versitygw (github.com/versity/versitygw) is an S3-compatible gateway; its posix backend serves every folder under
its root as a bucket. The bucket is the pod's volume claim itself, mounted at `/data/<bucket>` under a root of
its own (an emptyDir): the folder exists from the pod's first start, so no client has to make the bucket, and its
objects outlive the pod (the claim is kept when the set is deleted or scaled, as the databases' are).

The store speaks HTTPS only, with a certificate kubeport issues for its Service's names under a CA of its own
(components.certificate), which the declaring workload's containers trust. Its one account is the store's root: a
generated access key pair, in a Secret the workload reads through the AWS SDKs' own variables. versitygw reads the
pair from its environment only, so the server gets it there too, from the same Secret (never on a command line).
A NetworkPolicy admits the declaring workload alone, on the store's port, and lets the server reach nothing.

The pod follows the hardened pod spec whole: a non-root numeric user, no capabilities, RuntimeDefault seccomp, a
read-only root filesystem; it is probed over TCP (any S3 request would need a signature).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.certificate import IssuedCertificate, server_tls
from components.exposure import await_annotations
from components.password import GeneratedPassword
from components.platform import Platform
from components.pod_parts import (
    container_security_context,
    content_digest,
    pod_security_context,
    resources,
    scanner_waivers,
    server_network_policy,
)

IMAGE = "ghcr.io/versity/versitygw:v1.8.0@sha256:30292fc2eeacc67a36993b01f7a7a5e3361a19cced0e80c1d71cfa2a4b0a2499"
"""versitygw's own image, pinned by digest (the version the toolchain builds); kubeport:s3Image replaces it."""
BINARY = "/app/versitygw"
"""Where the image keeps the gateway (its own image's path; the stand-in's too)."""
PORT = 7070
"""The container's port; the Service answers on 443, so the endpoint is a plain `https://` URL."""
SERVICE_PORT = 443
REGION = "us-east-1"
"""The region the store signs in (versitygw's default; the AWS SDKs need one)."""
ROOT = "/data"
TLS_FOLDER = "/etc/kubeport/tls"
STORAGE = "1Gi"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "accessKeyId", "AWS_SECRET_ACCESS_KEY": "secretAccessKey"}
"""The AWS SDKs' variables for a static key pair -> the key of the clients' Secret that holds each."""
WAIVERS = {
    "CKV_K8S_35": "versitygw reads its root access key pair from its environment only; it comes from a Secret",
}


@dataclass(frozen=True)
class InClusterS3Args:
    """Inputs of InClusterS3."""

    application: str
    platform: Platform
    namespace: pulumi.Input[str]
    bucket: str
    clients: Sequence[Mapping[str, str]]
    """Labels of the pods that may connect (the workload that declared the resource)."""
    image: str = IMAGE
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None = None
    storage: str = STORAGE


class InClusterS3(pulumi.ComponentResource):
    """versitygw in the cluster; its outputs are what a Score `s3` resource provides."""

    endpoint: pulumi.Output[str]
    bucket: str
    region: str
    secret_name: pulumi.Output[str]
    """The clients' Secret: `accessKeyId`, `secretAccessKey`."""
    ca: pulumi.Output[str]
    """The CA (PEM) the server's certificate chains to: the one its clients trust."""
    labels: Mapping[str, str]
    """Selects the server's pod (for its clients' egress rules)."""
    port: int = PORT
    """The port its clients' egress rule opens: the pod's (a NetworkPolicy sees the Service's traffic there)."""

    def __init__(self, name: str, args: InClusterS3Args, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:InClusterS3", name, None, opts)
        platform = args.platform
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=platform.provider, depends_on=list(platform.depends_on))
        selector = {
            "app.kubernetes.io/name": "versitygw",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/part-of": args.application,
        }
        labels = {**selector, "app.kubernetes.io/managed-by": "pulumi"}
        self.labels = selector
        self.bucket = args.bucket
        self.region = REGION

        def meta(suffix: str = "", annotations: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}{suffix}", namespace=args.namespace, labels=labels, annotations=annotations
            )

        self.endpoint = pulumi.Output.concat("https://", name, ".", args.namespace, ".svc")
        credentials = self._credentials(name, meta(), k8s_opts)
        certificate, tls = server_tls(self, name, args.namespace, meta("-tls"), k8s_opts)
        self.ca = certificate.ca
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(annotations=await_annotations("ClusterIP")),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="https", port=SERVICE_PORT, target_port="s3", protocol="TCP")],
            ),
            opts=k8s_opts,
        )
        statefulset = self._statefulset(
            name,
            args,
            meta,
            k8s_opts,
            selector=selector,
            labels=labels,
            service=service,
            certificate=certificate,
            pod=_pod_spec(args, credentials, tls),
        )
        self.ready: Sequence[pulumi.Resource] = [statefulset]
        server_network_policy(f"{name}-netpol", selector, args.clients, port=PORT, metadata=meta(), opts=k8s_opts)
        self.register_outputs({"endpoint": self.endpoint, "secret_name": self.secret_name, "ca": self.ca})

    def _statefulset(
        self,
        name: str,
        args: InClusterS3Args,
        meta: Callable[..., k8s.meta.v1.ObjectMetaArgs],
        opts: pulumi.ResourceOptions,
        *,
        selector: Mapping[str, str],
        labels: Mapping[str, str],
        service: k8s.core.v1.Service,
        certificate: IssuedCertificate,
        pod: k8s.core.v1.PodSpecArgs,
    ) -> k8s.apps.v1.StatefulSet:
        """The server's StatefulSet: one pod, its bucket on a volume claim kept when the set is deleted or scaled."""
        # versitygw reads its certificate when it starts: a new one restarts it.
        template = k8s.meta.v1.ObjectMetaArgs(
            labels=labels, annotations={"kubeport.dev/certificate": certificate.certificate.apply(content_digest)}
        )
        timeouts = pulumi.CustomTimeouts(create=args.platform.rollout_timeout, update=args.platform.rollout_timeout)
        return k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=meta(annotations=scanner_waivers(WAIVERS)),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=service.metadata.apply(lambda m: m.name or name),
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                persistent_volume_claim_retention_policy=k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain", when_scaled="Retain"
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(metadata=template, spec=pod),
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name="bucket", labels=labels),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=args.platform.storage_class,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": args.storage}),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(custom_timeouts=timeouts)),
        )

    def _credentials(
        self, name: str, metadata: k8s.meta.v1.ObjectMetaArgs, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret:
        """The store's root access key pair, generated, in the Secret both the server and its clients read."""
        key_id = GeneratedPassword(f"{name}-access-key", purpose=f"{name} access key id",
                                   opts=pulumi.ResourceOptions(parent=self))  # fmt: skip
        secret_key = GeneratedPassword(f"{name}-secret-key", purpose=f"{name} secret access key",
                                       opts=pulumi.ResourceOptions(parent=self))  # fmt: skip
        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=metadata,
            type="Opaque",
            string_data={
                CREDENTIALS["AWS_ACCESS_KEY_ID"]: secret_value(key_id.value),
                CREDENTIALS["AWS_SECRET_ACCESS_KEY"]: secret_value(secret_key.value),
            },
            opts=opts,
        )
        self.secret_name = secret.metadata.apply(lambda m: m.name or name)
        return secret


def secret_value(value: pulumi.Output[str]) -> pulumi.Output[str]:
    secret: pulumi.Output[str] = pulumi.Output.secret(value)
    return secret


def _from_secret(variable: str, secret: k8s.core.v1.Secret, key: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=variable,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                name=secret.metadata.apply(lambda m: m.name or ""), key=key
            )
        ),
    )


def _pod_spec(
    args: InClusterS3Args, credentials: k8s.core.v1.Secret, tls: k8s.core.v1.Secret
) -> k8s.core.v1.PodSpecArgs:
    """The server's pod: one container, hardened; its root an emptyDir holding the bucket, which is the claim."""
    pull_policy = args.platform.image_pull_policy if args.platform.image_pull_policy != "Never" else "IfNotPresent"
    tcp = k8s.core.v1.TCPSocketActionArgs(port="s3")
    env = [
        _from_secret("ROOT_ACCESS_KEY_ID", credentials, "accessKeyId"),
        _from_secret("ROOT_SECRET_ACCESS_KEY", credentials, "secretAccessKey"),
        k8s.core.v1.EnvVarArgs(name="VGW_PORT", value=f":{PORT}"),
        k8s.core.v1.EnvVarArgs(name="VGW_CERT", value=f"{TLS_FOLDER}/tls.crt"),
        k8s.core.v1.EnvVarArgs(name="VGW_KEY", value=f"{TLS_FOLDER}/tls.key"),
        k8s.core.v1.EnvVarArgs(name="VGW_REGION", value=REGION),
    ]
    container = k8s.core.v1.ContainerArgs(
        name="versitygw",
        image=args.image,
        image_pull_policy=pull_policy,
        command=[BINARY, "posix", ROOT],
        env=env,
        ports=[k8s.core.v1.ContainerPortArgs(name="s3", container_port=PORT, protocol="TCP")],
        readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=tcp, period_seconds=5, timeout_seconds=3, failure_threshold=3),
        liveness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=tcp, initial_delay_seconds=10, period_seconds=10, timeout_seconds=3, failure_threshold=6
        ),
        resources=resources("50m", "64Mi", "500m", "256Mi"),
        security_context=container_security_context(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="root", mount_path=ROOT),
            k8s.core.v1.VolumeMountArgs(name="bucket", mount_path=f"{ROOT}/{args.bucket}"),
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
            k8s.core.v1.VolumeArgs(name="root", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Mi")),
            k8s.core.v1.VolumeArgs(
                name="tls",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=tls.metadata.apply(lambda m: m.name or ""), default_mode=0o440
                ),
            ),
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")),
        ],
    )
