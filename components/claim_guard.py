"""Who may mount a volume: an admission policy of the API server's own (ValidatingAdmissionPolicy, CEL; Kubernetes
1.30 and later) that refuses, in the claim's namespace, a Pod mounting the claim unless it carries the labels of the
workload whose file declares it. A PersistentVolumeClaim is otherwise open to any pod of its namespace.

It trusts pod labels, as the NetworkPolicies do: whoever may create pods in the namespace with the workload's labels
may mount its volume (kubeport's namespaces admit no other writer of pods but the workload's own controller).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

SCOPE = "app.kubernetes.io/managed-by"


def mount_rule(claim: str, labels: Mapping[str, str]) -> str:
    """The CEL the API server evaluates on each Pod created in the namespace: no volume of it names `claim`, or the
    Pod carries every one of `labels`. Names and labels are DNS names and label values: nothing to escape."""
    carried = " && ".join(
        f"'{key}' in object.metadata.labels && object.metadata.labels['{key}'] == '{value}'"
        for key, value in sorted(labels.items())
    )
    return (
        "!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.persistentVolumeClaim) || "
        f"v.persistentVolumeClaim.claimName != '{claim}') || (has(object.metadata.labels) && {carried})"
    )


def guard_claim(
    name: str,
    *,
    claim: str,
    namespace: str,
    workload: str,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """The policy and its binding to the namespace; both cluster-scoped, named after the namespace and the claim."""
    object_name = f"kubeport-{namespace}-{claim}"
    meta = k8s.meta.v1.ObjectMetaArgs(
        name=object_name, labels={SCOPE: "pulumi", "app.kubernetes.io/part-of": namespace}
    )
    policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        f"{name}-guard",
        metadata=meta,
        spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs(
            failure_policy="Fail",
            match_constraints=k8s.admissionregistration.v1.MatchResourcesArgs(
                resource_rules=[
                    k8s.admissionregistration.v1.NamedRuleWithOperationsArgs(
                        api_groups=[""], api_versions=["v1"], operations=["CREATE"], resources=["pods"]
                    )
                ]
            ),
            validations=[
                k8s.admissionregistration.v1.ValidationArgs(
                    expression=mount_rule(claim, labels),
                    message=f"only the pods of {workload} may mount the volume {claim}: no other file declares it",
                    reason="Forbidden",
                )
            ],
        ),
        opts=opts,
    )
    binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        f"{name}-guard-binding",
        metadata=meta,
        spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
            policy_name=object_name,
            validation_actions=["Deny"],
            match_resources=k8s.admissionregistration.v1.MatchResourcesArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": namespace}
                )
            ),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[policy])),
    )
    return [policy, binding]
