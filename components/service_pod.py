"""The pods of a ServiceWorkload (components/service.py): their containers, hardened like the web app's, the
volumes they mount (a writable /tmp, the databases' CAs, the declared files) and the pod spec around them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from components.pod_parts import container_security_context, pod_security_context, resources
from components.service_spec import ContainerSpec, HttpCheck

if TYPE_CHECKING:
    from components.service import ServiceWorkloadArgs

POSTGRES_CA = "/etc/kubeport/postgres/ca.crt"
"""Where a workload's containers find the CAs of the servers it declares, databases and caches (one bundle): a
Score postgres resource's `sslrootcert`, and libpq's PGSSLROOTCERT there."""
TRUSTED_CA = POSTGRES_CA
"""The same bundle, as a redis resource's `cacert` (the path keeps the name it had when only databases had one)."""
DEFAULT_REQUESTS = {"cpu": "50m", "memory": "32Mi"}
DEFAULT_LIMITS = {"cpu": "250m", "memory": "128Mi"}
File = tuple[str, str, pulumi.Input[str], int]
"""A file one container declares: the container, the path it sees, the content and the mode."""


def volumes(
    name: str, files: list[File], ca: k8s.core.v1.ConfigMap | None, claims: Mapping[str, pulumi.Input[str]]
) -> list[k8s.core.v1.VolumeArgs]:
    """The pods' volumes: a writable /tmp, the databases' CAs, the declared files, the workload's claims."""
    volumes = [k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="32Mi"))]
    if ca is not None:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="postgres-ca",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                    name=ca.metadata.apply(lambda m: m.name or f"{name}-postgres-ca"), default_mode=0o444
                ),
            )
        )
    if files:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="files",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                    name=f"{name}-files",
                    items=[
                        k8s.core.v1.KeyToPathArgs(key=file_key(c, i), path=file_key(c, i), mode=mode)
                        for i, (c, _, _, mode) in enumerate(files)
                    ],
                ),
            )
        )
    volumes += [
        k8s.core.v1.VolumeArgs(
            name=claim_volume(index),
            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=claim),
        )
        for index, claim in enumerate(claims.values())
    ]
    return volumes


def claim_volume(index: int) -> str:
    """The pod's name for its `index`th claim (a resource's name could be `tmp` or `files`, or too long)."""
    return f"claim-{index}"


def container(spec: ContainerSpec, args: ServiceWorkloadArgs, files: list[File]) -> k8s.core.v1.ContainerArgs:
    """One container: its image, probes and resources, hardened; the first one serves the workload's ports."""
    mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
    if args.trusted_ca is not None:
        mounts.append(
            k8s.core.v1.VolumeMountArgs(name="postgres-ca", mount_path=POSTGRES_CA.rsplit("/", 1)[0], read_only=True)
        )
    mounts += [
        k8s.core.v1.VolumeMountArgs(name="files", mount_path=path, sub_path=file_key(c, i), read_only=True)
        for i, (c, path, _, _) in enumerate(files)
        if c == spec.name
    ]
    order = list(args.claims)
    mounts += [
        k8s.core.v1.VolumeMountArgs(
            name=claim_volume(order.index(m.claim)),
            mount_path=m.target,
            sub_path=m.sub_path or None,
            read_only=m.read_only or None,
        )
        for m in spec.mounts
    ]
    requests = {**DEFAULT_REQUESTS, **spec.requests}
    limits = {**DEFAULT_LIMITS, **spec.limits}
    return k8s.core.v1.ContainerArgs(
        name=spec.name,
        image=spec.image,
        image_pull_policy=args.platform.image_pull_policy,
        command=list(spec.command) or None,
        args=list(spec.args) or None,
        env=list(spec.env) or None,
        ports=[
            k8s.core.v1.ContainerPortArgs(name=p.name, container_port=p.target_port, protocol="TCP") for p in args.ports
        ]
        if spec is args.containers[0]
        else None,
        readiness_probe=probe(spec.readiness, period=5, failures=2),
        liveness_probe=probe(spec.liveness, period=10, failures=3, delay=5),
        resources=resources(requests["cpu"], requests["memory"], limits["cpu"], limits["memory"]),
        security_context=container_security_context(),
        volume_mounts=mounts,
    )


def pod_spec(
    args: ServiceWorkloadArgs,
    selector: dict[str, str],
    containers: list[k8s.core.v1.ContainerArgs],
    volumes: list[k8s.core.v1.VolumeArgs],
    account: str | None = None,
) -> k8s.core.v1.PodSpecArgs:
    """The workload's pods: hardened, spread over nodes; as the ServiceAccount `account` when it has one of its own
    (its token mounted only where the cloud's identity webhook projects one)."""
    return k8s.core.v1.PodSpecArgs(
        service_account_name=account,
        automount_service_account_token=False,
        enable_service_links=False,
        image_pull_secrets=list(args.pull_secrets) if args.pull_secrets else None,
        security_context=pod_security_context(),
        termination_grace_period_seconds=20,
        topology_spread_constraints=[
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="kubernetes.io/hostname",
                when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            )
        ],
        containers=containers,
        volumes=volumes,
    )


def file_key(container: str, index: int) -> str:
    return f"{container}-{index}"


def probe(probe: HttpCheck | None, *, period: int, failures: int, delay: int = 0) -> k8s.core.v1.ProbeArgs | None:
    if probe is None:
        return None
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=probe.path, port=probe.port),
        initial_delay_seconds=delay,
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=failures,
    )
