"""`python -m tools diff A B`: the portability claim, checked mechanically.

Renders both stacks under mocks and compares their workload (the `WebApp`'s Kubernetes objects). The only
differences allowed are the ones the Platform carries: the image reference, its pull policy and the scanner
waivers that follow from it (registry), the target name in the environment, and the Service's type,
node port and annotations (exposure); for an application on a cloud, what its managed database provisioner
outputs (the database's DNS name, its address block, its password). It also counts the stack-config lines that
differ between the two stack files: the migration cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tools.stack_files import stack_file_config
from tools.verify.mock_runner import ProgramRun, dig

WAIVER_KEY = "checkov.io/skip"

PULL_SECRET = "registry: pull credentials where nodes have no pull rights"
# Paths (after `normalize`) that the Platform legitimately changes, with what carries them.
PLATFORM_CARRIED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\.containers\.[^.]+\.image$"), "registry: image reference"),
    (re.compile(r"\.containers\.[^.]+\.imagePullPolicy$"), "registry: pull policy"),
    (re.compile(r"\.env\.KUBEPORT_IMAGE\.value$"), "registry: image reference shown by /info"),
    (re.compile(r"\.env\.KUBEPORT_TARGET\.value$"), "target name"),
    # A digest of the Service and the pod template (components.smoke): it differs exactly when they do, and any
    # difference of theirs is listed and classified on its own.
    (re.compile(r"^Pod .*\.env\.CHECKS\.value$"), "derived: the smoke check's digest of the objects it checks"),
    # Likewise the web pods' release (components.pod_parts.RELEASE_ANNOTATION), a digest of the rest of their
    # template, and the smoke check's copy of it.
    (
        re.compile(r"^Deployment .*: spec\.template\.metadata\.annotations\.kubeport\.dev/release$"),
        "derived: the web pods' digest of their template",
    ),
    (re.compile(r"^Pod .*\.env\.RELEASE\.value$"), "derived: the release the smoke check waits for"),
    (re.compile(r"^metadata\.waivers\.(CKV_K8S_43|CKV_K8S_15)$"), "registry: waivers for a local image"),
    (re.compile(r"^Service .*: spec\.type$"), "exposure: Service type"),
    (re.compile(r"^Service .*: spec\.ports\.[^.]+\.nodePort$"), "exposure: node port"),
    (re.compile(r"^Service .*: metadata\.annotations(\..+)?$"), "exposure: load balancer annotations"),
    (re.compile(r"\.imagePullSecrets(\..+)?$"), PULL_SECRET),
    (re.compile(r"^Ingress .*: spec\.ingressClassName$"), "ingress: the target's controller class"),
    (re.compile(r"^Ingress .*: metadata\.annotations(\..+)?$"), "ingress: what the target's controller reads"),
    (re.compile(r"\.volumeClaimTemplates(\[\d+\]|\.[^.]+)\.spec\.storageClassName$"), "storage: the StorageClass"),
]

DATABASE_PORT = 5432
DATABASE_HOST = "provisioner: the database's host, which its certificate names"
ENV_VALUE = re.compile(r"\.env\.[^.]+\.value$")


def _is_database_object(obj: Any) -> bool:
    """One of the objects a cloud's managed database provisioner makes in the cluster (components.database)."""
    labels = dig(obj, "metadata", "labels") or {}
    return isinstance(labels, dict) and labels.get("app.kubernetes.io/name") == "postgres"


def _is_database_ca(obj: Any) -> bool:
    """The ConfigMap a workload's containers read its databases' CAs from (components.service)."""
    labels = dig(obj, "metadata", "labels") or {}
    return _is_database_object(obj) or (isinstance(labels, dict) and labels.get("app.kubernetes.io/component") ==
                                        "database-ca")  # fmt: skip


def _is_database_egress(obj: Any, path: str) -> bool:
    """The egress rule at `path` admits only the database's port: the rule the provisioner's address block is in."""
    match = re.match(r"^spec\.egress\[(\d+)\]", path)
    egress = dig(obj, "spec", "egress")
    if match is None or not isinstance(egress, list) or int(match.group(1)) >= len(egress):
        return False
    ports = egress[int(match.group(1))].get("ports")
    ports = list(ports.values()) if isinstance(ports, dict) else ports
    return bool(ports) and all(isinstance(p, dict) and p.get("port") == DATABASE_PORT for p in ports)


# A cloud's managed database (stacks.application.provision): the pods' variables are the same everywhere; what
# its in-cluster name points at, the address block it lives in and the password it was made with are its own. Each
# is allowed only on the database's own objects (both sides), never on any Service, Secret or egress rule.
PROVISIONER_CARRIED: list[tuple[re.Pattern[str], Callable[[Any, str], bool], str]] = [
    (
        re.compile(r"^Secret .*: stringData\.host$"),
        lambda obj, _path: _is_database_object(obj),
        DATABASE_HOST,
    ),
    (
        re.compile(r"^ConfigMap .*: data\.ca\.crt$"),
        lambda obj, _path: _is_database_ca(obj),
        "provisioner: the database's CA, which its clients verify it against",
    ),
    (
        re.compile(r"\.metadata\.annotations\.kubeport\.dev/trusted-ca$"),
        lambda _obj, _path: True,
        "derived: a digest of the databases' CAs (rolls the pods onto a new one)",
    ),
    (
        re.compile(r"^NetworkPolicy .*: spec\.egress\[\d+\]\.to\[\d+\]\.ipBlock\.cidr$"),
        _is_database_egress,
        "provisioner: the managed database's address block",
    ),
    (
        re.compile(r"^Secret .*: stringData\.password$"),
        lambda obj, _path: _is_database_object(obj),
        "provisioner: the database's password (secret)",
    ),
]


@dataclass(frozen=True)
class Difference:
    path: str
    a: Any
    b: Any
    carried_by: str | None
    """What in the Platform explains it; None means the workload itself differs."""

    def line(self) -> str:
        why = f"  [{self.carried_by}]" if self.carried_by else ""
        return f"{self.path}: {_short(self.a)} -> {_short(self.b)}{why}"


def _short(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 90 else text[:87] + "..."


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


_MISSING: Any = _Missing()


def normalize(value: Any) -> Any:
    """Lists of named items become maps by name (containers, env, ports, volumes), so a diff says *which*."""
    if isinstance(value, Mapping):
        out = {str(k): normalize(v) for k, v in value.items()}
        annotations = out.get("annotations")
        if isinstance(annotations, dict) and any(k.startswith(WAIVER_KEY) for k in annotations):
            # checkov waivers are numbered; compare them by check id instead.
            waivers = {
                v.split("=", 1)[0]: v.split("=", 1)[1] for k, v in annotations.items() if k.startswith(WAIVER_KEY)
            }
            rest = {k: v for k, v in annotations.items() if not k.startswith(WAIVER_KEY)}
            out["waivers"] = waivers
            if rest:
                out["annotations"] = rest
            else:
                del out["annotations"]
        return out
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) and isinstance(v.get("name"), str) for v in value):
            return {str(v["name"]): normalize(v) for v in value}
        return [normalize(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def workload(run: ProgramRun) -> dict[str, Any]:
    """The workload's Kubernetes objects by `Kind name`, normalized."""
    objects = {}
    for obj in run.kubernetes_objects():
        kind = obj.type.rsplit(":", 1)[-1]
        objects[f"{kind} {obj.inputs['metadata']['name']}"] = normalize(obj.inputs)
    return objects


def _leaves(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    # A map present on one side only is compared key by key, so each difference is named (and classified).
    if isinstance(a, dict) and b is _MISSING:
        b = {}
    if isinstance(b, dict) and a is _MISSING:
        a = {}
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _leaves(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}" if path else key)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _leaves(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def database_hosts(objects: Mapping[str, Any]) -> set[str]:
    """The hosts the provisioned databases are reached at, as their Secrets say (stringData.host)."""
    return {
        str(dig(obj, "stringData", "host"))
        for key, obj in objects.items()
        if key.startswith("Secret ") and _is_database_object(obj) and dig(obj, "stringData", "host")
    }


def classify(object_key: str, path: str, a: Any = None, b: Any = None) -> str | None:
    """What carries a difference at `path` of `object_key` (`a` and `b`: the object on each side)."""
    qualified = f"{object_key}: {path}"
    for pattern, carrier in PLATFORM_CARRIED:
        if pattern.search(path) or pattern.search(qualified):
            return carrier
    for pattern, holds, carrier in PROVISIONER_CARRIED:
        if pattern.search(qualified) and holds(a, path) and holds(b, path):
            return carrier
    return None


def workload_differences(a: ProgramRun, b: ProgramRun) -> list[Difference]:
    wa, wb = workload(a), workload(b)
    hosts = (database_hosts(wa), database_hosts(wb))
    differences = []
    for key in sorted(set(wa) | set(wb)):
        if key not in wa or key not in wb:
            # Only the image pull secret may exist on one side: the nodes have pull rights there, not here.
            carried = PULL_SECRET if key.startswith("Secret ") else None
            differences.append(Difference(key, wa.get(key, _MISSING), wb.get(key, _MISSING), carried))
            continue
        for path, x, y in _leaves(wa[key], wb[key], ""):
            # A variable that holds a provisioned database's host on each side: where the database is (its certificate
            # names that host, so the pods connect to it by that name).
            is_host = ENV_VALUE.search(path) is not None and x in hosts[0] and y in hosts[1]
            carried = DATABASE_HOST if is_host else classify(key, path, wa[key], wb[key])
            differences.append(Difference(f"{key}: {path}", x, y, carried))
    return differences


@dataclass(frozen=True)
class ConfigChange:
    key: str
    a: str | None
    b: str | None

    def line(self) -> str:
        if self.a is None:
            return f"+ {self.key}: {self.b}"
        if self.b is None:
            return f"- {self.key}: {self.a}"
        return f"~ {self.key}: {self.a} -> {self.b}"


def config_changes(a: str, b: str) -> list[ConfigChange]:
    """The stack-config lines to change to move from stack `a` to stack `b`: the migration cost."""
    va, vb = stack_file_config(a)[0], stack_file_config(b)[0]
    return [ConfigChange(k, va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
