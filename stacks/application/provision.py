"""The provisioner seam: what a workload file's typed resource becomes on the selected target.

A workload file says `db: {type: postgres}`; the target decides the implementation. Every provisioner of a type
hands back the same outputs (catalogue.RESOURCE_TYPES names them), so a file's `${resources.<name>.*}` variables
are the same on every target and the file never changes when the application moves. Credentials come back as a
Secret reference: the pods read them from a Kubernetes Secret, never inlined. A server (a database, a cache, an
object store) is reached over TLS the client verifies: the provisioner hands back the CA its certificate chains
to, which the declaring workload's containers find in one bundle (TRUSTED_CA). In the cluster (minikube,
existing) each type is a server of kubeport's own (components.postgres, redis, s3_store) or a claim; on eks, aks
and gke the cloud's managed service, made by the Platform. PROVISIONERS is the table; each provisioner's docstring
is what docs/application.md says it makes. A target without a provisioner for a type refuses the file by name
before any resource (`problems`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.platform import BucketRequest
from components.service_pod import POSTGRES_CA, TRUSTED_CA
from components.service_spec import Peer
from stacks.application.provisioned import POSTGRES_SSLMODE, Provisioned, Provisioner, Request, owned
from stacks.application.spec import DEFAULT_VOLUME_SIZE, Application
from stacks.config.keys import Target


def database_name(request: Request) -> str:
    """The database a workload's postgres resource gets: the workload's name as an SQL identifier."""
    return request.workload.name.replace("-", "_")


def postgres_provisioned(
    *,
    host: pulumi.Input[str],
    port: int,
    database: str,
    username: str,
    secret_name: pulumi.Input[str],
    peer: Peer,
    ca: pulumi.Input[str],
    depends_on: Sequence[pulumi.Resource],
) -> Provisioned:
    """A postgres resource's outputs, the same names on every target; the password from the Secret `secret_name`,
    the server verified against `ca`."""
    outputs = {
        "host": host,
        "port": str(port),
        "name": database,
        "database": database,
        "username": username,
        "sslmode": POSTGRES_SSLMODE,
        "sslrootcert": POSTGRES_CA,
    }
    return tls_server(outputs, secret_name=secret_name, peer=peer, ca=ca, depends_on=depends_on)


def tls_server(
    outputs: Mapping[str, pulumi.Input[str]],
    *,
    secret_name: pulumi.Input[str],
    peer: Peer,
    ca: pulumi.Input[str],
    depends_on: Sequence[pulumi.Resource],
) -> Provisioned:
    """A server the workload signs in to over TLS it verifies: its plain outputs, its `password` from the Secret
    `secret_name`, the egress rule to it, and the CA its clients trust."""
    return Provisioned(
        outputs=outputs,
        secrets={"password": (secret_name, "password")},
        peer=peer,
        trusted_ca=ca,
        depends_on=depends_on,
    )


def in_cluster_postgres(request: Request) -> Provisioned:
    """An in-cluster PostgreSQL of kubeport's: one pod, a PersistentVolumeClaim, TLS with a certificate it issues,
    a NetworkPolicy admitting only the declaring workload."""
    from components.postgres import IMAGE, InClusterPostgres, InClusterPostgresArgs  # noqa: PLC0415

    database = InClusterPostgres(
        request.workload.provisioned_name(request.resource),
        InClusterPostgresArgs(
            application=request.application,
            platform=request.platform,
            namespace=request.namespace,
            database=database_name(request),
            clients=[request.client_labels],
            image=request.settings.postgres_image or IMAGE,
            pull_secrets=request.pull_secrets,
        ),
        opts=request.opts,
    )
    return postgres_provisioned(
        host=database.host,
        port=database.port,
        database=database.database,
        username=database.username,
        secret_name=database.secret_name,
        peer=Peer(labels=database.labels, port=database.port),
        ca=database.ca,
        depends_on=[database, *database.ready],
    )


def managed_postgres(request: Request) -> Provisioned:
    """The cloud's managed PostgreSQL, made by the Platform; the application's role and the cloud's CA beside it."""
    from components.database import DatabaseEndpoint, DatabaseEndpointArgs  # noqa: PLC0415
    from components.platform import DatabaseRequest  # noqa: PLC0415
    from components.postgres import IMAGE  # noqa: PLC0415

    make = request.platform.postgres
    if make is None:
        raise ValueError(f"target {request.settings.target!r} offers no managed PostgreSQL on its Platform")
    name = request.workload.provisioned_name(request.resource)
    database = make(DatabaseRequest(name=name, database=database_name(request)))
    endpoint = DatabaseEndpoint(
        name,
        DatabaseEndpointArgs(
            application=request.application,
            platform=request.platform,
            namespace=request.namespace,
            database=database,
            image=request.settings.postgres_image or IMAGE,
            pull_secrets=request.pull_secrets,
        ),
        opts=request.opts,
    )
    return postgres_provisioned(
        host=endpoint.host,
        port=database.port,
        database=database.database,
        username=endpoint.username,
        secret_name=endpoint.secret_name,
        peer=Peer(labels={}, port=database.port, cidr=database.network),
        ca=endpoint.ca,
        depends_on=[endpoint, *endpoint.ready, *database.resources],
    )


CLAIM_AWAIT = {"pulumi.com/skipAwait": "true"}
"""A claim is not awaited on its own: the StatefulSet that mounts it is, and its pod is Ready only once it is
bound. Awaiting the claim itself hangs an update of a bound claim on a WaitForFirstConsumer class until the timeout
in the pinned provider (pulumi/pulumi-kubernetes#4179, fixed after it)."""


def volume_claim(request: Request) -> Provisioned:
    """A PersistentVolumeClaim of the workload's own on the target's StorageClass (kubeport:storageClass, or the
    Platform's: a cloud's encrypted, retained class), ReadWriteOnce, of the file's size. On a cloud it is protected
    like the managed databases (kubeport:releaseProtection releases it), and its class keeps the disk when the claim
    goes: a volume's data never leaves with an `up`."""
    cloud = request.settings.cloud
    protect = cloud is not None and not cloud.release_protection
    name = request.workload.provisioned_name(request.resource)
    claim = k8s.core.v1.PersistentVolumeClaim(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=request.namespace,
            labels=owned(request, "volume"),
            annotations=dict(CLAIM_AWAIT),
        ),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=request.platform.storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                requests={"storage": str(request.resource.params.get("size", DEFAULT_VOLUME_SIZE))}
            ),
        ),
        opts=pulumi.ResourceOptions.merge(
            request.opts, pulumi.ResourceOptions(provider=request.platform.provider, protect=protect)
        ),
    )
    from components.claim_guard import guard_claim  # noqa: PLC0415

    # Any pod of the namespace could mount the claim; the API server admits only the declaring workload's.
    guard = guard_claim(
        name,
        claim=name,
        namespace=request.settings.namespace,
        workload=request.workload.name,
        labels=request.client_labels,
        opts=pulumi.ResourceOptions.merge(request.opts, pulumi.ResourceOptions(provider=request.platform.provider)),
    )
    return Provisioned(outputs={}, claim=claim.metadata.apply(lambda m: m.name or name), depends_on=[claim, *guard])


REDIS_TLS = "true"
"""The only way kubeport's clients reach a cache: over TLS, verifying the server against `cacert`."""


def redis_provisioned(
    *,
    host: pulumi.Input[str],
    port: int,
    username: str,
    secret_name: pulumi.Input[str],
    peer: Peer,
    ca: pulumi.Input[str],
    depends_on: Sequence[pulumi.Resource],
) -> Provisioned:
    """A redis resource's outputs, the same names on every target; the password from the Secret `secret_name`,
    the server verified against `ca`."""
    outputs = {"host": host, "port": str(port), "username": username, "tls": REDIS_TLS, "cacert": TRUSTED_CA}
    return tls_server(outputs, secret_name=secret_name, peer=peer, ca=ca, depends_on=depends_on)


def in_cluster_redis(request: Request) -> Provisioned:
    """An in-cluster Redis of kubeport's: one pod, TLS with a certificate it issues, the application's user alone,
    a NetworkPolicy admitting only the declaring workload, nothing kept on disk."""
    from components.redis import IMAGE, InClusterRedis, InClusterRedisArgs  # noqa: PLC0415

    cache = InClusterRedis(
        request.workload.provisioned_name(request.resource),
        InClusterRedisArgs(
            application=request.application,
            platform=request.platform,
            namespace=request.namespace,
            username=request.workload.name,  # its one ACL user
            clients=[request.client_labels],
            image=request.settings.redis_image or IMAGE,
            pull_secrets=request.pull_secrets,
        ),
        opts=request.opts,
    )
    return redis_provisioned(
        host=cache.host,
        port=cache.port,
        username=cache.username,
        secret_name=cache.secret_name,
        peer=Peer(labels=cache.labels, port=cache.port),
        ca=cache.ca,
        depends_on=[cache, *cache.ready],
    )


def managed_redis(request: Request) -> Provisioned:
    """The cloud's managed Redis, made by the Platform; its AUTH password in a Secret of the application's."""
    make = request.platform.redis
    if make is None:
        raise ValueError(f"target {request.settings.target!r} offers no managed Redis on its Platform")
    name = request.workload.provisioned_name(request.resource)
    cache = make(name)
    secret = k8s.core.v1.Secret(
        f"{name}-credentials",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=request.namespace, labels=owned(request, "cache")),
        type="Opaque",
        string_data={"host": cache.address, "port": str(cache.port), "username": cache.username,
                     "password": cache.password},
        opts=pulumi.ResourceOptions.merge(request.opts, pulumi.ResourceOptions(provider=request.platform.provider)),
    )  # fmt: skip
    return redis_provisioned(
        host=cache.address,
        port=cache.port,
        username=cache.username,
        secret_name=secret.metadata.apply(lambda m: m.name or name),
        peer=Peer(labels={}, port=cache.port, cidr=cache.network),
        ca=cache.ca,
        depends_on=[secret, *cache.resources],
    )


def in_cluster_s3(request: Request) -> Provisioned:
    """kubeport's in-cluster object store: one versitygw pod serving the resource's bucket from a volume claim,
    HTTPS with a certificate it issues, a generated key pair, a NetworkPolicy admitting only the declaring
    workload."""
    from components.s3_store import CREDENTIALS, IMAGE, InClusterS3, InClusterS3Args  # noqa: PLC0415

    name = request.workload.provisioned_name(request.resource)  # the bucket's too: parse.py bounds it to S3's 63
    store = InClusterS3(
        name,
        InClusterS3Args(
            application=request.application,
            platform=request.platform,
            namespace=request.namespace,
            bucket=name,
            clients=[request.client_labels],
            image=request.settings.s3_image or IMAGE,
            pull_secrets=request.pull_secrets,
        ),
        opts=request.opts,
    )
    return Provisioned(
        outputs={"endpoint": store.endpoint, "bucket": store.bucket, "region": store.region, "api": "s3"},
        peer=Peer(labels=store.labels, port=store.port),
        trusted_ca=store.ca,
        depends_on=[store, *store.ready],
        env={"AWS_REGION": store.region, "AWS_CA_BUNDLE": TRUSTED_CA},
        secret_env={variable: (store.secret_name, key) for variable, key in CREDENTIALS.items()},
    )


def managed_s3(request: Request) -> Provisioned:
    """The cloud's object store, made by the Platform, reached by the cloud's workload identity through the
    workload's own ServiceAccount: no key anywhere."""
    make = request.platform.object_store
    if make is None:
        raise ValueError(f"target {request.settings.target!r} offers no object store on its Platform")
    name = request.workload.provisioned_name(request.resource)
    bucket = make(BucketRequest(name=name, namespace=request.namespace, service_account=request.workload.name))
    return Provisioned(
        outputs={"endpoint": bucket.endpoint, "bucket": bucket.bucket, "region": bucket.region, "api": bucket.api},
        egress=[Peer(labels={}, port=port, cidr=cidr) for cidr, port in bucket.egress],
        depends_on=list(bucket.resources),
        env=dict(bucket.env),
        identity=bucket,
    )


PROVISIONERS: Mapping[str, Mapping[Target, Provisioner]] = {
    "postgres": {
        "minikube": in_cluster_postgres,
        "existing": in_cluster_postgres,
        "eks": managed_postgres,
        "aks": managed_postgres,
        "gke": managed_postgres,
    },
    "redis": {
        "minikube": in_cluster_redis,
        "existing": in_cluster_redis,
        "eks": managed_redis,
        "aks": managed_redis,
        "gke": managed_redis,
    },
    "s3": {
        "minikube": in_cluster_s3,
        "existing": in_cluster_s3,
        "eks": managed_s3,
        "aks": managed_s3,
        "gke": managed_s3,
    },
    "volume": {
        "minikube": volume_claim,
        "existing": volume_claim,
        "eks": volume_claim,
        "aks": volume_claim,
        "gke": volume_claim,
    },
}
"""Resource type -> target -> provisioner. service-port, dns and route are wiring, not provisioned objects."""


def problems(application: Application, target: Target) -> list[str]:
    """The resources the target cannot provision, one line each naming the file, the resource and the target."""
    found = []
    for workload in application.workloads:
        for resource in workload.resources:
            by_target = PROVISIONERS.get(resource.type)
            if by_target is not None and target not in by_target:
                found.append(
                    f"{workload.file.name}: resources.{resource.name}: target {target!r} has no {resource.type} "
                    f"provisioner (an app stack deploys onto another stack's cluster, which makes no database or "
                    f"storage for it); {resource.type} is provisioned on: {', '.join(by_target)}"
                )
    return found


def provision(request: Request) -> Provisioned:
    return PROVISIONERS[request.resource.type][request.settings.target](request)
