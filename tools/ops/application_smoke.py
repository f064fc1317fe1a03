"""The smoke check of an application's target, derived from its workload files alone.

- Every workload's Deployment has all its replicas available (a worker's too: it has nothing else to ask).
- Every service's readiness probe answers through its Service, from inside the target cluster: a probe Pod of
  kubeport's own in the application's namespace asks `http://<service>.<namespace>.svc:<port><path>`, for the
  Service port whose target is the probe's port. A probe port that no Service port targets is the kubelet's alone;
  the check says so.
- Every route of the public workload answers through the target's public address (below 500).

The probe Pod runs the web app's base image (`kubeport:baseImage`, else app/Dockerfile's pinned one): it has a
shell and wget, the cluster pulls it like any of the application's images, and it runs under Pod Security
"restricted". The application's NetworkPolicies admit only the callers its files declare, so for the duration of
the check one more NetworkPolicy admits the probe Pod on the probe ports of the services it asks; both are
removed afterwards (`cleanup`), and a leftover of an interrupted run is removed before the next starts.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stacks.application.spec import Application
from tools.ops.application_data import Side
from tools.ops.operations import OperationError
from tools.ops.smoke import Fetch, Kubectl, http_get, run_kubectl
from tools.stack_files import ROOT

PROBE_NAME = "kubeport-migrate-probe"
PROBE_LABELS = {"app.kubernetes.io/managed-by": "kubeport-migrate", "kubeport.dev/migrate-probe": "true"}
PROBE_USER = 10101
PROBE_LIFETIME = 900
"""The probe Pod's own bound (activeDeadlineSeconds): it ends by itself even if migrate never removes it."""
ATTEMPTS = 15
"""Each probe is asked up to this many times, 2 s apart."""
DOCKERFILE_BASE = re.compile(r"^ARG BASE_IMAGE=(\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Probe:
    """One service's readiness probe, asked through its Service."""

    workload: str
    url: str
    """Empty when no Service port targets the probe's port."""
    pod_port: int
    """The container port the probe asks (what a NetworkPolicy names)."""


def probes(application: Application, namespace: str) -> list[Probe]:
    """Each workload's readiness probe, as a URL through its Service (in file order)."""
    found = []
    for workload in application.workloads:
        for container in workload.containers:
            probe = container.readiness
            if probe is None:
                continue
            port = next((p for p in workload.ports if p.target_port == probe.port), None)
            url = f"http://{workload.name}.{namespace}.svc:{port.port}{probe.path}" if port else ""
            found.append(Probe(workload.name, url, probe.port))
    return found


def routes(application: Application) -> list[str]:
    """The paths the public workload's routes send to it."""
    return [str(r.params.get("path", "/")) for w in application.workloads if w.public for r in w.resources_of("route")]


def probe_image(config: dict[str, str], root: Path = ROOT) -> str:
    """The web app's base image: the stack's `kubeport:baseImage`, else the one app/Dockerfile pins."""
    configured = config.get("kubeport:baseImage", "")
    if configured:
        return configured
    match = DOCKERFILE_BASE.search((root / "app" / "Dockerfile").read_text())
    if match is None:
        raise OperationError("app/Dockerfile names no ARG BASE_IMAGE: the probe Pod needs an image")
    return match.group(1)


class ClusterProbe:
    """The probe Pod and its NetworkPolicy in the target's namespace, asked through `kubectl exec`."""

    def __init__(
        self,
        side: Side,
        application: str,
        image: str,
        kubectl: Kubectl = run_kubectl,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.side = side
        self.application = application
        self.image = image
        self.run = kubectl
        self.sleep = sleep

    def cleanup(self) -> None:
        self.run(
            self.side.kubectl(
                "delete",
                "pod,networkpolicy",
                "-l",
                "kubeport.dev/migrate-probe=true",
                "--ignore-not-found",
                "--wait=true",
                "--timeout=60s",
            )
        )

    def start(self, services: Sequence[tuple[str, int]]) -> None:
        """The Pod (sleeping, bounded) and the rule that admits it to `services` (name, probe port)."""
        self.cleanup()
        pull = json.loads(
            self.run(
                self.side.kubectl(
                    "get", "secrets", "--field-selector", "type=kubernetes.io/dockerconfigjson", "-o", "json"
                )
            )
        )["items"]
        documents = [*self._policies(services), self._pod([s["metadata"]["name"] for s in pull])]
        with tempfile.TemporaryDirectory(prefix="kubeport-probe-") as folder:
            manifest = Path(folder) / "probe.json"
            manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}))
            self.run(self.side.kubectl("apply", "-f", str(manifest)))
        self.run(self.side.kubectl("wait", f"pod/{PROBE_NAME}", "--for=condition=Ready", "--timeout=120s"))

    def ask(self, urls: Sequence[str]) -> dict[str, str]:
        """Each URL that did not answer below 400 within the attempts, with what wget said last (one exec)."""
        script = (
            'for url in "$0" "$@"; do i=0; while :; do out=$(wget -q -T 3 -O /dev/null "$url" 2>&1) && break; '
            f'i=$((i + 1)); if [ "$i" -ge {ATTEMPTS} ]; then printf "%s\t%s\n" "$url" "$(printf "%s" "$out" | '
            'tr "\n\t" "  ")"; break; fi; sleep 2; done; done'
        )
        if not urls:
            return {}
        out = self.run(self.side.kubectl("exec", PROBE_NAME, "--", "sh", "-c", script, *urls))
        return {line.split("\t", 1)[0]: line.split("\t", 1)[-1][-300:] for line in out.splitlines() if "\t" in line}

    def _policies(self, services: Sequence[tuple[str, int]]) -> list[dict[str, object]]:
        """The services admit the probe on their probe ports; the probe may reach them there, and cluster DNS (the
        application's namespace denies what no policy admits)."""
        targets = {
            "matchLabels": {"app.kubernetes.io/part-of": self.application},
            "matchExpressions": [
                {"key": "app.kubernetes.io/instance", "operator": "In", "values": sorted({n for n, _ in services})}
            ],
        }
        ports = [{"port": p, "protocol": "TCP"} for p in sorted({p for _, p in services})]
        probe = {"matchLabels": {"kubeport.dev/migrate-probe": "true"}}

        def policy(name: str, spec: Mapping[str, object]) -> dict[str, object]:
            return {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": name, "labels": PROBE_LABELS},
                "spec": spec,
            }

        dns = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
        admitted = {
            "podSelector": targets,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": probe}], "ports": ports}],
        }
        asking = {
            "podSelector": probe,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [{"to": [{"podSelector": targets}], "ports": ports}, dns],
        }
        return [policy(PROBE_NAME, admitted), policy(f"{PROBE_NAME}-egress", asking)]

    def _pod(self, pull_secrets: Sequence[str]) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": PROBE_NAME, "labels": PROBE_LABELS},
            "spec": {
                "restartPolicy": "Never",
                "activeDeadlineSeconds": PROBE_LIFETIME,
                "terminationGracePeriodSeconds": 1,
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "imagePullSecrets": [{"name": n} for n in pull_secrets],
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": PROBE_USER,
                    "runAsGroup": PROBE_USER,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "probe",
                        "image": self.image,
                        "command": ["/bin/sh", "-c", f"trap 'exit 0' TERM INT; sleep {PROBE_LIFETIME} & wait"],
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "16Mi"},
                            "limits": {"cpu": "200m", "memory": "64Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        }


def deployments_unavailable(side: Side, application: str, kubectl: Kubectl = run_kubectl) -> list[str]:
    """Each of the application's Deployments that has fewer replicas available than it wants, with its counts."""
    listed = json.loads(
        kubectl(side.kubectl("get", "deployments", "-l", f"app.kubernetes.io/part-of={application}", "-o", "json"))
    )["items"]
    short = []
    for deployment in listed:
        status, wanted = deployment.get("status") or {}, int(deployment["spec"].get("replicas", 1))
        if int(status.get("availableReplicas") or 0) < wanted:
            short.append(
                f"{deployment['metadata']['name']}: {status.get('availableReplicas') or 0} of {wanted} "
                "replicas available"
            )
    return short


def check_routes(url: str, paths: Sequence[str], fetch: Fetch = http_get) -> list[str]:
    """What each route answered through the public address; raises when one answers 500 or more, or not at all."""
    said = []
    for path in paths:
        try:
            status, _ = fetch(url.rstrip("/") + path)
        except OSError as err:
            raise OperationError(f"route {path}: {url} does not answer: {err}") from err
        if status >= 500:
            raise OperationError(f"route {path} answered {status} through {url}")
        said.append(f"{path} {status}")
    return said
