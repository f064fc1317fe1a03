"""The GitHub workflows, offline: the vendored workflow schema, actionlint (with shellcheck), pinned actions,
timeouts and concurrency.

check-jsonschema validates against the GitHub workflow schema it ships (`--builtin-schema`), so nothing is
downloaded; the run gets an unreachable proxy to make sure of that. A missing check-jsonschema is a failure,
not a skip: it is pinned in requirements-dev.txt.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.app_serving import require
from tests.support.built import built
from tools.stack_files import ROOT, stack_config, stack_names

WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(p for p in WORKFLOW_DIR.glob("*") if p.suffix in (".yml", ".yaml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

# owner/repo[/path]@ref, with ref a full version tag (v1.2.3) or a full commit SHA.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")
# Any proxy request goes to a closed port and fails at once.
NO_NETWORK = {
    key: "http://127.0.0.1:9" for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")
} | {"NO_PROXY": "", "no_proxy": ""}


def load(path: Path) -> dict[Any, Any]:
    workflow = yaml.safe_load(path.read_text())
    assert isinstance(workflow, dict), f"{path.name} is not a mapping"
    return workflow


def uses_of(node: Any) -> Iterator[str]:
    """Every `uses:` value anywhere in a workflow: steps and reusable-workflow jobs."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                yield value
            else:
                yield from uses_of(value)
    elif isinstance(node, list):
        for item in node:
            yield from uses_of(item)


def test_the_workflows_are_there() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"test.yml", "live-kind.yml", "preview-clouds.yml", "deploy-clouds.yml", "deploy-stack.yml"} <= names, names


def test_check_jsonschema_is_installed() -> None:
    assert CHECK_JSONSCHEMA.is_file(), (
        f"{CHECK_JSONSCHEMA} not found: install the dev requirements (check-jsonschema is pinned there)"
    )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(path: Path) -> None:
    assert CHECK_JSONSCHEMA.is_file(), f"{CHECK_JSONSCHEMA} not found: pip install -r requirements-dev.txt"
    done = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | NO_NETWORK,
        check=False,
    )
    assert done.returncode == 0, f"{path.name}:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_version(path: Path) -> None:
    uses = list(uses_of(load(path)))
    assert uses, f"{path.name} uses no action"
    unpinned = [u for u in uses if not u.startswith("./") and not PINNED.match(u)]
    assert not unpinned, (
        f"{path.name}: pin these to a full version tag (@v1.2.3) or a commit SHA, never a branch: {unpinned}"
    )


def test_the_pin_pattern_refuses_branches_and_moving_tags() -> None:
    assert PINNED.match("actions/checkout@v4.2.2")
    assert PINNED.match("actions/checkout@" + "0" * 40)
    assert PINNED.match("github/codeql-action/init@v3.28.0")
    for ref in ("main", "master", "v4", "v4.2", "latest", "0123abc"):
        assert not PINNED.match(f"actions/checkout@{ref}"), ref
    assert not PINNED.match("actions/checkout")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_limits_permissions_time_and_concurrency(path: Path) -> None:
    workflow = load(path)
    assert "permissions" in workflow, f"{path.name}: set top-level permissions (least privilege)"
    assert "concurrency" in workflow, f"{path.name}: set concurrency"
    for name, job in workflow["jobs"].items():
        if "steps" in job:  # a job that calls a reusable workflow takes no timeout-minutes
            assert "timeout-minutes" in job, f"{path.name}: job {name} has no timeout-minutes"


def checks_out(job: dict[str, Any]) -> bool:
    return any(str(step.get("uses", "")).startswith("actions/checkout@") for step in job.get("steps", []))


def test_the_pull_request_preview_runs_its_code_only_as_a_reviewed_read_only_role() -> None:
    """The pull request's code runs with cloud credentials and the state passphrase: the workflow file is the base
    branch's (`pull_request_target`), a fork's run waits for a reviewer (`preview-fork`, and only once the repository
    says it has reviewers), the credentials are the read-only roles', through OIDC, and the job that runs the code
    holds no token that writes to the repository (the comment is another job's, which runs none of it)."""
    workflow = load(WORKFLOW_DIR / "preview-clouds.yml")
    text = (WORKFLOW_DIR / "preview-clouds.yml").read_text()
    assert list(workflow[True]) == ["pull_request_target"], "YAML reads `on` as True"
    jobs = workflow["jobs"]
    running = [name for name, job in jobs.items() if checks_out(job)]
    assert running == ["preview"]
    preview = jobs["preview"]
    assert (
        "'preview-fork'" in preview["environment"]
        and "head.repo.full_name == github.repository" in (preview["environment"])
    )
    assert "vars.PREVIEW_FORKS == 'reviewed'" in preview["if"]
    assert preview["permissions"] == {"contents": "read", "id-token": "write"}
    checkout = next(s for s in preview["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"] == {"ref": "${{ github.event.pull_request.head.sha }}", "persist-credentials": False}
    python = next(s for s in preview["steps"] if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert "cache" not in python.get("with", {}), "no cache a pull request's run could write for the base's"
    for name, job in jobs.items():
        if name != "preview":
            assert not checks_out(job), name
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    for deploying in ("AWS_ROLE_ARN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "secrets.AZURE_CLIENT_ID",
                      "secrets.GCP_SERVICE_ACCOUNT"):  # fmt: skip
        assert deploying not in text, f"{deploying}: a preview signs in as the read-only roles only"


def actionlint() -> Path:
    """actionlint, built from its Go module into the toolchain (`make test-tools`); shellcheck, a Debian package,
    beside it on PATH, so the workflows' `run:` scripts are checked too."""
    require(shutil.which("shellcheck") is not None, "shellcheck not installed; run `make setup`")
    return built("actionlint")


def run_actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(actionlint()), "-no-color", *map(str, paths)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT, env={**os.environ, **NO_NETWORK})  # fmt: skip


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    done = run_actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_refuses_an_injected_expression_and_a_script_error(tmp_path: Path) -> None:
    # Both planted in a copy of a real workflow: a pull request's title expanded into a shell script, and an
    # unquoted variable shellcheck warns about.
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    text = (WORKFLOW_DIR / "test.yml").read_text()
    step = "      - run: echo ${{ github.event.pull_request.title }} && ls $HOME/*\n"
    lines = text.splitlines(keepends=True)
    steps_at = next(i for i, line in enumerate(lines) if line.strip() == "steps:")
    planted = workflows / "test.yml"
    planted.write_text("".join([*lines[: steps_at + 1], step, *lines[steps_at + 1 :]]))
    done = run_actionlint(planted)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "github.event.pull_request.title" in done.stdout and "potentially untrusted" in done.stdout, done.stdout
    assert "shellcheck reported issue" in done.stdout, done.stdout


def deploy_lists() -> tuple[list[str], list[str]]:
    """The cluster stacks and the app stacks deploy-clouds.yml may deploy, from its detection script."""
    script = load(WORKFLOW_DIR / "deploy-clouds.yml")["jobs"]["credentials"]["steps"][0]["run"]
    clusters = re.findall(r"clusters\+=\(([^)]*)\)", script)
    apps = re.findall(r"apps\+=\(([^)]*)\)", script)
    return ([n for group in clusters for n in re.findall(r'"([\w-]+)"', group)],
            [n for group in apps for n in re.findall(r'"([\w-]+)"', group)])  # fmt: skip


def test_the_deploy_covers_every_cloud_stack_clusters_first() -> None:
    clouds = ("eks", "aks", "gke")

    def target(stack: str) -> str:
        config = stack_config(stack)[0]
        if config.get("kubeport:target") == "stackref":
            return target(str(config["kubeport:clusterStack"]).rsplit("/", 1)[-1])
        return str(config.get("kubeport:target"))

    on_clouds = {s for s in stack_names() if target(s) in clouds}
    clusters, apps = deploy_lists()
    assert sorted(clusters + apps) == sorted(on_clouds)
    assert all(stack_config(s)[0].get("kubeport:part") == "cluster" for s in clusters)
    jobs = load(WORKFLOW_DIR / "deploy-clouds.yml")["jobs"]
    assert "clusters" in jobs["apps"]["needs"] and "needs.clusters.result != 'failure'" in jobs["apps"]["if"]


def test_deploys_run_from_main_in_a_reviewed_environment_as_the_deploying_identity() -> None:
    """Only a push to main (or a maintainer's dispatch) deploys; nothing runs until the repository says its
    `deploy-*` environments have reviewers; each stack's job runs in its own environment, signs in through OIDC as
    the deploying identities only, keeps no token in the checkout, and is never cancelled halfway."""
    caller = load(WORKFLOW_DIR / "deploy-clouds.yml")
    assert caller[True] == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    assert caller["concurrency"]["cancel-in-progress"] is False
    assert caller["jobs"]["credentials"]["if"] == "vars.DEPLOY_ENVIRONMENTS == 'reviewed'"
    for name in ("clusters", "apps"):
        job = caller["jobs"][name]
        assert job["uses"] == "./.github/workflows/deploy-stack.yml" and job["with"] == {"stack": "${{ matrix.stack }}"}
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
    called = load(WORKFLOW_DIR / "deploy-stack.yml")
    assert list(called[True]) == ["workflow_call"]
    assert called["concurrency"] == {"group": "deploy-stack-${{ inputs.stack }}", "cancel-in-progress": False}
    (up,) = called["jobs"].values()
    assert up["environment"] == "deploy-${{ inputs.stack }}"
    assert up["permissions"] == {"contents": "read", "id-token": "write"}
    checkout = next(s for s in up["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"] == {"persist-credentials": False}
    text = (WORKFLOW_DIR / "deploy-stack.yml").read_text()
    for secret in ("AWS_DEPLOY_ROLE_ARN", "AZURE_DEPLOY_CLIENT_ID", "GCP_DEPLOY_SERVICE_ACCOUNT"):
        assert f"secrets.{secret}" in text
        assert secret not in (WORKFLOW_DIR / "preview-clouds.yml").read_text(), "previews never deploy"
    for static in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "client-secret", "credentials_json", "PREVIEW"):
        assert static not in text, f"{static}: deploys sign in through OIDC as the deploying identity only"
    assert up["steps"][-1]["run"] == '.venv/bin/python -m tools up "$STACK"'
