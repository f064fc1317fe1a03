"""SmokeCheck: a Pod that is Ready only while the app answers through its Service's cluster DNS name, from the
release the update rolled out.

Pulumi waits for a Pod to become Ready, so `pulumi up` itself proves in-cluster reachability. Its component
label differs from the web pods', so the Service never selects it; a NetworkPolicy lets it reach DNS and the
web pods' port and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.options import PullPolicy
from components.pod_parts import (
    APP_PORT,
    HEALTH_PATH,
    INFO_PATH,
    authority,
    common_labels,
    container_security_context,
    pod_security_context,
    resources,
    scanner_waivers,
    selector_labels,
)

SMOKE_WAIVERS = {
    "CKV_K8S_8": "the smoke-check container checks, then sleeps; its readiness probe is the check, and a "
    "liveness probe could only restart a healthy sleeper",
}
CHECK_SCRIPT = r"""
# Ask the app through its Service until it answers or $WINDOW seconds pass. Then either sleep, Ready while the
# readiness probe keeps getting an answer, or exit 1 with why in the termination message: Pulumi's error for
# this Pod quotes it.
end=$(( $(date +%s) + WINDOW ))
tries=0 unanswered=0 cause=""
# Each try is bounded as a whole: wget's own -T leaves out its retries (GNU wget tries 20 times) and, in
# busybox, the name lookup.
while :; do
  said=$(timeout 4 wget -T 3 -O /dev/null "$URL" 2>&1) && break
  [ $? -eq 124 ] && said="$said
no answer: timed out after 4s"
  tries=$((tries + 1))
  last=$(printf '%s\n' "$said" | grep -v '^ *$' | tail -n 1)
  # The cause is the latest definite one: a refusal, a name that does not exist, an HTTP status. A try that got no
  # answer in time (a lost DNS packet, a busy node) does not hide what the tries before it were told.
  case "$said" in
    *"Name or service not known"*|*"bad address"*)
      cause="the name $HOST does not resolve: cluster DNS does not answer, or there is no Service $SERVICE";;
    *"refused"*)
      cause="the Service $SERVICE sends the connection to no pod that takes it: its selector matches no ready"
      cause="$cause web pod, or its targetPort is not the port nginx listens on ($APP_PORT)";;
    *" 5"[0-9][0-9]*|*"error 5"*|*"ERROR 5"*)
      cause="the app answers, but not healthy: $last";;
    *"timed out"*|*"resolve"*|*"name resolution"*)
      unanswered=$((unanswered + 1));;
    *)
      cause="$last";;
  esac
  if [ "$(date +%s)" -ge "$end" ]; then
    nothing="nothing answers: a NetworkPolicy drops the traffic, or nothing routes to the Service's address"
    echo "smoke check: $URL did not answer within ${WINDOW}s: ${cause:-$nothing} (last try: $last;" \
      "$unanswered of $tries tries got no answer in time)" >"${REPORT:-/dev/termination-log}"
    exit 1
  fi
  sleep 1
done
# It answers. From the release this update rolled out? If only pods of an earlier one answer until the window ends,
# the new pods never turned Ready, whatever the Deployment's await concluded (a stale read can end it early).
while [ -n "${RELEASE:-}" ]; do
  info=$(timeout 4 wget -q -T 3 -O - "$INFO_URL" 2>&1) && case "$info" in *"\"release\": \"$RELEASE\""*) break;; esac
  if [ "$(date +%s)" -ge "$end" ]; then
    seen=$(printf '%s\n' "$info" | sed -n 's/.*"release": "\([^"]*\)".*/\1/p')
    echo "smoke check: $INFO_URL answered only from pods of another release (${seen:-none}), not release $RELEASE:" \
      "the new pods never turned Ready (their readiness probe fails) or their rollout did not finish" \
      >"${REPORT:-/dev/termination-log}"
    exit 1
  fi
  sleep 1
done
# The app image's STOPSIGNAL is nginx's graceful SIGQUIT: the shell ends on it (and TERM, INT) at once.
trap 'exit 0' TERM QUIT INT
while :; do sleep 30 & wait $!; done
"""
"""The smoke container's program (POSIX sh, busybox or Debian: wget, timeout, date, grep, tail, sed)."""
READY_CHECK = r"""
if [ -n "${RELEASE:-}" ]; then
  wget -q -T 3 -O - "$INFO_URL" | grep -q "\"release\": \"$RELEASE\""
else
  wget -q -T 3 -O /dev/null "$URL"
fi
"""
"""The readiness probe: the Service answers, from a pod of the release this update rolled out when it is known."""


def duration_seconds(text: str) -> int:
    """`45s`, `10m`, `1h` -> seconds (the forms Pulumi's custom timeouts take)."""
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]]


def check_window(timeout: str) -> int:
    """How long the smoke check tries: a third of the rollout timeout, 10 to 30 s, so its verdict (and its reason)
    is in the Pod's status well before Pulumi gives up waiting for it."""
    return max(10, min(30, duration_seconds(timeout) // 3))


@dataclass(frozen=True)
class SmokeCheckArgs:
    """Inputs of SmokeCheck."""

    app: str
    """The WebApp instance it checks: its labels select that instance's web pods."""
    namespace: pulumi.Input[str]
    """The namespace of the app (and of this Pod)."""
    service_name: pulumi.Input[str]
    """The Service it calls: `http://<service>.<namespace>.svc/healthz`."""
    image: pulumi.Input[str]
    """An image with `wget` and a shell: the app's own, so no second image or registry is involved."""
    image_pull_policy: PullPolicy
    """As the app's containers pull it."""
    provider: k8s.Provider
    """The cluster's explicit Kubernetes provider."""
    timeout: str
    """How long Pulumi waits for the Pod to become Ready."""
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None = None
    """The app's image pull secret, where the nodes need one."""
    waivers: dict[str, str] = field(default_factory=dict)
    """checkov waivers the image brings (a local build's); SMOKE_WAIVERS are added."""
    waits_for: Sequence[pulumi.Resource] = ()
    """What every object here waits for: the Platform's dependencies (node pools, pull rights)."""
    checks: Sequence[pulumi.Resource] = ()
    """What the Pod checks, so it is created after them: the app's Deployment and Service."""
    revision: pulumi.Input[str] = ""
    """A digest of what the check depends on (the Service's spec, the pod template): when it changes, the Pod is
    replaced, so an update runs the check again instead of trusting an earlier pass."""
    release: pulumi.Input[str] = ""
    """The release the web pods of this update run (their RELEASE_ANNOTATION, which /info reports): the Pod turns
    Ready only on an answer from one of them. Empty: any answer from the Service passes."""


class SmokeCheck(pulumi.ComponentResource):
    """A NetworkPolicy and a Pod whose readiness probe asks the app through its Service, and is answered by a pod of
    the release it checks."""

    def __init__(self, name: str, args: SmokeCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:SmokeCheck", name, None, opts)
        # Created before this component existed under the WebApp itself: the aliases keep those URNs.
        owner = opts.parent if opts is not None else None
        moved = [pulumi.Alias(parent=owner)] if owner is not None else []
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, aliases=moved, depends_on=list(args.waits_for)
        )
        labels = common_labels(args.app, "smoke-check")
        selector = selector_labels(args.app, "smoke-check")
        # `<service>.<namespace>.svc` resolves through the pod's DNS search path whatever the cluster domain.
        host = pulumi.Output.concat(args.service_name, ".", args.namespace, ".svc")
        target_url = host.apply(lambda h: f"http://{authority(h)}{HEALTH_PATH}")
        info_url = host.apply(lambda h: f"http://{authority(h)}{INFO_PATH}")
        check = ["/bin/sh", "-c", READY_CHECK]
        facts = {"URL": target_url, "INFO_URL": info_url, "HOST": host, "SERVICE": args.service_name,
                 "APP_PORT": str(APP_PORT), "WINDOW": str(check_window(args.timeout)), "CHECKS": args.revision,
                 "RELEASE": args.release}  # fmt: skip

        self._network_policy(name, args, labels, selector, k8s_opts)

        self.pod = self._pod(name, args, labels, _container(args, facts, check), k8s_opts)
        self.register_outputs({})

    def _network_policy(
        self,
        name: str,
        args: SmokeCheckArgs,
        labels: dict[str, str],
        selector: dict[str, str],
        k8s_opts: pulumi.ResourceOptions,
    ) -> None:
        """Declares the NetworkPolicy that lets the smoke-check Pod reach DNS and the web pods' port only."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args.namespace, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                ingress=[],
                egress=[
                    # DNS, wherever the cluster runs it.
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="UDP"),
                            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="TCP"),
                        ]
                    ),
                    # The app's pods (policies apply after the Service's address translation).
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=selector_labels(args.app, "web")
                                )
                            )
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=APP_PORT, protocol="TCP")],
                    ),
                ],
            ),
            opts=k8s_opts,
        )

    def _pod(
        self,
        name: str,
        args: SmokeCheckArgs,
        labels: dict[str, str],
        container: k8s.core.v1.ContainerArgs,
        k8s_opts: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Pod:
        """Declares the smoke-check Pod, created after what it checks and given the rollout timeout to be Ready."""
        return k8s.core.v1.Pod(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=args.namespace,
                labels=labels,
                annotations=scanner_waivers(args.waivers | SMOKE_WAIVERS),
            ),
            spec=k8s.core.v1.PodSpecArgs(
                automount_service_account_token=False,
                enable_service_links=False,
                image_pull_secrets=list(args.pull_secrets) if args.pull_secrets else None,
                security_context=pod_security_context(),
                termination_grace_period_seconds=5,
                # One verdict per release: a failed check stays failed, with its reason, and the Pod changes no more
                # (the provider's Pod await restarts its timeout on every change of the Pod; a restarting container
                # would keep it waiting far past kubeport:rolloutTimeout).
                restart_policy="Never",
                containers=[container],
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts,
                pulumi.ResourceOptions(
                    custom_timeouts=pulumi.CustomTimeouts(create=args.timeout, update=args.timeout),
                    depends_on=list(args.checks),
                ),
            ),
        )


def _container(
    args: SmokeCheckArgs, facts: dict[str, pulumi.Input[str]], check: list[str]
) -> k8s.core.v1.ContainerArgs:
    """The smoke-check container: CHECK_SCRIPT with the facts it reads, Ready while `check` gets an answer."""
    return k8s.core.v1.ContainerArgs(
        name="smoke-check",
        image=args.image,
        image_pull_policy=args.image_pull_policy,
        command=["/bin/sh", "-c", CHECK_SCRIPT],
        # A container's environment cannot change in place: a new CHECKS replaces the Pod.
        env=[k8s.core.v1.EnvVarArgs(name=n, value=v) for n, v in facts.items() if v != ""],
        termination_message_policy="File",
        # Once a second (one small request): after a release, an answer from the new pods makes it Ready within a
        # second, not a probe period after one that reached a pod of the release going away.
        readiness_probe=k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=check),
            period_seconds=1,
            timeout_seconds=5,
            failure_threshold=1,
        ),
        resources=resources("10m", "16Mi", "100m", "32Mi"),
        security_context=container_security_context(),
    )
