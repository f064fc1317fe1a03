"""kubeport's policy pack: `pulumi preview --policy-pack policy` (the policies live in kubeport_policies)."""

from kubeport_policies import POLICIES
from pulumi_policy import PolicyPack

PolicyPack(name="kubeport", policies=POLICIES)
