"""What every workload of a namespace shares, written once for the web app and for an application: the Namespace
itself (Pod Security `restricted`) and the image pull Secret from a Platform's pull credentials."""

from __future__ import annotations

import base64
import json

import pulumi
import pulumi_kubernetes as k8s

from components.platform import RegistryLogin
from components.pod_parts import pod_security_labels


def restricted_namespace(
    resource_name: str, name: str, *, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    """The Namespace `name`, labelled for Pod Security `restricted` beside `labels`; its name once it exists."""
    namespace = k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={**labels, **pod_security_labels()}),
        opts=opts,
    )
    return namespace.metadata.apply(lambda m: m.name or name)


def docker_config_json(*, registry: str, username: str, password: str) -> str:
    """A `kubernetes.io/dockerconfigjson` Secret's payload: one registry's credentials, as `docker login` writes."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": password, "auth": auth}}})


def pull_secret(
    name: str,
    *,
    login: RegistryLogin | None,
    namespace: pulumi.Input[str],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> list[k8s.core.v1.LocalObjectReferenceArgs] | None:
    """The Secret `<name>-pull` (its data stays secret in Pulumi's state) and the pod's reference to it; None
    when the nodes need no credentials."""
    if login is None:
        return None
    config: pulumi.Output[str] = pulumi.Output.all(login.address, login.username, login.password).apply(
        lambda v: docker_config_json(registry=v[0], username=v[1], password=v[2])
    )
    payload: pulumi.Output[str] = pulumi.Output.secret(config)
    secret = k8s.core.v1.Secret(
        f"{name}-pull-secret",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-pull", namespace=namespace, labels=labels),
        type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": payload},
        opts=opts,
    )
    return [k8s.core.v1.LocalObjectReferenceArgs(name=secret.metadata.apply(lambda m: m.name or f"{name}-pull"))]
