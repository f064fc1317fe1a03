"""The pod of an InClusterPostgres (components/postgres.py): its one container, as hardened as PostgreSQL allows,
TLS only, and the volumes it mounts (the socket folder, /tmp, the certificate and key, pg_hba.conf)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from components.pod_parts import container_security_context, pod_security_context, resources

if TYPE_CHECKING:
    from components.postgres import InClusterPostgresArgs

PORT = 5432
DATA_PATH = "/var/lib/postgresql/data"
PGDATA = f"{DATA_PATH}/pgdata"
"""A folder below the volume's root: a fresh cloud disk's root holds lost+found, which initdb refuses."""
TLS_FOLDER = "/etc/kubeport/tls"
HBA_FOLDER = "/etc/kubeport/hba"
SOCKET_FOLDER = "/var/run/postgresql"
SERVER_SETTINGS = (
    "ssl=on",
    f"ssl_cert_file={TLS_FOLDER}/tls.crt",
    f"ssl_key_file={TLS_FOLDER}/tls.key",
    "ssl_min_protocol_version=TLSv1.2",
    "password_encryption=scram-sha-256",
    f"hba_file={HBA_FOLDER}/pg_hba.conf",
)
"""Passed as `-c` options, so they hold for a data directory made by any earlier version too."""


def pod_spec(
    name: str,
    args: InClusterPostgresArgs,
    pull_policy: str,
    *,
    admin_secret: pulumi.Input[str],
    tls: k8s.core.v1.Secret,
    hba: k8s.core.v1.ConfigMap,
) -> k8s.core.v1.PodSpecArgs:
    """The server's pod: its one container, as hardened as PostgreSQL allows, and its volumes."""
    return k8s.core.v1.PodSpecArgs(
        automount_service_account_token=False,
        enable_service_links=False,
        image_pull_secrets=list(args.pull_secrets) if args.pull_secrets else None,
        # The volume's group is set once, when it is new: a recursive change on every start would
        # open PGDATA to the group, which PostgreSQL refuses (and take long on a large database).
        security_context=pod_security_context(fs_group_change_policy="OnRootMismatch"),
        # PostgreSQL's fast shutdown (SIGINT from the image's STOPSIGNAL) finishes within this.
        termination_grace_period_seconds=30,
        containers=[container(args.image, args.database, pull_policy, admin_secret)],
        volumes=volumes(
            tls.metadata.apply(lambda m: m.name or f"{name}-tls"), hba.metadata.apply(lambda m: m.name or f"{name}-hba")
        ),
    )


def container(image: str, admin: str, pull_policy: str, admin_secret: pulumi.Input[str]) -> k8s.core.v1.ContainerArgs:
    """The PostgreSQL container: TLS only, the administrator from its Secret, probed over its socket and TCP."""
    ready = ["pg_isready", f"--host={SOCKET_FOLDER}", f"--port={PORT}", f"--username={admin}", "--quiet"]
    return k8s.core.v1.ContainerArgs(
        name="postgres",
        image=image,
        image_pull_policy=pull_policy,
        args=["postgres", *(part for s in SERVER_SETTINGS for part in ("-c", s))],
        ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=PORT, protocol="TCP")],
        env=[
            k8s.core.v1.EnvVarArgs(name="POSTGRES_USER", value_from=from_secret(admin_secret, "username")),
            k8s.core.v1.EnvVarArgs(name="POSTGRES_DB", value_from=from_secret(admin_secret, "database")),
            k8s.core.v1.EnvVarArgs(name="POSTGRES_PASSWORD", value_from=from_secret(admin_secret, "password")),
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


def volumes(tls_secret: pulumi.Input[str], hba_config_map: pulumi.Input[str]) -> list[k8s.core.v1.VolumeArgs]:
    """The pod's volumes: emptyDirs for the socket and /tmp, the certificate and key, and pg_hba.conf."""
    return [
        *(
            k8s.core.v1.VolumeArgs(name=v, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi"))
            for v in ("run", "tmp")
        ),
        # Owned by root, readable by the pod's group only: what PostgreSQL accepts for a key.
        k8s.core.v1.VolumeArgs(
            name="tls",
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=tls_secret,
                default_mode=0o440,
                items=[k8s.core.v1.KeyToPathArgs(key=k, path=k) for k in ("tls.crt", "tls.key", "ca.crt")],
            ),
        ),
        k8s.core.v1.VolumeArgs(
            name="hba",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=hba_config_map, default_mode=0o444),
        ),
    ]


def from_secret(secret_name: pulumi.Input[str], key: str) -> k8s.core.v1.EnvVarSourceArgs:
    """An environment variable's value taken from `key` of the Secret `secret_name`."""
    return k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key))
