"""An application of workload files (kubeport:application) deployed; its files were read and checked for the
target before (stacks/application/checks.py).

`deploy()` only orchestrates, in this order: the namespace and what its workloads share (components/pull.py), with
a NetworkPolicy that admits nothing by default; one image per service built from its folder; then, each workload
after those it calls, the resources it declares (stacks/application/provision.py) and its ServiceWorkload from the
converted file (stacks/application/convert.py), whose NetworkPolicy admits exactly the calls the files declare.

`route` and `dns` map to what the single web app has: with kubeport:host, the public workload's `dns`
resources resolve to that host and its routes become an Ingress for it, on the Platform's controller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.exposure import NoIngressError, ingress_route
from components.image import AppImage, AppImageArgs
from components.platform import ImageDestination, Platform
from components.pod_parts import LOCAL_IMAGE_WAIVERS
from components.pull import pull_secret, restricted_namespace
from components.service import ServiceWorkload, ServiceWorkloadArgs, service_labels
from components.service_spec import ContainerSpec, Peer
from stacks import ROOT, stop
from stacks.application import convert, provision
from stacks.application.provisioned import Request
from stacks.application.spec import Application, Workload
from stacks.config.settings import ConfigError, Settings

WEB_APP = ROOT / "app"
"""The web app's folder: a service built from it takes kubeport:baseImage; the others kubeport:serviceBaseImage."""


@dataclass(frozen=True)
class Deployed:
    """What the stack exports for an application."""

    namespace: pulumi.Output[str]
    url: pulumi.Output[str]
    """The public workload's URL (or the command that prints it); with kubeport:host, http(s)://<host>."""
    ingress_address: pulumi.Output[str] | None
    """With kubeport:host: the address the Ingress controller reports, where the host's DNS record must point."""
    services: Mapping[str, pulumi.Output[str]]
    """Each workload's URL: public, or in-cluster."""
    images: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class _Shared:
    """What every workload of the application is deployed into and with."""

    name: str
    namespace: pulumi.Output[str]
    pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None
    settings: Settings
    platform: Platform


def _namespace(name: str, settings: Settings, platform: Platform, opts: pulumi.ResourceOptions) -> _Shared:
    """The namespace, a NetworkPolicy that admits nothing by default, the pull Secret."""
    labels = {"app.kubernetes.io/part-of": name, "app.kubernetes.io/managed-by": "pulumi"}
    namespace = restricted_namespace(f"{name}-namespace", settings.namespace, labels=dict(labels), opts=opts)
    # Nothing in the namespace talks, or is talked to, unless a file declares it: each workload's, database's and
    # Job's own policy admits what it needs. A pod the files do not declare gets nothing, not even DNS, and on a
    # cloud it cannot reach the managed database's address block either (which only egress rules can hold back).
    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny", namespace=namespace, labels=dict(labels)),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
        ),
        opts=opts,
    )
    pull_secrets = pull_secret(name, login=platform.pull_login, namespace=namespace, labels=dict(labels), opts=opts)
    return _Shared(name, namespace, pull_secrets, settings, platform)


def _images(
    application: Application, settings: Settings, destination: ImageDestination
) -> dict[str, pulumi.Input[str]]:
    """One image per workload that builds its folder, by the workload's name."""
    images: dict[str, pulumi.Input[str]] = {}
    for workload in application.workloads:
        if workload.build is not None:
            images[workload.name] = AppImage(
                f"{workload.name}-image",
                AppImageArgs(
                    context=workload.build,
                    destination=destination,
                    base_image=settings.base_image if workload.build == WEB_APP else settings.service_base_image,
                    builder=settings.builder,
                    tag_prefix=workload.name,
                ),
            ).ref
    return images


def _provide(
    workload: Workload, application: Application, shared: _Shared, calls: list[Peer]
) -> tuple[convert.Provided, list[pulumi.Resource]]:
    """What the workload's resources provide its containers, the provisioned ones created for the target; and
    what its pods must wait for. A provisioned resource it calls joins `calls`."""
    settings = shared.settings
    provided = convert.Provided()
    waits: list[pulumi.Resource] = []
    for resource in workload.resources:
        if resource.type == "service-port":
            server = application.workload(str(resource.params["workload"]))
            port = server.port(str(resource.params["port"]))
            provided.outputs[resource.name] = {
                "hostname": f"{server.name}.{settings.namespace}.svc",
                "port": str(port.port),
            }
        elif resource.type == "dns":
            routed = settings.host if workload.public else ""
            provided.outputs[resource.name] = {"host": routed or f"{workload.name}.{settings.namespace}.svc"}
        elif resource.type in provision.PROVISIONERS:
            made = provision.provision(
                Request(
                    application=shared.name,
                    workload=workload,
                    resource=resource,
                    settings=settings,
                    platform=shared.platform,
                    namespace=shared.namespace,
                    client_labels=service_labels(shared.name, workload.name),
                    pull_secrets=shared.pull_secrets,
                    opts=pulumi.ResourceOptions(),
                )
            )
            provided.take(resource.name, made)
            waits += made.depends_on
            calls += [*([made.peer] if made.peer is not None else []), *made.egress]
    return provided, waits


def _containers(
    workload: Workload, image: pulumi.Input[str] | None, provided: convert.Provided, local_build: bool
) -> tuple[list[ContainerSpec], dict[str, str]]:
    """The workload's containers, converted; and the scanner waivers they bring (a local build's, a credential
    read from a Secret)."""
    waivers = dict(LOCAL_IMAGE_WAIVERS) if local_build else {}
    containers = []
    for container in workload.containers:
        spec, credential = convert.container_spec(container, workload, image, provided)
        if credential:
            waivers["CKV_K8S_35"] = convert.CREDENTIAL_VARIABLE
        containers.append(spec)
    return containers, waivers


def deploy(application: Application, settings: Settings, platform: Platform) -> Deployed:
    try:
        ingress_route(platform, settings.host)
    except NoIngressError as err:
        stop(ConfigError([f"kubeport:host: {err}"]))
    if platform.image is None:
        raise ValueError("an application builds its images: the Platform must say where they go")
    name = application.folder.name
    opts = pulumi.ResourceOptions(provider=platform.provider, depends_on=list(platform.depends_on))
    destination = platform.image
    platform = dataclasses.replace(platform, storage_class=settings.storage_class or platform.storage_class)
    shared = _namespace(name, settings, platform, opts)
    images = _images(application, settings, destination)
    callers, calls = convert.peers(application)
    edges = application.edges()
    deployed: dict[str, pulumi.Output[str]] = {}
    created: dict[str, ServiceWorkload] = {}
    public: ServiceWorkload | None = None
    for workload in convert.callees_first(application):
        provided, waits = _provide(workload, application, shared, calls[workload.name])
        containers, waivers = _containers(workload, images.get(workload.name), provided, not destination.push)
        service = ServiceWorkload(
            workload.name,
            ServiceWorkloadArgs(
                application=name,
                platform=platform,
                namespace=shared.namespace,
                containers=containers,
                ports=convert.ports(workload),
                public=workload.public,
                host=settings.host if workload.public else "",
                tls_secret=settings.tls_secret if workload.public else "",
                routes=convert.routes(workload),
                callers=callers[workload.name],
                calls=calls[workload.name],
                # A ReadWriteOnce volume is attached to one node, and two pods writing one folder would meet: one pod.
                replicas=1 if workload.keeps_data else settings.replicas,
                claims=provided.claims,
                pull_secrets=shared.pull_secrets,
                waivers=waivers,
                trusted_ca=pulumi.Output.all(*provided.trusted).apply("".join) if provided.trusted else None,
                identity=provided.identity,
                # What it calls exists first: a proxy (web's nginx) resolves its upstream's name when it starts.
                depends_on=[
                    *waits,
                    *(created[e.server] for e in edges if e.client == workload.name and e.server in created),
                ],
            ),
        )
        created[workload.name] = service
        deployed[workload.name] = service.url
        if workload.public:
            public = service
    return Deployed(
        namespace=shared.namespace,
        url=public.url if public is not None else pulumi.Output.from_input(""),
        ingress_address=public.ingress_address if public is not None else None,
        services=deployed,
        images=images,
    )
