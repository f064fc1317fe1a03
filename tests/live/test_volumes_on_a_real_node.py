"""A workload file's `volume`, `redis` and `s3` for real, on the node that runs containers (kubeport-node).

The notebook of tests/apps/notebook (the `notebook` stack): `up` builds it, claims a local volume (StorageClass
kubeport-local) and mounts it where the file says, once whole and once a folder of it read-only. A page written into
the pod survives the pod's deletion and a release by `up` (a StatefulSet of one pod, replaced on a release: never two
pods at once, and `up` ends with the release's pod Ready), the read-only mount refuses a write, the API server
refuses a pod of no declaring workload that mounts the claim, and the next `preview` shows no change. `destroy`
removes the claim; the class keeps the folder (Retain).

Its cache (a `redis` resource, kubeport's in-cluster Redis from the stand-in image): the notes pod sets and gets a
key over TLS it verifies against the bundle the file's `cacert` names, as its own user; a wrong password and the
`default` user are refused by the server; and a pod of no declaring workload, let out by a NetworkPolicy of the
test's own, cannot even open a connection to the cache's pod: the cache's NetworkPolicy drops it.

Its bucket (an `s3` resource, kubeport's in-cluster versitygw from the stand-in image): the notes pod puts an
object and reads it back over HTTPS it verifies, with nothing but the file's endpoint and bucket and the AWS SDKs'
variables kubeport gives it; the object is still there after the store's pod is deleted and replaced; a wrong
secret key is refused by the store; and an outsider pod cannot open a connection to the store's pod.
Everything is in one test, whose `finally` removes the test's own objects and destroys the stack.
"""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

import pytest

from tests.support.live import ok
from tests.support.realnode import NODE, set_up_application, write_timing
from tools.localcluster.realrun import Workbench
from tools.stack_files import ROOT

pytestmark = pytest.mark.live

STACK = "notebook"
POD = "notes-0"
NAMESPACE = "notebook"
APPS = ROOT / "tests" / "apps"
WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
READ = (
    "import sys, urllib.request\n"
    "print(urllib.request.urlopen('http://127.0.0.1:8080/' + sys.argv[1], timeout=5).read().decode(), end='')\n"
)


CACHE = (
    "import os, sys, redis\n"
    "user, password = os.environ['CACHE_USER'], os.environ['CACHE_PASSWORD']\n"
    "if sys.argv[1] == 'wrong-password': password = password + 'x'\n"
    "if sys.argv[1] == 'default-user': user, password = None, None\n"
    "r = redis.Redis(host=os.environ['CACHE_HOST'], port=int(os.environ['CACHE_PORT']), username=user,\n"
    "                password=password, ssl=True, ssl_ca_certs=os.environ['CACHE_CA'], ssl_cert_reqs='required',\n"
    "                ssl_check_hostname=True, socket_timeout=5, socket_connect_timeout=5)\n"
    "try:\n"
    "    if sys.argv[1] == 'set': print(r.set(sys.argv[2], sys.argv[3]), end='')\n"
    "    elif sys.argv[1] == 'get': print(r.get(sys.argv[2]).decode(), end='')\n"
    "    else: print(r.ping(), end='')\n"
    "except redis.exceptions.RedisError as err:\n"
    "    print(type(err).__name__, err, end='')\n"
)
"""The notes container's Redis client (redis-py, in the image), with the file's variables; TLS verified by name."""
STORE = (
    "import os, sys, boto3, botocore.config, botocore.exceptions\n"
    "keys = {}\n"
    "if sys.argv[1] == 'wrong-secret':\n"
    "    keys = {'aws_access_key_id': os.environ['AWS_ACCESS_KEY_ID'],\n"
    "            'aws_secret_access_key': os.environ['AWS_SECRET_ACCESS_KEY'] + 'x'}\n"
    "config = botocore.config.Config(s3={'addressing_style': 'path'}, connect_timeout=5, read_timeout=10,\n"
    "                                retries={'max_attempts': 2})\n"
    "s3 = boto3.client('s3', endpoint_url=os.environ['S3_ENDPOINT'], config=config, **keys)\n"
    "bucket = os.environ['S3_BUCKET']\n"
    "try:\n"
    "    if sys.argv[1] == 'put':\n"
    "        put = s3.put_object(Bucket=bucket, Key=sys.argv[2], Body=sys.argv[3].encode())\n"
    "        print(put['ResponseMetadata']['HTTPStatusCode'], end='')\n"
    "    elif sys.argv[1] == 'get':\n"
    "        print(s3.get_object(Bucket=bucket, Key=sys.argv[2])['Body'].read().decode(), end='')\n"
    "    else:\n"
    "        print(s3.list_objects_v2(Bucket=bucket)['KeyCount'], end='')\n"
    "except botocore.exceptions.ClientError as err:\n"
    "    print(err.response['Error']['Code'], end='')\n"
    "except botocore.exceptions.BotoCoreError as err:\n"
    "    print(type(err).__name__, err, end='')\n"
)
"""The notes container's S3 client (boto3, in the image): the endpoint and bucket from the file's variables, the
region, the CA bundle and the key pair from the AWS SDKs' own variables that kubeport gives it; TLS verified."""
CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n"
    "    print('connected')\n"
    "except OSError as err:\n"
    "    print('no connection:', type(err).__name__)\n"
)
OUTSIDER_EGRESS = json.dumps({
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "outsider-egress", "namespace": NAMESPACE},
    "spec": {"podSelector": {"matchLabels": {"kubeport-test": "outsider"}}, "policyTypes": ["Egress"],
             "egress": [{}]},
})  # fmt: skip
"""Lets the test's outsider pods out, so that only the cache's and the store's own NetworkPolicies can stop them."""


def kubectl(bench: Workbench, *args: str, timeout: float = 60) -> str:
    return ok(bench.kubectl(NODE, "-n", NAMESPACE, *args, timeout=timeout)).stdout


def in_pod(bench: Workbench, script: str, *args: str) -> str:
    return kubectl(bench, "exec", POD, "--", "python3", "-c", script, *args)


def pods(bench: Workbench) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        kubectl(bench, "get", "pods", "-l", "app.kubernetes.io/name=notes", "-o", "json")
    )["items"]
    return found


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def only_pod(bench: Workbench) -> str:
    """The uid of the workload's one pod, Ready; never two pods at once."""
    (pod,) = pods(bench)
    assert pod["metadata"]["name"] == POD and ready(pod), pod["status"]
    return str(pod["metadata"]["uid"])


def replaced(bench: Workbench, before: str) -> str:
    """Waits (bounded) for a Ready pod other than the one of uid `before`, never seeing two at once; its uid."""
    deadline = time.monotonic() + 120
    while True:
        found = pods(bench)
        assert len(found) <= 1, [p["metadata"]["uid"] for p in found]
        if found and found[0]["metadata"]["uid"] != before and ready(found[0]):
            return str(found[0]["metadata"]["uid"])
        assert time.monotonic() < deadline, f"no Ready pod replaced {before} in 120 s"
        time.sleep(0.5)


def hardened_pod(
    name: str, labels: dict[str, str], image: str, command: list[str], pod: dict[str, Any], container: dict[str, Any]
) -> str:
    """A pod no workload file declares, hardened as the namespace's Pod Security requires (so that only the check
    under test can stop it), with `pod`'s and `container`'s fields added."""
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            **pod,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "main", "image": image, "command": command,
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                **container,
            }],
        },
    })  # fmt: skip


def intruder(image: str, labels: dict[str, str]) -> str:
    """A pod no workload file declares as the volume's user, mounting the notebook's claim."""
    return hardened_pod(
        "intruder", labels, image, ["python3", "-c", "print(open('/x/page.txt').read())"],
        pod={"volumes": [{"name": "pages", "persistentVolumeClaim": {"claimName": "notes-pages"}}]},
        container={"volumeMounts": [{"name": "pages", "mountPath": "/x"}]},
    )  # fmt: skip


def outsider(name: str, image: str, address: str, port: int, pull: list[dict[str, str]]) -> str:
    """A pod no workload file declares as a caller, that tries to open a connection to `address`:`port` (the pod
    of the cache or of the store)."""
    return hardened_pod(
        name, {"kubeport-test": "outsider"}, image, ["python3", "-c", CONNECT, address, str(port)],
        pod={"restartPolicy": "Never", "imagePullSecrets": pull},
        container={"resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}},
    )  # fmt: skip


def outsider_says(bench: Workbench, server: str, port: int, pod: dict[str, Any]) -> str:
    """What an outsider pod printed (bounded: 90 s) after trying to open a connection to the pod of `server` (its
    `app.kubernetes.io/instance`) on `port`; `pod` is the notes pod's spec, for its image and pull Secret."""
    address = kubectl(bench, "get", "pods", "-l", f"app.kubernetes.io/instance={server}", "-o",
                      "jsonpath={.items[0].status.podIP}")  # fmt: skip
    name = f"outsider-{server}"
    image, pull = pod["containers"][0]["image"], pod.get("imagePullSecrets", [])
    ok(bench.kubectl(NODE, "apply", "-f", "-", input_text=OUTSIDER_EGRESS))
    ok(bench.kubectl(NODE, "create", "-f", "-", input_text=outsider(name, image, address, port, pull)))
    deadline = time.monotonic() + 90
    while True:
        phase = kubectl(bench, "get", "pod", name, "-o", "jsonpath={.status.phase}")
        if phase in ("Succeeded", "Failed"):
            return kubectl(bench, "logs", name).strip()
        assert time.monotonic() < deadline, f"the outsider pod is still {phase!r} after 90 s"
        time.sleep(1)


def check_the_cache(bench: Workbench, pod: dict[str, Any]) -> None:
    """The notes pod uses its cache; nobody else gets in."""
    assert in_pod(bench, CACHE, "set", "greeting", "hello from notes") == "True"
    assert in_pod(bench, CACHE, "get", "greeting") == "hello from notes"
    # The server refuses a wrong password, and anyone who does not sign in (its `default` user is off).
    wrong = in_pod(bench, CACHE, "wrong-password")
    assert "WRONGPASS" in wrong, wrong
    anonymous = in_pod(bench, CACHE, "default-user")
    assert "NOAUTH" in anonymous or "Authentication required" in anonymous, anonymous
    said = outsider_says(bench, "notes-cache", 6379, pod)
    assert said.startswith("no connection"), f"a pod no file declares reached the cache: {said}"


def check_the_store(bench: Workbench, pod: dict[str, Any]) -> None:
    """The notes pod puts an object and reads it back through the SDK's variables alone; the object outlives the
    store's pod; a wrong secret key is refused; nobody else gets in."""
    assert in_store(bench, "put", "notes/first.txt", "kept in the bucket") == "200"
    assert in_store(bench, "get", "notes/first.txt") == "kept in the bucket"
    assert in_store(bench, "wrong-secret") == "SignatureDoesNotMatch"
    store = json.loads(kubectl(bench, "get", "pod", "notes-files-0", "-o", "json"))["metadata"]["uid"]
    kubectl(bench, "delete", "pod", "notes-files-0", "--wait=true", timeout=120)
    deadline = time.monotonic() + 120
    while True:
        found = bench.kubectl(NODE, "-n", NAMESPACE, "get", "pod", "notes-files-0", "-o", "json")
        again = json.loads(found.stdout) if found.code == 0 else None
        if again is not None and again["metadata"]["uid"] != store and ready(again):
            break
        assert time.monotonic() < deadline, "the store's pod was not replaced and Ready in 120 s"
        time.sleep(1)
    assert in_store(bench, "get", "notes/first.txt") == "kept in the bucket", "the object is on the store's volume"
    said = outsider_says(bench, "notes-files", 7070, pod)
    assert said.startswith("no connection"), f"a pod no file declares reached the store: {said}"


def in_store(bench: Workbench, *args: str) -> str:
    """The notes container's S3 client, bounded (a few tries: the store's Service may be settling after a restart)."""
    said = ""
    for _ in range(5):
        said = in_pod(bench, STORE, *args)
        if not said.startswith(("EndpointConnectionError", "ConnectTimeoutError")):
            return said
        time.sleep(2)
    return said


def remove_outsider(bench: Workbench) -> None:
    bench.kubectl(NODE, "-n", NAMESPACE, "delete", "pod/outsider-notes-cache", "pod/outsider-notes-files",
                  "networkpolicy/outsider-egress", "--ignore-not-found", "--wait=false")  # fmt: skip


def test_a_volume_keeps_its_files_across_a_restart_and_a_release(bench: Workbench) -> None:
    for app in ("notebook", "library"):
        shutil.copytree(
            APPS / app, bench.project / "tests" / "apps" / app, ignore=shutil.ignore_patterns("__pycache__")
        )
    set_up_application(bench, STACK, like=STACK)
    try:
        done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=900)
        assert done.code == 0, done.describe()
        write_timing("notebook up (built, pushed, its volume claimed and mounted)", done.seconds)
        claim = json.loads(kubectl(bench, "get", "pvc", "notes-pages", "-o", "json"))
        assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "kubeport-local"
        owner = json.loads(kubectl(bench, "get", "statefulset", "notes", "-o", "json"))["spec"]
        assert owner["replicas"] == 1 and owner["template"]["spec"]["volumes"][-1]["persistentVolumeClaim"] == {
            "claimName": "notes-pages"
        }
        first = only_pod(bench)
        started = time.monotonic()
        check_the_cache(bench, owner["template"]["spec"])
        write_timing(
            "notebook's cache used over TLS, a wrong password and an outsider refused", time.monotonic() - started
        )
        started = time.monotonic()
        check_the_store(bench, owner["template"]["spec"])
        write_timing(
            "notebook's bucket: an object put and read back over HTTPS, kept across the store's restart, a wrong key "
            "and an outsider refused",
            time.monotonic() - started,
        )
        in_pod(bench, "import os; os.makedirs('/var/lib/notes/published', exist_ok=True)")
        in_pod(bench, WRITE, "/var/lib/notes/published/page.txt", "written before the restart")
        assert in_pod(bench, READ, "published/page.txt") == "written before the restart"
        # The read-only mount shows the same folder and refuses a write.
        assert in_pod(bench, "print(open('/srv/published/page.txt').read(), end='')") == "written before the restart"
        refused = bench.kubectl(NODE, "-n", NAMESPACE, "exec", POD, "--", "python3", "-c", WRITE,
                                "/srv/published/other.txt", "x")  # fmt: skip
        assert refused.code != 0 and "Read-only file system" in refused.stdout + refused.stderr, refused.describe()

        # The API server admits no other pod mounting the claim: not one of another workload, nor one that copies
        # only the application's label; and creating it changes nothing.
        image = owner["template"]["spec"]["containers"][0]["image"]
        for labels in ({"app.kubernetes.io/name": "other"}, {"app.kubernetes.io/part-of": "notebook"}):
            made = bench.kubectl(NODE, "create", "-f", "-", input_text=intruder(image, labels))
            said = made.stdout + made.stderr
            assert made.code != 0 and "only the pods of notes may mount the volume notes-pages" in said, made.describe()
        assert [p["metadata"]["uid"] for p in pods(bench)] == [first]

        started = time.monotonic()
        kubectl(bench, "delete", "pod", POD, "--wait=false", timeout=120)
        second = replaced(bench, first)
        write_timing("volume's pod deleted, replaced and Ready again", time.monotonic() - started)
        assert in_pod(bench, READ, "published/page.txt") == "written before the restart", "the file is on the volume"

        # A release through `up` (the file changed: a new pod template) replaces the pod, which finds the same files.
        in_pod(bench, WRITE, "/var/lib/notes/published/page.txt", "written before the release")
        file = bench.project / "tests" / "apps" / "notebook" / "notes.score.yaml"
        file.write_text(file.read_text().replace("    variables:\n", '    variables:\n      RELEASE: "2"\n'))
        started = time.monotonic()
        done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=600)
        assert done.code == 0, done.describe()
        write_timing("notebook release by up (the pod stopped, its replacement Ready)", time.monotonic() - started)
        # `up` ends when the release's pod is Ready: the one pod is the new one.
        assert only_pod(bench) != second
        assert in_pod(bench, READ, "published/page.txt") == "written before the release"
        again = bench.pulumi("preview", "--expect-no-changes", "--stack", STACK, timeout=600)
        assert again.code == 0, again.describe()
    finally:
        remove_outsider(bench)
        destroyed = bench.pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK, timeout=600)
    assert destroyed.code == 0, destroyed.describe()
    gone = bench.kubectl(NODE, "-n", NAMESPACE, "get", "pvc", "notes-pages")
    assert gone.code != 0 or "Terminating" in gone.stdout, gone.stdout
