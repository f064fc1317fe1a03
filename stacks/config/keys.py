"""The configuration keys: their names, types, defaults, meanings and the targets they apply to.

This is the one source for each key. The keys every stack may set are declared here; a key only one target
reads is declared in that target's module (`stacks.<target>.KEYS`), beside its rules. `all_keys()` gathers
them in one order, and `python -m tools gen-config` writes `Pulumi.yaml`'s `config:` block and the table in
`docs/configuration.md` from that list.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal, get_args

NAMESPACE = "kubeport"

Target = Literal["minikube", "existing", "eks", "aks", "gke", "stackref"]
Part = Literal["all", "cluster"]
RegistryKind = Literal["local", "native", "dockerhub", "server"]

TARGETS: tuple[Target, ...] = get_args(Target)
PARTS: tuple[Part, ...] = get_args(Part)
CLUSTER_TARGETS: tuple[Target, ...] = ("existing", "eks", "aks", "gke")
"""Targets that can run as a cluster stack (kubeport:part cluster) for app stacks to reference."""
LOCAL_TARGETS: tuple[Target, ...] = ("minikube", "existing")
CLOUD_TARGETS: tuple[Target, ...] = ("eks", "aks", "gke")
REGISTRIES: tuple[RegistryKind, ...] = get_args(RegistryKind)
RENAMED_TARGETS: Mapping[str, Target] = {"app": "stackref"}
"""Old target names still read, each with a warning that names the new one."""


def full(name: str) -> str:
    """`replicas` -> `kubeport:replicas`."""
    return f"{NAMESPACE}:{name}"


def qualified(key: str) -> str:
    """A key as Pulumi names it: bare names are in the project namespace, `aws:region` stays as it is."""
    return key if ":" in key else full(key)


@dataclass(frozen=True)
class Key:
    """One declared configuration key (without the `kubeport:` prefix)."""

    name: str
    """The key's name in the `kubeport` namespace."""
    kind: Literal["string", "integer", "boolean", "array"]
    """Its type, as Pulumi.yaml declares it."""
    default: str | int | bool | list[str] | None
    """None means required: there is no sensible default."""
    description: str
    """What it means and what it accepts: Pulumi.yaml's description and the docs' table row."""
    secret: bool = False
    """Set it with `pulumi config set --secret`; a plain-text value is refused."""
    targets: tuple[Target, ...] = TARGETS
    """The targets on which setting the key to a non-default value means something."""
    shown_default: str = ""
    """How the docs show the default when the declared one says little (e.g. "follows target")."""
    bounds: tuple[int, int | None] | None = None
    """The range a value must be in, both ends accepted (None: no upper end): an integer's, or a duration's in
    seconds. The reader refuses a value outside it, naming the key; a test tries every bound and one step beyond."""


COMMON_KEYS: tuple[Key, ...] = (
    Key(
        "target",
        "string",
        None,
        "Where the workload runs: minikube | existing | eks | aks | gke | stackref (the app only, on the cluster of "
        "the stack kubeport:clusterStack names; formerly `app`, still read with a warning).",
    ),
    Key(
        "part",
        "string",
        "all",
        "What this stack deploys: all (cluster and app) | cluster (the cluster side only, for app stacks to "
        "reference).",
        targets=CLUSTER_TARGETS,
    ),
    Key(
        "ingressController",
        "boolean",
        False,
        "A cluster stack prepares an Ingress controller for its app stacks (EKS: installs one; AKS: enables the "
        "application routing add-on).",
        targets=("eks", "aks"),
    ),
    Key("replicas", "integer", 2, "Pods in the Deployment (>= 1).", bounds=(1, None)),
    Key(
        "namespace",
        "string",
        "kubeport",
        "Namespace for the workload: a DNS-1123 label, not a system namespace (default, kube-*, openshift*).",
    ),
    Key(
        "nodePort",
        "integer",
        30020,
        "Port (30000-32767) on every node where a NodePort Service listens.",
        targets=(*LOCAL_TARGETS, "stackref"),
        bounds=(30000, 32767),
    ),
    Key(
        "kubeContext",
        "string",
        "",
        "kubeconfig context to deploy to (minikube: the profile, default `minikube`; existing: required).",
        targets=LOCAL_TARGETS,
    ),
    Key(
        "image",
        "string",
        "",
        "A prebuilt image to deploy instead of building app/: registry/repository:tag or ...@sha256:<digest> "
        "(never latest; cloud targets need the digest). Empty: kubeport builds and pushes the image.",
    ),
    Key(
        "registry",
        "string",
        "",
        "Where the image goes: local (minikube only) | native (cloud only) | dockerhub | server. "
        "Empty: follows the target (minikube: local, existing: server, clouds: native).",
        shown_default="follows target",
    ),
    Key("dockerhubUser", "string", "", "Docker Hub account the image is pushed to (registry dockerhub)."),
    Key(
        "dockerhubToken",
        "string",
        "",
        "Docker Hub access token (registry dockerhub); set with `pulumi config set --secret`.",
        secret=True,
    ),
    Key(
        "registryServer",
        "string",
        "",
        "Registry host, optional port and path, e.g. ghcr.io/acme or localhost:5001 (registry server).",
    ),
    Key("registryUser", "string", "", "Registry user name (registry server; empty for an anonymous registry)."),
    Key(
        "registryToken",
        "string",
        "",
        "Registry password or token (registry server); set with `pulumi config set --secret`.",
        secret=True,
    ),
    Key(
        "registryPullUser",
        "string",
        "",
        "A user of the same registry who may only pull: the pods' pull Secret holds it instead of the stack's own "
        "login (the push login of registry server or dockerhub; registryUser with kubeport:image). Empty: the pull "
        "Secret holds that login.",
    ),
    Key(
        "registryPullToken",
        "string",
        "",
        "registryPullUser's password or token; set with `pulumi config set --secret`.",
        secret=True,
    ),
    Key(
        "smokeCheck",
        "boolean",
        True,
        "Run the in-cluster smoke-check Pod that is Ready only while the app answers through its Service.",
    ),
    Key(
        "buildPlatform",
        "string",
        "",
        "Image platform: linux/amd64 | linux/arm64. Empty: linux/amd64 on clouds, the builder's own elsewhere.",
    ),
    Key(
        "baseImage",
        "string",
        "",
        "The image app/Dockerfile builds FROM, e.g. a registry mirror of nginx-unprivileged: "
        "registry/repository:tag@sha256:<digest> (pinned by digest). Empty: the Dockerfile's own pinned "
        "nginxinc/nginx-unprivileged.",
        shown_default="the Dockerfile's",
    ),
    Key(
        "builder",
        "string",
        "",
        "A buildx builder to build the image with (`docker buildx ls`), e.g. one of driver remote on a BuildKit "
        "daemon. Empty: pulumi-docker-build's own (a docker-container builder).",
    ),
    Key(
        "rolloutTimeout",
        "string",
        "",
        "How long `pulumi up` waits for the Deployment, the Service and the smoke Pod before it fails the update: "
        "30s to 60m, as <n>s or <n>m. Empty: the target's (minikube 5m, existing and stackref 10m, clouds 15m).",
        shown_default="the target's",
        # Shorter fails healthy rollouts on a busy cluster; longer is what the provider's own 10 minutes avoid.
        bounds=(30, 3600),
    ),
    Key(
        "autoscaling",
        "boolean",
        False,
        "Scale the Deployment on CPU with a HorizontalPodAutoscaler (minReplicas..maxReplicas) instead of a fixed "
        "kubeport:replicas.",
    ),
    Key("minReplicas", "integer", 2, "Fewest pods with autoscaling (>= 1; >= 2 on clouds).", bounds=(1, None)),
    Key("maxReplicas", "integer", 5, "Most pods with autoscaling (>= 1, and >= minReplicas).", bounds=(1, None)),
    Key(
        "cpuTarget",
        "integer",
        70,
        "Average CPU utilisation, in % of the pods' CPU request, the autoscaler aims for (1-100).",
        bounds=(1, 100),
    ),
    Key(
        "scaleDownWindow",
        "integer",
        300,
        "Seconds the autoscaler looks back before it removes pods: it scales down to the highest count it wanted in "
        "that window, so a short dip in load keeps the pods (0-3600; Kubernetes' default is 300).",
        bounds=(0, 3600),
    ),
    Key(
        "releaseStrategy",
        "string",
        "rolling",
        "How a release replaces the running one: rolling (a rolling update, judged by readiness and the smoke check) "
        "| canary (the new release first takes kubeport:canarySteps of the host's traffic through weighted routes, "
        "each step judged on its error rate and latency, and all traffic returns to the running release when one "
        "fails; needs kubeport:host and a target with weighted routing).",
    ),
    Key(
        "canarySteps",
        "string",
        "10,50,100",
        "With a canary: its share of the traffic at each step, in percent, comma-separated and rising (1-100).",
    ),
    Key(
        "canaryWindow",
        "integer",
        60,
        "With a canary: seconds each step is judged over (5-3600).",
        bounds=(5, 3600),
    ),
    Key(
        "canaryMaxErrorRate",
        "integer",
        1,
        "With a canary: the most of its requests, in percent, that may fail (answer 5xx) in a step (0-100).",
        bounds=(0, 100),
    ),
    Key(
        "canaryMaxLatency",
        "integer",
        500,
        "With a canary: the longest mean response time, in milliseconds, its requests may take in a step (1-60000).",
        bounds=(1, 60000),
    ),
    Key(
        "host",
        "string",
        "",
        "A host name to route to the app through an Ingress (e.g. shop.example.com); empty: no Ingress.",
    ),
    Key(
        "application",
        "string",
        "",
        "A folder of Score workload files (score.dev/v1b1, one <name>.score.yaml per service) to deploy as one "
        "application instead of the single web app, e.g. walkthrough. Empty: the web app alone.",
    ),
    Key(
        "serviceBaseImage",
        "string",
        "",
        "With an application: what its own services' Dockerfiles (all but app/) build FROM, pinned by digest. "
        "Empty: each Dockerfile's own pinned python:3.12-slim-bookworm.",
        shown_default="the Dockerfiles'",
    ),
    Key(
        "postgresImage",
        "string",
        "",
        "With an application: the image in-cluster postgres resources run, pinned by digest. Empty: the official "
        "postgres:17-bookworm pinned by digest.",
        shown_default="postgres 17, pinned",
    ),
    Key(
        "redisImage",
        "string",
        "",
        "With an application: the image in-cluster redis resources run, pinned by digest. Empty: the official "
        "redis:7.2-bookworm pinned by digest.",
        shown_default="redis 7.2, pinned",
    ),
    Key(
        "s3Image",
        "string",
        "",
        "With an application: the image in-cluster s3 resources run (versitygw, the gateway at /app/versitygw), "
        "pinned by digest. Empty: versitygw's own image, v1.8.0 pinned by digest.",
        shown_default="versitygw 1.8.0, pinned",
    ),
    Key(
        "storageClass",
        "string",
        "",
        "With an application: the StorageClass of in-cluster database volumes and of the files' `volume` resources. "
        "Empty: the cluster's default (on a cloud, kubeport's encrypted, retained class when a file declares one).",
        shown_default="the cluster's",
    ),
    Key(
        "tlsSecret",
        "string",
        "",
        "A kubernetes.io/tls Secret in the namespace to serve the host over HTTPS (EKS: an ACM certificate for the "
        "host instead).",
    ),
)


@cache
def all_keys() -> tuple[Key, ...]:
    """Every key, in the order the docs list them: the common keys, then each target's own, in TARGETS order."""
    keys = list(COMMON_KEYS)
    names = {k.name for k in keys}
    for target in TARGETS:
        module = importlib.import_module(f"stacks.{target}")
        for key in module.KEYS:
            if key.name in names:
                continue
            keys.append(key)
            names.add(key.name)
    return tuple(keys)


def keys_by_name() -> Mapping[str, Key]:
    return {k.name: k for k in all_keys()}
