"""`parse()`: raw config strings -> a validated `Settings`, or a `ConfigError` naming every bad key at once.

The rules here are the ones between keys every stack shares (image, registry, credentials, autoscaling,
routing, cluster and app parts). Each target's own rules (what it requires and forbids: region, project,
subscription, VPC, kube context, cluster stack) live in its module as `check(reader, settings)`, which
`parse()` calls for the selected target; importing a target module loads no cloud SDK. The module is longer than
400 lines on purpose: every rule between shared keys sits in one flat list, so one run reports every bad key.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Mapping
from typing import cast

from components.options import RELEASE_STRATEGIES, Autoscaling, Canary
from stacks.config.forms import DNS1123_LABEL, DNS1123_SUBDOMAIN
from stacks.config.keys import (
    CLOUD_TARGETS,
    NAMESPACE,
    PARTS,
    REGISTRIES,
    RENAMED_TARGETS,
    TARGETS,
    Part,
    RegistryKind,
    Target,
    all_keys,
    full,
    keys_by_name,
)
from stacks.config.reader import Reader
from stacks.config.settings import ConfigError, SecretValue, Settings
from stacks.config.target import target_module

SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
SYSTEM_NAMESPACE_PREFIXES = ("kube-", "openshift")
# A registry host with an optional port and path: ghcr.io/acme, localhost:5001, harbor.example.com/team.
REGISTRY_SERVER = re.compile(r"^[a-zA-Z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._-]+)*$")
# Docker Hub user names: 4-30 lowercase letters and digits (organisations may also use - and _).
DOCKERHUB_USER = re.compile(r"^[a-z0-9][a-z0-9_-]{1,29}$")
BUILD_PLATFORM = re.compile(r"^linux/(amd64|arm64)$")
KUBE_CONTEXT = re.compile(r"^[^\s]{1,253}$")
# An image reference: [registry[:port]/]path[:tag][@sha256:digest], as Docker parses it.
IMAGE_REFERENCE = re.compile(
    r"^(?P<name>(?:[a-zA-Z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
NAME_MAX = 255
"""An image name's longest (registry and path), as Docker's reference grammar bounds it."""


def image_reference(text: str) -> re.Match[str] | None:
    """The parts of an image reference (name, tag, digest), or None when it is not one."""
    match = IMAGE_REFERENCE.match(text)
    return match if match is not None and len(match.group("name")) <= NAME_MAX else None


BUILDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
BUILD_KEYS = ("registry", "dockerhubUser", "dockerhubToken", "buildPlatform", "baseImage", "builder")
"""The keys that say where and how the image is built and pushed: meaningless with a prebuilt image.
(registryServer, registryUser and registryToken stay: with a prebuilt image they are pull credentials.)"""
APP_KEYS = (
    "replicas", "namespace", "nodePort", "image", "registry", "dockerhubUser", "dockerhubToken", "registryServer",
    "registryUser", "registryToken", "registryPullUser", "registryPullToken", "smokeCheck", "buildPlatform",
    "baseImage", "builder", "autoscaling", "minReplicas", "maxReplicas", "cpuTarget", "scaleDownWindow", "host",
    "tlsSecret", "releaseStrategy", "canarySteps", "canaryWindow", "canaryMaxErrorRate", "canaryMaxLatency",
    "rolloutTimeout", "application", "serviceBaseImage", "postgresImage", "redisImage", "s3Image",
    "storageClass",
)  # fmt: skip
"""The keys of the app side: a cluster stack (kubeport:part cluster) deploys no app, so refuses them."""
AUTOSCALING_KEYS = ("minReplicas", "maxReplicas", "cpuTarget", "scaleDownWindow")
CANARY_KEYS = ("canarySteps", "canaryWindow", "canaryMaxErrorRate", "canaryMaxLatency")
APPLICATION_ONLY_KEYS = ("serviceBaseImage", "postgresImage", "redisImage", "s3Image", "storageClass")
"""Keys that mean something only for an application of workload files (kubeport:application)."""
NOT_WITH_APPLICATION = ("image", "autoscaling", "releaseStrategy")
"""Single-app keys an application does not take (yet): its images come from its files, one per service.
(host and tlsSecret it takes: its public workload's route goes to that host through an Ingress.)"""
APPLICATION_FOLDER = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def _suggest(unknown: str) -> str:
    names = [k.name for k in all_keys()]
    lowered = {n.lower(): n for n in names}
    if unknown.lower() in lowered:
        return f"; did you mean {full(lowered[unknown.lower()])}?"
    close = difflib.get_close_matches(unknown, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {full(close[0])}?"
    return f"; known keys: {', '.join(names)}"


def parse(raw_config: Mapping[str, str], secret_keys: set[str] | frozenset[str] = frozenset()) -> Settings:
    """Validate the `kubeport:*` configuration; raise ConfigError naming every bad key.

    `raw_config` maps full keys (`kubeport:replicas`) or bare keys (`replicas`) to the string values
    Pulumi passes the program. Keys of other namespaces are ignored; `secret_keys` lists the full
    names of values that were stored encrypted.

    Longer than 60 lines: it reads the shared keys in the order their messages read, and the Settings it returns
    takes one line per key; each rule between keys is a function of its own below.
    """
    declared = keys_by_name()
    raw: dict[str, str] = {}
    problems: list[str] = []
    for key, value in raw_config.items():
        namespace, _, name = key.rpartition(":")
        if namespace not in ("", NAMESPACE):
            continue
        if name not in declared:
            problems.append(f"{full(name)} is not a known key{_suggest(name)}")
            continue
        raw[name] = value if isinstance(value, str) else str(value)

    r = Reader(raw, set(secret_keys), declared)
    r.problems.extend(problems)

    target, target_known, notices = _target(r)

    replicas = r.integer("replicas")
    node_port = r.integer("nodePort")
    smoke_check = r.boolean("smokeCheck")
    namespace = _namespace(r)

    # Keys that only mean something on some targets: reject them elsewhere rather than ignore them.
    if target_known:
        for declared_key in declared.values():
            if target not in declared_key.targets and r.is_set(declared_key.name):
                only = ", ".join(declared_key.targets)
                r.problem(declared_key.name, f"does not apply to target {target!r} (only to: {only})")

    part = cast(Part, r.choice("part", PARTS) or "all")
    if part == "cluster":
        for name in APP_KEYS:
            if r.is_set(name):
                r.problem(name, "belongs to an app stack: a cluster stack (kubeport:part cluster) deploys no app")
    elif r.is_set("ingressController"):
        r.problem("ingressController", "only applies to a cluster stack (kubeport:part cluster); "
                  "in a stack with the app, kubeport:host brings what the Ingress needs")  # fmt: skip

    image = r.string("image")
    if image:
        _check_image(r, image, target)
        for name in BUILD_KEYS:
            if r.is_set(name):
                r.problem(name, "does not apply with kubeport:image (a prebuilt image is neither built nor pushed)")
    registry = _registry(r, target if target_known else None, image)
    dockerhub_user, dockerhub_token = _dockerhub(r, registry, pushes=not image and part == "all")
    registry_server = r.string("registryServer")
    registry_user = r.string("registryUser")
    registry_token = r.secret("registryToken")
    if image:
        _check_pull_credentials(r, image, registry_server, registry_user, registry_token)
    elif part == "all":
        _check_push_server(r, registry, target, server=registry_server, user=registry_user, token=registry_token)
    # The pods' pull Secret comes from a login when the build pushes with one, or a prebuilt image is pulled with
    # registryUser/Token; a pull-only login replaces it there (so a stack that switches between the two keeps it).
    login_user = dockerhub_user if registry == "dockerhub" and not image else registry_user
    pushes_with_login = not image and part == "all" and registry in ("server", "dockerhub") and bool(login_user)
    pulls_with_login = bool(image) and part == "all" and registry_token is not None and bool(login_user)
    pull_user, pull_token = _pull_only_login(r, pushes_with_login or pulls_with_login, login_user)

    kube_context = r.string("kubeContext")
    if kube_context and not KUBE_CONTEXT.match(kube_context):
        r.problem("kubeContext", f"{kube_context!r} is not a kubeconfig context name")

    build_platform = r.string("buildPlatform")
    if build_platform and not BUILD_PLATFORM.match(build_platform):
        r.problem("buildPlatform", f"{build_platform!r} is not accepted; expected linux/amd64 or linux/arm64")
    base_image = r.string("baseImage")
    if base_image:
        _check_base_image(r, "baseImage", base_image)
    application = _application(r)
    builder = r.string("builder")
    if builder and not BUILDER_NAME.match(builder):
        r.problem("builder", f"{builder!r} is not a buildx builder name (letters, digits, '-', '_', '.')")
    rollout_timeout = _rollout_timeout(r)

    # A cluster stack has no app to scale or route to (its app keys were refused above).
    autoscaling = _autoscaling(r, target) if part == "all" else None
    host, tls_secret = _routing(r) if part == "all" else ("", "")
    canary = _canary(r, host) if part == "all" else None

    settings = Settings(
        target=target,
        notices=notices,
        replicas=replicas,
        namespace=namespace,
        node_port=node_port,
        kube_context=kube_context,
        registry=registry,
        dockerhub_user=dockerhub_user,
        dockerhub_token=dockerhub_token,
        registry_server=registry_server,
        registry_user=registry_user,
        registry_token=registry_token,
        registry_pull_user=pull_user,
        registry_pull_token=pull_token,
        service_type=None,
        node_address="",
        smoke_check=smoke_check,
        build_platform=build_platform,
        image=image,
        base_image=base_image,
        builder=builder,
        rollout_timeout=rollout_timeout,
        part=part,
        ingress_controller=r.boolean("ingressController"),
        autoscaling=autoscaling,
        canary=canary,
        host=host,
        tls_secret=tls_secret,
        application=application,
        service_base_image=r.string("serviceBaseImage"),
        postgres_image=r.string("postgresImage"),
        redis_image=r.string("redisImage"),
        s3_image=r.string("s3Image"),
        storage_class=r.string("storageClass"),
    )
    if canary is not None and target in ("minikube", "stackref"):
        r.problem(
            "releaseStrategy",
            f"canary is not offered on target {target} yet: it needs weighted routes and their controller's "
            "metrics, which kubeport sets up on eks, aks and gke and reads on target existing "
            "(kubeport:gatewayClass, kubeport:controllerMetrics); use rolling here",
        )
    if target_known:
        settings = target_module(target).check(r, settings)
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _namespace(r: Reader) -> str:
    namespace = r.string("namespace")
    if not DNS1123_LABEL.match(namespace) or len(namespace) > 63:
        r.problem(
            "namespace",
            f"{namespace!r} is not a DNS-1123 label; expected at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    elif namespace in SYSTEM_NAMESPACES or namespace.startswith(SYSTEM_NAMESPACE_PREFIXES):
        r.problem("namespace", f"{namespace!r} is a system namespace; choose one of your own")
    return namespace


def _target(r: Reader) -> tuple[Target, bool, tuple[str, ...]]:
    """kubeport:target (minikube when it is missing or unknown, a problem reported); whether it is known; and the
    notice for a renamed target, which is read under its new name."""
    text = r.string("target")
    notices: tuple[str, ...] = ()
    if text in RENAMED_TARGETS:
        renamed = RENAMED_TARGETS[text]
        notices = (f"kubeport:target {text!r} is now called {renamed!r}; it is read as {renamed!r}, with nothing else "
                   f"changed: write `kubeport:target: {renamed}` in the stack file",)  # fmt: skip
        text = renamed
    if not text:
        r.problem("target", f"is required; expected one of: {' | '.join(TARGETS)}")
    elif text not in TARGETS:
        r.problem("target", f"{text!r} is not accepted; expected one of: {' | '.join(TARGETS)}")
    else:
        return text, True, notices
    return "minikube", False, notices


def _registry(r: Reader, target: Target | None, image: str) -> RegistryKind:
    """Where the image goes: kubeport:registry, or the target's default; checked against the target."""
    registry_text = None if image else r.choice("registry", REGISTRIES)
    registry: RegistryKind = (
        cast(RegistryKind, registry_text) if registry_text else target_module(target or "minikube").DEFAULT_REGISTRY
    )
    if target is None or not registry_text:
        return registry
    if registry == "local" and target != "minikube":
        r.problem("registry", "'local' builds into minikube's Docker and needs target minikube")
    if registry == "native" and target == "stackref":
        r.problem(
            "registry",
            "an app stack pushes with credentials of its own: use registry server with the cluster stack's "
            "registry (its `registry` output) and a push token, or deploy a prebuilt kubeport:image",
        )
    elif registry == "native" and target not in CLOUD_TARGETS:
        r.problem("registry", f"'native' means the cloud's own registry; target {target!r} has none (use dockerhub "
                              "or server)")  # fmt: skip
    return registry


def _dockerhub(r: Reader, registry: RegistryKind, *, pushes: bool) -> tuple[str, SecretValue | None]:
    user = r.string("dockerhubUser")
    token = r.secret("dockerhubToken")
    if not pushes:
        return user, token  # nothing is pushed: the registry keys were refused already if set
    if registry == "dockerhub":
        if not user:
            r.problem("dockerhubUser", "is required with registry dockerhub; expected your Docker Hub user name")
        elif not DOCKERHUB_USER.match(user):
            r.problem("dockerhubUser", f"{user!r} is not a Docker Hub user name")
        if token is None:
            r.problem("dockerhubToken", "is required with registry dockerhub; expected a secret access token")
    else:
        for name in ("dockerhubUser", "dockerhubToken"):
            if r.is_set(name):
                r.problem(name, f"only applies with registry dockerhub (registry is {registry!r})")
    return user, token


def _check_push_server(
    r: Reader, registry: RegistryKind, target: Target, *, server: str, user: str, token: SecretValue | None
) -> None:
    """Registry server keys for a build that is pushed."""
    if registry != "server":
        for name in ("registryServer", "registryUser", "registryToken"):
            if r.is_set(name):
                r.problem(name, f"only applies with registry server (registry is {registry!r})")
        return
    if not server:
        hint = " (target existing pushes to a registry the cluster can pull from)" if target == "existing" else ""
        r.problem("registryServer", f"is required with registry server{hint}; expected e.g. ghcr.io/acme")
    elif not REGISTRY_SERVER.match(server):
        r.problem("registryServer", f"{server!r} is not a registry host[:port][/path]")
    if bool(user) != (token is not None):
        r.problem(
            "registryUser" if not user else "registryToken",
            "registryUser and registryToken go together (both for a private registry, neither for an anonymous one)",
        )


def _autoscaling(r: Reader, target: Target) -> Autoscaling | None:
    """The autoscaler's settings, or None; the bounds only mean something with autoscaling on."""
    if not r.boolean("autoscaling"):
        for name in AUTOSCALING_KEYS:
            if r.is_set(name):
                r.problem(name, "only applies with kubeport:autoscaling true")
        return None
    if r.is_set("replicas"):
        r.problem(
            "replicas",
            "is fixed while kubeport:autoscaling is true, and the two would fight; remove it and set "
            "kubeport:minReplicas / kubeport:maxReplicas instead",
        )
    floor = 2 if target in CLOUD_TARGETS else 1
    low = r.integer("minReplicas")
    if target in CLOUD_TARGETS and low < floor and r.is_set("minReplicas"):
        r.problem("minReplicas", f"{low} is below {floor}: cloud stacks keep at least 2 pods (a node can fail)")
    high = r.integer("maxReplicas")
    if high < low:
        r.problem("maxReplicas", f"{high} is below kubeport:minReplicas ({low}); expected at least {low}")
    cpu = r.integer("cpuTarget")
    window = r.integer("scaleDownWindow")
    return Autoscaling(min_replicas=low, max_replicas=high, cpu_target=cpu, scale_down_window=window)


def _canary(r: Reader, host: str) -> Canary | None:
    """How a canary release is judged, or None for rolling updates; the canary keys only mean something with one."""
    strategy = r.choice("releaseStrategy", RELEASE_STRATEGIES) or "rolling"
    if strategy != "canary":
        for name in CANARY_KEYS:
            if r.is_set(name):
                r.problem(name, "only applies with kubeport:releaseStrategy canary")
        return None
    if not host:
        r.problem(
            "releaseStrategy",
            "canary needs kubeport:host: the canary's share of the traffic is the host's, split by the cluster's "
            "weighted routes (traffic to the Service itself is not split, nor judged)",
        )
    steps = canary_steps(r.string("canarySteps"))
    if steps is None:
        r.problem(
            "canarySteps",
            f"{r.string('canarySteps')!r} is not accepted; expected rising percentages from 1 to 100, "
            "comma-separated, e.g. 10,50,100",
        )
        steps = Canary().steps
    return Canary(
        steps=steps,
        window=r.integer("canaryWindow"),
        max_error_rate=r.integer("canaryMaxErrorRate"),
        max_latency_ms=r.integer("canaryMaxLatency"),
    )


def canary_steps(text: str) -> tuple[int, ...] | None:
    """`10,50,100` -> (10, 50, 100); None unless the steps are integers from 1 to 100, strictly rising."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        return None
    steps = tuple(int(part) for part in parts)
    rising = all(a < b for a, b in itertools.pairwise(steps))
    return steps if steps and rising and steps[0] >= 1 and steps[-1] <= 100 else None


def _routing(r: Reader) -> tuple[str, str]:
    """The host name and TLS secret of the Ingress; empty strings without a host (a target may add its own
    routing keys, such as existing's IngressClass)."""
    host = r.string("host").lower()
    tls_secret = r.string("tlsSecret")
    if not host:
        if r.is_set("tlsSecret"):
            r.problem("tlsSecret", "only applies with kubeport:host (no Ingress without a host name)")
        return "", ""
    if not DNS1123_SUBDOMAIN.match(host) or "." not in host:
        r.problem("host", f"{host!r} is not a fully qualified host name such as shop.example.com")
    if tls_secret and not DNS1123_SUBDOMAIN.match(tls_secret):
        r.problem("tlsSecret", f"{tls_secret!r} is not a Secret name (lowercase letters, digits, '-' and '.')")
    return host, tls_secret


def _pull_only_login(r: Reader, from_a_login: bool, login_user: str) -> tuple[str, SecretValue | None]:
    """registryPullUser and registryPullToken: a login that may only pull, for the pods' pull Secret wherever it
    would otherwise hold a login of the stack's (the build's push login, or a prebuilt image's registryUser). Refused
    where no pull Secret comes from a login, and when it is that login's user itself."""
    user, token = r.string("registryPullUser"), r.secret("registryPullToken")
    if not (user or token):
        return "", None
    if not from_a_login:
        for name in ("registryPullUser", "registryPullToken"):
            if r.is_set(name):
                r.problem(name, "only applies where the pods' pull Secret would hold a login of the stack's: an image "
                          "kubeport pushes with one (registry server with registryUser, or dockerhub), or a "
                          "kubeport:image pulled with registryUser and registryToken")  # fmt: skip
        return "", None
    if bool(user) != (token is not None):
        r.problem("registryPullUser" if not user else "registryPullToken",
                  "registryPullUser and registryPullToken go together")  # fmt: skip
        return "", None
    if user == login_user:
        r.problem("registryPullUser", f"{user!r} is the stack's own login: a pull-only login is another user, who "
                  "may only pull (to pull with that login itself, leave both pull keys unset)")  # fmt: skip
        return "", None
    return user, token


def _check_pull_credentials(r: Reader, image: str, server: str, user: str, token: SecretValue | None) -> None:
    """With a prebuilt image, registryServer/User/Token are the credentials to pull it from a private registry."""
    if not (server or user or token):
        return
    if not (server and user and token):
        missing = [
            n for n, v in (("registryServer", server), ("registryUser", user), ("registryToken", token)) if not v
        ]
        r.problem(
            missing[0],
            "with kubeport:image, registryServer, registryUser and registryToken go together: the registry the "
            "image is pulled from and credentials for it",
        )
        return
    host = server.split("/", 1)[0]
    if image.split("/", 1)[0] != host:
        r.problem("registryServer", f"{server!r} is not the registry of kubeport:image ({image.split('/', 1)[0]!r})")


def _rollout_timeout(r: Reader) -> str:
    """A duration Pulumi's custom timeouts take, within the key's bounds; empty: the target's own."""
    return r.duration("rolloutTimeout")


def _check_base_image(r: Reader, key: str, image: str) -> None:
    """An image to build FROM or run as it is: a well-formed reference, pinned by digest (a mirror must not move)."""
    match = image_reference(image)
    if not match:
        r.problem(key, f"{image!r} is not an image reference; expected registry/repository:tag@sha256:<digest>")
    elif not match.group("digest"):
        r.problem(key, f"{image!r} is not pinned; expected ...@sha256:<64 hex digits>, as the Dockerfile's own")
    elif match.group("tag") == "latest":
        r.problem(key, f"{image!r} names the tag latest; name the version the digest is of")


def _application(r: Reader) -> str:
    """The folder of workload files (read and checked later, with the files' own errors), and the keys that go
    with it or not."""
    folder = r.string("application").strip("/")
    if not folder:
        for name in APPLICATION_ONLY_KEYS:
            if r.is_set(name):
                r.problem(name, "only applies with kubeport:application (a folder of workload files)")
        return ""
    if not APPLICATION_FOLDER.match(folder) or ".." in folder.split("/"):
        r.problem("application", f"{folder!r} is not a folder inside the project, e.g. walkthrough")
    for name in NOT_WITH_APPLICATION:
        if r.is_set(name):
            r.problem(name, "does not apply with kubeport:application: each service's image and exposure come from "
                            "its workload file")  # fmt: skip
    for name in ("serviceBaseImage", "postgresImage", "redisImage", "s3Image"):
        if r.string(name):
            _check_base_image(r, name, r.string(name))
    storage_class = r.string("storageClass")
    if storage_class and not DNS1123_SUBDOMAIN.match(storage_class):
        r.problem("storageClass", f"{storage_class!r} is not a StorageClass name")
    return folder


def _check_image(r: Reader, image: str, target: Target) -> None:
    """A prebuilt image reference: well formed, never `latest` (named or implied), by digest on clouds."""
    match = image_reference(image)
    if not match:
        r.problem(
            "image", f"{image!r} is not an image reference; expected registry/repository:tag or ...@sha256:<digest>"
        )
        return
    tag, digest = match.group("tag"), match.group("digest")
    if tag == "latest":
        r.problem("image", f"{image!r} uses the tag latest, which moves; pin a version tag or a digest")
    elif not tag and not digest:
        r.problem("image", f"{image!r} has neither tag nor digest, so it means latest; pin a version tag or a digest")
    if target in CLOUD_TARGETS and not digest:
        r.problem(
            "image",
            f"{image!r} has no digest; cloud targets deploy by digest: expected ...@sha256:<64 hex digits> "
            "(e.g. from `docker buildx imagetools inspect <image>`)",
        )
