"""Before a real deployment: name the local tools the target needs, with how to install them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping

import pulumi

from stacks.config import Settings

Which = Callable[[str], str | None]

TOOLS: Mapping[str, tuple[str, str]] = {
    "aws": (
        "the AWS CLI v2, used by the kubeconfig to get EKS tokens",
        "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html, "
        "then `aws configure` or `aws sso login`",
    ),
    "kubelogin": (
        "kubelogin, used by the kubeconfig to get Entra ID tokens for AKS",
        "`az aks install-cli`, then `az login`",
    ),
    "az": (
        "the Azure CLI, whose login kubelogin and the provider use",
        "https://learn.microsoft.com/cli/azure/install-azure-cli, then `az login`",
    ),
    "gke-gcloud-auth-plugin": (
        "the GKE auth plugin, used by the kubeconfig",
        "`gcloud components install gke-gcloud-auth-plugin`, "
        "then `gcloud auth login` and `gcloud auth application-default login`",
    ),
    "docker": (
        "Docker with buildx, which builds the image",
        "https://docs.docker.com/get-docker/ (or point DOCKER_HOST at a daemon)",
    ),
}

NEEDED: Mapping[str, tuple[str, ...]] = {
    "minikube": ("docker",),
    "existing": ("docker",),
    "eks": ("aws", "docker"),
    "aks": ("az", "kubelogin", "docker"),
    "gke": ("gke-gcloud-auth-plugin", "docker"),
}


def missing_tools(
    settings: Settings, which: Which | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """One line per missing tool: what it is for and how to install it."""
    which = which or shutil.which
    environ = os.environ if environ is None else environ
    lines = []
    for tool in NEEDED[settings.target]:
        # The image builder only needs a daemon: a DOCKER_HOST (minikube docker-env, a remote builder) will do.
        if tool == "docker" and environ.get("DOCKER_HOST"):
            continue
        if which(tool) is None:
            purpose, install = TOOLS[tool]
            lines.append(f"`{tool}` not found: {purpose}. Install: {install}")
    return lines


def check(settings: Settings, which: Which | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Stop the program with one message if a tool is missing."""
    lines = missing_tools(settings, which, environ)
    if lines:
        listing = "\n".join(f"  - {line}" for line in lines)
        raise pulumi.RunError(f"kubeport target {settings.target!r} needs tools that are not installed:\n{listing}")
