"""Before a real deployment: name the local tools the target needs, with how to install them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pulumi
import yaml

from stacks.config import Settings
from stacks.config.target import target_module

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


def missing_tools(
    settings: Settings, which: Which | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """One line per missing tool: what it is for and how to install it."""
    which = which or shutil.which
    environ = os.environ if environ is None else environ
    lines = []
    # A cluster stack builds no image; its cloud CLI still mints the kubeconfig's tokens.
    needed = [t for t in target_module(settings.target).TOOLS if not (t == "docker" and settings.part == "cluster")]
    for tool in needed:
        # The image builder only needs a daemon: a DOCKER_HOST (minikube docker-env, a remote builder) will do;
        # a prebuilt image (kubeport:image) needs no builder at all.
        if tool == "docker" and (environ.get("DOCKER_HOST") or settings.image):
            continue
        if which(tool) is None:
            purpose, install = TOOLS[tool]
            lines.append(f"`{tool}` not found: {purpose}. Install: {install}")
    return lines


Minikube = Callable[[list[str]], str]
"""Runs `minikube` with these arguments and returns its standard output."""


def run_minikube(args: list[str]) -> str:
    done = subprocess.run(["minikube", *args], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout if done.returncode == 0 else ""


def minikube_addons(settings: Settings) -> list[str]:
    """The minikube add-ons the stack's features need: metrics for the autoscaler, the ingress controller."""
    return [
        name
        for name, wanted in (("metrics-server", settings.autoscaling is not None), ("ingress", bool(settings.host)))
        if wanted
    ]


def missing_addons(settings: Settings, minikube: Minikube = run_minikube) -> list[str]:
    """One line per add-on the stack needs that its minikube profile has not enabled."""
    if settings.target != "minikube" or not minikube_addons(settings):
        return []
    profile = settings.kube_context or "minikube"
    try:
        listed = json.loads(minikube(["addons", "list", "--profile", profile, "--output", "json"]) or "{}")
    except ValueError:
        listed = {}
    return [
        f"minikube add-on `{name}` is not enabled: run `minikube addons enable {name} --profile {profile}`"
        for name in minikube_addons(settings)
        if (listed.get(name) or {}).get("Status") != "enabled"
    ]


ENFORCING_CNIS = ("calico", "cilium")
"""minikube's CNIs (`minikube start --cni=...`) that enforce NetworkPolicies; the default (bridge, or kindnet with
several nodes) and flannel admit them and enforce none."""


def network_policy_warning(settings: Settings, minikube: Minikube = run_minikube) -> str:
    """A warning when the stack's minikube profile runs a CNI that does not enforce NetworkPolicies; else empty."""
    if settings.target != "minikube":
        return ""
    profile = settings.kube_context or "minikube"
    try:
        listed = json.loads(minikube(["profile", "list", "--output", "json"]) or "{}")
    except ValueError:
        return ""
    for entry in listed.get("valid") or [] if isinstance(listed, dict) else []:
        if isinstance(entry, dict) and entry.get("Name") == profile:
            cni = str(((entry.get("Config") or {}).get("KubernetesConfig") or {}).get("CNI") or "")
            if cni.lower() in ENFORCING_CNIS:
                return ""
            return (
                f"minikube profile {profile!r} runs the CNI {cni or 'of its default (bridge)'!s}, which does not "
                "enforce NetworkPolicies: every pod can reach every other, the application's database included. "
                f"Start it with one that does: `minikube delete --profile {profile} && minikube start --profile "
                f"{profile} --cni=calico`"
            )
    return ""


def empty_passphrase(environ: Mapping[str, str]) -> bool:
    """Whether Pulumi's passphrase secrets manager gets an empty passphrase: PULUMI_CONFIG_PASSPHRASE wins when
    set (even empty), then PULUMI_CONFIG_PASSPHRASE_FILE's content, trimmed (as pkg/secrets/passphrase reads them)."""
    if "PULUMI_CONFIG_PASSPHRASE" in environ:
        return environ["PULUMI_CONFIG_PASSPHRASE"] == ""
    file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not file:
        return False  # prompted for, or another secrets provider
    try:
        return Path(file).read_text().strip() == ""
    except OSError:
        return False  # the CLI could not have read it either, and stopped first


def passphrase_problem(stack_file: Path, environ: Mapping[str, str]) -> str:
    """Why the stack must not run: its secrets (passphrase provider: the stack file has an `encryptionsalt`) would be
    encrypted with an empty passphrase, which anyone holding the state or the stack file can use. Empty if none."""
    if not empty_passphrase(environ):
        return ""
    try:
        salt = (yaml.safe_load(stack_file.read_text()) or {}).get("encryptionsalt")
    except (OSError, yaml.YAMLError, AttributeError):
        return ""
    if not salt:
        return ""
    return (
        f"{stack_file.name}: this stack's secrets (tokens, a kubeconfig, database passwords) would be encrypted "
        "with an empty passphrase, readable by anyone who has the state or the stack file. Set a passphrase: "
        "`make` and `python -m tools` use .kubeport/passphrase unless you export PULUMI_CONFIG_PASSPHRASE or "
        "PULUMI_CONFIG_PASSPHRASE_FILE; a stack made with the empty one changes with `pulumi stack "
        "change-secrets-provider passphrase` (docs/security.md)"
    )


def check(
    settings: Settings,
    which: Which | None = None,
    environ: Mapping[str, str] | None = None,
    minikube: Minikube = run_minikube,
    stack_file: Path | None = None,
) -> None:
    """Stop the program with one message if the stack's secrets would be sealed with an empty passphrase, or a tool
    or a minikube add-on is missing; warn when minikube's CNI does not enforce the NetworkPolicies kubeport deploys."""
    stack_file = stack_file or Path.cwd() / f"Pulumi.{pulumi.get_stack()}.yaml"
    if problem := passphrase_problem(stack_file, os.environ if environ is None else environ):
        raise pulumi.RunError(problem)
    lines = missing_tools(settings, which, environ)
    if not lines and (which or shutil.which)("minikube") is not None:
        lines = missing_addons(settings, minikube)
    if lines:
        listing = "\n".join(f"  - {line}" for line in lines)
        raise pulumi.RunError(f"kubeport target {settings.target!r} needs what is not installed:\n{listing}")
    if (which or shutil.which)("minikube") is not None and (warning := network_policy_warning(settings, minikube)):
        pulumi.log.warn(warning)
