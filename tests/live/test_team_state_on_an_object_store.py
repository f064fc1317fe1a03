"""Shared state on an object store, for real: a team's backend (tools/localcluster/objectstore.py: versitygw on
127.0.0.1 over TLS, with credentials of its own) holding a cluster stack and an app stack on `kubeport-a`, and what
its lock files do when two updates race or one is killed.

- The stacks go up, preview and are read (StackReference, `python -m tools preview`) through `s3://` alone, and a
  teammate's checkout (a second scratch project on the same backend) previews them with no diff.
- Two `up` of one stack: the one started while the other holds the lock stops with Pulumi's lock message, naming
  the holder; started together, never both run. The state afterwards exports whole, and matches the cluster.
- An `up` killed with SIGKILL leaves its lock: the next `up` names it (and the dead pid); `pulumi cancel` clears it
  (on a DIY backend it deletes the stack's lock files, and stops nothing), and nothing of the state is lost: every
  object the store listed before is still there, and the checkpoint holds every resource it held.
- `python -m tools rollback` reads the stack's history from the bucket and returns to the release before.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.live import A, B, eventually, namespace_gone, ok, workload_is_serving
from tools import processes
from tools.localcluster import keyservice, realrun
from tools.localcluster.objectstore import ObjectStore, running
from tools.localcluster.realrun import Workbench
from tools.processes import Done
from tools.stack_files import ROOT

pytestmark = pytest.mark.live

CLUSTER, CLUSTER_B = "team-cluster", "team-cluster-b"
APP, APP_B = "team-shop", "team-shop-b"
"""A cluster stack on kubeport-a and one on kubeport-b; the app stack on the first, and its copy on the second,
which `migrate` moves it to."""
NAMESPACE = "team"
LOCKED = "the stack is currently locked by 1 lock(s)"
STATE = ".pulumi/stacks/kubeport/"
"""Where the DIY backend keeps the project's checkpoints (`<stack>.json`) in the bucket."""


@pytest.fixture(scope="module")
def store(bench: Workbench) -> Iterator[ObjectStore]:
    with realrun.scratch("kubeport-store-") as home, running(home, bench.tools.tool("versitygw")) as started:
        yield started


def pulumi(bench: Workbench, store: ObjectStore, *args: str, timeout: float = 600) -> Done:
    """`pulumi ARGS` on the object store's backend."""
    return bench.pulumi(*args, timeout=timeout, env=store.environment())


def tools_cli(bench: Workbench, store: ObjectStore, *args: str) -> Done:
    """`python -m tools ARGS` (the Automation API) on the object store's backend: what the CI workflows run."""
    return bench.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "tools", *args], 900, env=store.environment())


@pytest.fixture(scope="module")
def stacks(bench: Workbench, store: ObjectStore) -> Iterator[None]:
    for cluster, like, app in ((CLUSTER, "cluster-a", APP), (CLUSTER_B, "cluster-b", APP_B)):
        bench.add_stack_file(cluster, like=like)
        bench.add_stack_file(
            app,
            {"clusterStack": f"organization/kubeport/{cluster}", "namespace": NAMESPACE, "nodePort": "30025"},
            like="shop",
        )
    try:
        for stack in (CLUSTER, CLUSTER_B, APP):
            ok(pulumi(bench, store, "stack", "init", stack))
        for stack in (CLUSTER, CLUSTER_B):
            ok(pulumi(bench, store, "up", "--yes", "--skip-preview", "--stack", stack))
        # The app stack's first up as deploy-clouds.yml runs it.
        ok(tools_cli(bench, store, "up", APP))
        yield
    finally:
        for stack in (APP_B, APP, CLUSTER_B, CLUSTER):
            pulumi(bench, store, "cancel", "--yes", "--stack", stack, timeout=60)
            pulumi(bench, store, "destroy", "--yes", "--stack", stack)
            pulumi(bench, store, "stack", "rm", "--yes", stack, timeout=60)


def checkpoint(bench: Workbench, store: ObjectStore, stack: str) -> dict[str, Any]:
    deployment: dict[str, Any] = json.loads(ok(pulumi(bench, store, "stack", "export", "--stack", stack)).stdout)
    return deployment


def whole(bench: Workbench, store: ObjectStore, replicas: int) -> None:
    """No lock left; the checkpoint exports with no pending operation; the next preview changes nothing; the
    cluster runs what it says."""
    assert store.locks() == []
    exported = checkpoint(bench, store, APP)["deployment"]
    assert not exported.get("pending_operations"), exported.get("pending_operations")
    ok(pulumi(bench, store, "preview", "--expect-no-changes", "--stack", APP))
    workload_is_serving(bench, A, replicas=replicas, namespace=NAMESPACE)


def set_replicas(bench: Workbench, store: ObjectStore, replicas: int) -> None:
    ok(pulumi(bench, store, "config", "set", "kubeport:replicas", str(replicas), "--stack", APP, timeout=60))


def test_the_stacks_live_on_the_object_store_alone(bench: Workbench, store: ObjectStore, stacks: None) -> None:
    keys = store.keys()
    assert f"{STATE}{CLUSTER}.json" in keys and f"{STATE}{APP}.json" in keys, keys
    assert not any(bench.state.rglob("*.json")), "nothing in the file backend"
    # The app stack read the cluster stack's outputs from the store (StackReference), and serves.
    workload_is_serving(bench, A, replicas=2, namespace=NAMESPACE)
    outputs = json.loads(ok(pulumi(bench, store, "stack", "output", "--json", "--stack", APP)).stdout)
    assert outputs["clusterStack"] == f"organization/kubeport/{CLUSTER}"
    # python -m tools works on the same backend (the Automation API reads PULUMI_BACKEND_URL), as
    # preview-clouds.yml runs it.
    done = ok(tools_cli(bench, store, "preview", APP))
    assert "error" not in done.stdout.lower(), done.stdout


def test_a_teammates_checkout_previews_no_diff_and_reads_the_outputs(
    bench: Workbench, store: ObjectStore, stacks: None
) -> None:
    with realrun.scratch("kubeport-teammate-") as base:
        teammate = Workbench(base, tools=bench.tools, kubeconfig=bench.kubeconfig)
        for stack in (CLUSTER, APP):
            # Their own checkout: the stack files as committed, nothing of the first checkout's state.
            (teammate.project / f"Pulumi.{stack}.yaml").write_text((bench.project / f"Pulumi.{stack}.yaml").read_text())
            ok(teammate.pulumi("preview", "--expect-no-changes", "--stack", stack, env=store.environment()))
        mine = ok(pulumi(bench, store, "stack", "output", "--json", "--stack", APP)).stdout
        theirs = ok(teammate.pulumi("stack", "output", "--json", "--stack", APP, env=store.environment())).stdout
        assert json.loads(theirs) == json.loads(mine)


def wait_for_lock(store: ObjectStore, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if locks := store.locks():
            return locks[0]
        time.sleep(0.2)
    raise AssertionError(f"no lock file in the store within {timeout:.0f} s")


def test_an_up_started_while_another_holds_the_lock_stops_naming_it(
    bench: Workbench, store: ObjectStore, stacks: None
) -> None:
    set_replicas(bench, store, 3)
    # The first update is held still (SIGSTOP) once its lock is in the store, as a slow update would be: the second
    # one meets the lock however fast the first would have ended.
    first = subprocess.Popen(
        [str(bench.tools.tool("pulumi")), "up", "--yes", "--skip-preview", "--stack", APP, "--non-interactive"],
        cwd=bench.project, env={**bench.env, **store.environment()}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        held = wait_for_lock(store)
        os.killpg(first.pid, signal.SIGSTOP)
        second = pulumi(bench, store, "up", "--yes", "--skip-preview", "--stack", APP)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGCONT)
        first_said, _ = first.communicate(timeout=600)
    assert first.returncode == 0, first_said
    said = second.stdout + second.stderr
    assert second.code != 0 and LOCKED in said, said
    assert held.rsplit("/", 1)[1] in said and f"(pid {first.pid})" in said, said
    assert re.search(r"created by \S+@\S+ \(pid \d+\)", said) and "Traceback" not in said, said
    whole(bench, store, replicas=3)


def test_two_ups_started_together_never_both_run(bench: Workbench, store: ObjectStore, stacks: None) -> None:
    set_replicas(bench, store, 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(pulumi, bench, store, "up", "--yes", "--skip-preview", "--stack", APP) for _ in "ab"]
        done = [r.result() for r in runs]
    succeeded = [d for d in done if d.code == 0]
    assert len(succeeded) <= 1, "both updates ran at once"
    for refused in (d for d in done if d.code != 0):
        assert LOCKED in refused.stdout + refused.stderr, refused.describe()
    if not succeeded:
        # Each saw the other's lock after writing its own (the DIY lock's second look): both stopped; run it again.
        ok(pulumi(bench, store, "up", "--yes", "--skip-preview", "--stack", APP))
    whole(bench, store, replicas=2)


def in_flight(store: ObjectStore) -> list[dict[str, Any]]:
    """The pending operations of the app stack's checkpoint as stored now: the engine writes an operation there
    before it starts it, and takes it out when it ends."""
    body = store.client.get_object(Bucket=store.bucket, Key=f"{STATE}{APP}.json")["Body"].read()
    pending: list[dict[str, Any]] = json.loads(body)["checkpoint"]["latest"].get("pending_operations") or []
    return pending


def test_an_up_killed_halfway_leaves_a_lock_the_next_run_names_and_cancel_clears(
    bench: Workbench, store: ObjectStore, stacks: None
) -> None:
    before = set(store.keys(".pulumi/"))
    resources_before = {r["urn"] for r in checkpoint(bench, store, APP)["deployment"]["resources"]}
    set_replicas(bench, store, 4)
    command = [str(bench.tools.tool("pulumi")), "up", "--yes", "--skip-preview", "--stack", APP, "--non-interactive"]
    killed = subprocess.Popen(command, cwd=bench.project, env={**bench.env, **store.environment()},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        wait_for_lock(store)
        # Halfway: the checkpoint records an operation in flight (the Deployment's update, awaiting its rollout).
        deadline = time.monotonic() + 120
        while not in_flight(store):
            assert killed.poll() is None, "the update ended before an operation was seen in flight"
            assert time.monotonic() < deadline, "no operation in flight within 120 s"
            time.sleep(0.1)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        if killed.poll() is None:
            processes.kill_now(killed.pid)
    assert not processes.alive(killed.pid)
    (stale,) = store.locks()
    next_up = pulumi(bench, store, "up", "--yes", "--skip-preview", "--stack", APP)
    said = next_up.stdout + next_up.stderr
    assert next_up.code != 0 and LOCKED in said and f"(pid {killed.pid})" in said, said
    assert stale.rsplit("/", 1)[1] in said
    # The recovery docs/teams.md gives: the holder is gone, so its lock goes; the refresh settles what the killed
    # update left pending; the update runs again.
    ok(pulumi(bench, store, "cancel", "--yes", "--stack", APP, timeout=60))
    assert store.locks() == []
    ok(pulumi(bench, store, "refresh", "--yes", "--clear-pending-creates", "--stack", APP))
    ok(pulumi(bench, store, "up", "--yes", "--skip-preview", "--stack", APP))
    whole(bench, store, replicas=4)
    gone = sorted(before - set(store.keys(".pulumi/")) - {stale})
    assert gone == [], f"objects the store held before the killed update and no longer does: {gone}"
    resources_after = {r["urn"] for r in checkpoint(bench, store, APP)["deployment"]["resources"]}
    assert resources_before <= resources_after, sorted(resources_before - resources_after)


def test_rollback_reads_the_history_from_the_store_and_returns_to_the_release_before(
    bench: Workbench, store: ObjectStore, stacks: None
) -> None:
    """`python -m tools rollback` with the bucket as backend: every update's record (the CLI's) is paired with the
    checkpoint it left in the bucket, read through the S3 API, and the stack returns to the release before (the
    one with 2 replicas; the running one has 4), building nothing."""
    records = json.loads(ok(pulumi(bench, store, "stack", "history", "--json", "--page-size", "1000",
                                   "--stack", APP)).stdout)  # fmt: skip
    listed = ok(tools_cli(bench, store, "rollback", "--stack", APP, "--list")).stdout.splitlines()
    assert len(listed) == len(records) >= 4, listed
    (image,) = [r["outputs"]["image"] for r in checkpoint(bench, store, APP)["deployment"]["resources"]
                if r["type"] == "pulumi:pulumi:Stack"]  # fmt: skip
    releases = [line for line in listed if " update " in line and " succeeded " in line]
    assert releases and all(line.split()[5] == image for line in releases), listed
    assert sum(line.endswith("<- default") for line in listed) == 1, listed
    done = ok(tools_cli(bench, store, "rollback", "--stack", APP, "--yes"))
    assert "kubeport:replicas: 4 -> " in done.stdout and "runs update" in done.stdout, done.stdout
    whole(bench, store, replicas=2)


def test_migrate_moves_the_app_to_the_other_cluster_stack_on_the_same_backend(
    bench: Workbench, store: ObjectStore, stacks: None
) -> None:
    done = ok(tools_cli(bench, store, "migrate", "--from", APP, "--to", APP_B, "--destroy-source", "--yes"))
    assert f"{APP} destroyed; {APP_B} is serving" in done.stdout, done.stdout
    workload_is_serving(bench, B, replicas=2, namespace=NAMESPACE)  # its stack file's count
    eventually("kubeport-a without the team's namespace", lambda: namespace_gone(bench, A, NAMESPACE))
    assert f"{STATE}{APP_B}.json" in store.keys(STATE) and store.locks() == []


SECRETS_STACK = "team-secrets"
TOKEN = "a-token-only-the-key-service-unlocks"


def without_passphrase(bench: Workbench, store: ObjectStore, *args: str) -> Done:
    """`pulumi ARGS` on the object store with no PULUMI_CONFIG_PASSPHRASE at all: a stack whose secrets are the key
    service's needs none."""
    env = {k: v for k, v in {**bench.env, **store.environment()}.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    command = [str(bench.tools.tool("pulumi")), *args, "--non-interactive"]
    return processes.run(command, timeout=600, env=env, cwd=bench.project)


def test_a_stacks_secrets_move_to_the_key_service_and_are_unreadable_with_its_key_disabled(
    bench: Workbench, store: ObjectStore, stacks: None
) -> None:
    with realrun.scratch("kubeport-kms-") as home, keyservice.running(home, bench.tools.tool("local-kms")) as kms:
        bench.add_stack_file(SECRETS_STACK, like="cluster-a")
        try:
            ok(pulumi(bench, store, "stack", "init", SECRETS_STACK))
            ok(bench.pulumi("config", "set", "--secret", "team:token", "--stack", SECRETS_STACK, input_text=TOKEN,
                            env=store.environment()))  # fmt: skip
            ok(pulumi(bench, store, "up", "--yes", "--skip-preview", "--stack", SECRETS_STACK))
            # An existing stack changes provider (docs/teams.md): its secrets re-encrypted under the key service.
            provider = kms.secrets_provider()
            ok(pulumi(bench, store, "stack", "change-secrets-provider", provider, "--stack", SECRETS_STACK))
            stack_file = yaml.safe_load((bench.project / f"Pulumi.{SECRETS_STACK}.yaml").read_text())
            assert stack_file["secretsprovider"] == provider and stack_file["encryptedkey"]
            assert "encryptionsalt" not in stack_file, "no passphrase is involved any more"
            said = ok(without_passphrase(bench, store, "config", "get", "team:token", "--stack", SECRETS_STACK))
            assert said.stdout.strip() == TOKEN
            ok(without_passphrase(bench, store, "up", "--yes", "--skip-preview", "--stack", SECRETS_STACK))
            ok(without_passphrase(bench, store, "preview", "--expect-no-changes", "--stack", SECRETS_STACK))
            exported = json.loads(
                ok(without_passphrase(bench, store, "stack", "export", "--stack", SECRETS_STACK)).stdout
            )
            secrets = exported["deployment"]["secrets_providers"]
            assert secrets["type"] == "cloud" and secrets["state"]["url"] == provider
            assert secrets["state"]["encryptedkey"] == stack_file["encryptedkey"]
            kubeconfig = ok(without_passphrase(bench, store, "stack", "output", "kubeconfig", "--show-secrets",
                                               "--stack", SECRETS_STACK)).stdout  # fmt: skip
            assert "clusters:" in kubeconfig and "clusters:" not in json.dumps(exported), "outputs kept as ciphertext"
            kms.disable()
            for args in (("config", "get", "team:token"), ("stack", "output", "kubeconfig", "--show-secrets")):
                refused = without_passphrase(bench, store, *args, "--stack", SECRETS_STACK)
                text = refused.stdout + refused.stderr
                assert refused.code != 0 and TOKEN not in text and "clusters:" not in text, text
                assert "Traceback" not in text
        finally:
            kms.enable()
            pulumi(bench, store, "destroy", "--yes", "--stack", SECRETS_STACK)
            pulumi(bench, store, "stack", "rm", "--yes", SECRETS_STACK, timeout=60)


def test_destroying_the_stacks_leaves_their_history_and_nothing_in_the_cluster(
    bench: Workbench, store: ObjectStore, stacks: None
) -> None:
    for stack in (APP_B, CLUSTER_B, CLUSTER):
        ok(pulumi(bench, store, "destroy", "--yes", "--stack", stack))
        assert not [r for r in checkpoint(bench, store, stack)["deployment"].get("resources") or []
                    if r["type"].startswith("kubernetes:") and "providers" not in r["type"]]  # fmt: skip
    eventually("kubeport-b without the team's namespace", lambda: namespace_gone(bench, B, NAMESPACE))
    history = [k for k in store.keys(".pulumi/history/kubeport/") if Path(k).parent.name == APP]
    assert history, "each update's history stays in the store"
