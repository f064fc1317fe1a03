"""DatabaseEndpoint: a managed database as the application's pods see it, with pulumi_kubernetes alone.

The pods of a workload that declared `postgres` read the same variables on every target; on a cloud this
component fills them in. The host is the managed database's own private DNS name, the one its server
certificate is for, so the pods verify the server (`sslmode=verify-full`) against the cloud's CA, which a
ConfigMap carries. The pods sign in as the application's own role, which the roles Job makes on the server
(components.database_roles) as the cloud's master user: the master's credentials sit in a Secret only that Job
reads, the role's in the Secret the pods read. Both passwords stay secret in Pulumi's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.database_roles import DatabaseRoles, DatabaseRolesArgs, app_role
from components.password import GeneratedPassword
from components.platform import ManagedDatabase, Platform
from components.service_spec import Peer


@dataclass(frozen=True)
class DatabaseEndpointArgs:
    """Inputs of DatabaseEndpoint."""

    application: str
    """The application's name (the part-of label)."""
    platform: Platform
    """The Kubernetes provider and what to wait for."""
    namespace: pulumi.Input[str]
    database: ManagedDatabase
    """The cloud's database: its private DNS name, master credentials and CA."""
    image: str
    """An image with psql (the postgres image) for the roles Job."""
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None = None


class DatabaseEndpoint(pulumi.ComponentResource):
    """The application role's credentials, the cloud's CA, and the Job that makes the role."""

    host: pulumi.Output[str]
    """The managed database's private DNS name: what the pods connect to, and what its certificate names."""
    username: str
    """The application's role."""
    secret_name: pulumi.Output[str]
    """The Secret holding the role's `host`, `username`, `password` and `database`."""
    ca: pulumi.Input[str]
    ready: Sequence[pulumi.Resource]
    """What a client waits for: the role exists."""

    def __init__(self, name: str, args: DatabaseEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:DatabaseEndpoint", name, None, opts)
        platform = args.platform
        database = args.database
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=platform.provider, depends_on=[*platform.depends_on, *database.resources]
        )
        labels = {
            "app.kubernetes.io/name": "postgres",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/part-of": args.application,
            "app.kubernetes.io/managed-by": "pulumi",
        }

        def meta(suffix: str = "") -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=f"{name}{suffix}", namespace=args.namespace, labels=labels)

        self.username = app_role(database.database)
        password = GeneratedPassword(
            f"{name}-app-password", purpose=f"{name} application role", opts=pulumi.ResourceOptions(parent=self)
        )
        app_value: pulumi.Output[str] = pulumi.Output.secret(password.value)
        admin_value: pulumi.Output[str] = pulumi.Output.secret(database.password)
        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=meta(),
            type="Opaque",
            string_data={
                "host": database.address,
                "username": self.username,
                "database": database.database,
                "password": app_value,
            },
            opts=k8s_opts,
        )
        admin = k8s.core.v1.Secret(
            f"{name}-admin-credentials",
            metadata=meta("-admin"),
            type="Opaque",
            string_data={"username": database.username, "database": database.database, "password": admin_value},
            opts=k8s_opts,
        )
        ca = k8s.core.v1.ConfigMap(f"{name}-ca", metadata=meta("-ca"), data={"ca.crt": database.ca}, opts=k8s_opts)
        self.secret_name = secret.metadata.apply(lambda m: m.name or name)
        self.host = pulumi.Output.from_input(database.address)
        self.ca = database.ca
        roles = self._roles(name, args, admin, ca)
        self.ready = [roles]
        self.register_outputs({"host": self.host, "secret_name": self.secret_name})

    def _roles(
        self, name: str, args: DatabaseEndpointArgs, admin: k8s.core.v1.Secret, ca: k8s.core.v1.ConfigMap
    ) -> DatabaseRoles:
        """The Job that makes the application's role on the cloud's database, as its master user."""
        platform = args.platform
        database = args.database
        return DatabaseRoles(
            name,
            DatabaseRolesArgs(
                application=args.application,
                provider=platform.provider,
                namespace=args.namespace,
                host=self.host,
                port=database.port,
                database=database.database,
                role=self.username,
                admin_secret=admin.metadata.apply(lambda m: m.name or f"{name}-admin"),
                app_secret=self.secret_name,
                ca_config_map=ca.metadata.apply(lambda m: m.name or f"{name}-ca"),
                image=args.image,
                server=Peer(labels={}, port=database.port, cidr=database.network),
                pull_secrets=args.pull_secrets,
                timeout=platform.rollout_timeout,
                depends_on=[*platform.depends_on, *database.resources],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
