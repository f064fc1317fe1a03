"""DatabaseEndpoint: a managed database as the application's pods see it, with pulumi_kubernetes alone.

The pods of a workload that declared `postgres` read the same variables on every target: the host is the
in-cluster name `<workload>-<resource>.<namespace>.svc`, the password comes from a Secret of that name. On a
local target both belong to the in-cluster PostgreSQL (components.postgres); on a cloud this component makes
them: an ExternalName Service whose name resolves, through cluster DNS, to the managed database's private DNS
name, and a Secret with the credentials the cloud's database was created with (secret in Pulumi's state).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.exposure import await_annotations
from components.platform import ManagedDatabase, Platform


@dataclass(frozen=True)
class DatabaseEndpointArgs:
    """Inputs of DatabaseEndpoint."""

    application: str
    """The application's name (the part-of label)."""
    platform: Platform
    """The Kubernetes provider and what to wait for."""
    namespace: pulumi.Input[str]
    database: ManagedDatabase
    """The cloud's database: its private DNS name and credentials."""


class DatabaseEndpoint(pulumi.ComponentResource):
    """The in-cluster name and the credentials Secret of a managed database."""

    host: pulumi.Output[str]
    """`<name>.<namespace>.svc`: the name the pods connect to, as with an in-cluster database."""
    secret_name: pulumi.Output[str]
    """The Secret holding `username`, `password` and `database`."""

    def __init__(self, name: str, args: DatabaseEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:DatabaseEndpoint", name, None, opts)
        platform = args.platform
        k8s_opts = pulumi.ResourceOptions(
            parent=self,
            provider=platform.provider,
            depends_on=[*platform.depends_on, *args.database.resources],
        )
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=args.namespace,
            labels={
                "app.kubernetes.io/name": "postgres",
                "app.kubernetes.io/instance": name,
                "app.kubernetes.io/part-of": args.application,
                "app.kubernetes.io/managed-by": "pulumi",
            },
        )
        password: pulumi.Output[str] = pulumi.Output.secret(args.database.password)
        credentials: dict[str, pulumi.Input[str]] = {
            "username": args.database.username,
            "database": args.database.database,
            "password": password,
        }
        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=metadata,
            type="Opaque",
            string_data=credentials,
            opts=k8s_opts,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=metadata.name,
                namespace=metadata.namespace,
                labels=metadata.labels,
                annotations=await_annotations("ExternalName"),
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ExternalName",
                external_name=args.database.address,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="postgres", port=args.database.port, target_port=args.database.port, protocol="TCP"
                    )
                ],
            ),
            opts=k8s_opts,
        )
        self.secret_name = secret.metadata.apply(lambda m: m.name or name)
        self.host = pulumi.Output.concat(service.metadata.apply(lambda m: m.name or name), ".", args.namespace, ".svc")
        self.register_outputs({"host": self.host, "secret_name": self.secret_name})
