"""The StorageClass of an application's volumes on a cloud: the CSI driver the target module names, with its
parameters (encryption, the disk's type), and the same policy everywhere: the disk outlives its claim (Retain), it is
made in the zone of the first pod that mounts it (WaitForFirstConsumer), and it may grow.

One short function per cloud says what the disk is there: `ebs_gp3` (EKS), `azure_disk` (AKS), `pd_balanced` (GKE).
The EBS driver itself, which EKS does not install, is components.eks_storage's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class VolumeClassSpec:
    """A cloud's disk for application volumes: the StorageClass's name, its CSI driver and the driver's parameters."""

    name: str
    provisioner: str
    parameters: Mapping[str, pulumi.Input[str]]


def ebs_gp3(kms_key_arn: pulumi.Input[str]) -> VolumeClassSpec:
    """EBS gp3, encrypted with the cluster's own KMS key (the one its Secrets and RDS use)."""
    return VolumeClassSpec(
        "kubeport-gp3",
        "ebs.csi.aws.com",
        {"type": "gp3", "encrypted": "true", "kmsKeyId": kms_key_arn, "csi.storage.k8s.io/fstype": "ext4"},
    )


def azure_disk() -> VolumeClassSpec:
    """An Azure managed disk (StandardSSD_LRS, managed-csi's), encrypted at rest by the platform (always on), which
    no SAS URL may export and no public endpoint reaches."""
    return VolumeClassSpec(
        "kubeport-managed-csi",
        "disk.csi.azure.com",
        {"skuName": "StandardSSD_LRS", "networkAccessPolicy": "DenyAll", "publicNetworkAccess": "Disabled"},
    )


def pd_balanced() -> VolumeClassSpec:
    """A pd-balanced persistent disk, encrypted at rest with Google-managed keys (always on)."""
    return VolumeClassSpec("kubeport-pd-balanced", "pd.csi.storage.gke.io", {"type": "pd-balanced"})


def volume_class(
    spec: VolumeClassSpec, provider: pulumi.ProviderResource, depends_on: Sequence[pulumi.Resource] = ()
) -> k8s.storage.v1.StorageClass:
    """The StorageClass `spec` describes: retained, bound where its first pod runs, expandable."""
    return k8s.storage.v1.StorageClass(
        spec.name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=spec.name, labels={"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "kubeport"}
        ),
        provisioner=spec.provisioner,
        parameters=dict(spec.parameters),
        reclaim_policy="Retain",
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        opts=pulumi.ResourceOptions(provider=provider, depends_on=list(depends_on)),
    )
