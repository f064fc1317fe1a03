"""What a workload file may hold, declared once: every field kubeport reads (where, whether required, what it means),
every resource type (its params and outputs), and the fields it refuses by name. The parser
(stacks/application/parse.py) checks files against these tables, and `python -m tools gen-config` writes
docs/application.md's tables from them, so the two never disagree. Plain data: nothing here reads a file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    """One field of a mapping in a workload file."""

    required: bool
    meaning: str


@dataclass(frozen=True)
class ResourceType:
    """A `resources.<name>.type`: what it is, its params and the outputs placeholders read."""

    meaning: str
    outputs: Mapping[str, str]
    """Output name -> what it holds."""
    params: Mapping[str, Field] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    """Outputs that are credentials: a variable holding one is read from a Kubernetes Secret, never inlined."""


def req(meaning: str) -> Field:
    return Field(True, meaning)


def opt(meaning: str) -> Field:
    return Field(False, meaning)


FIELDS: Mapping[str, Mapping[str, Field]] = {
    "": {
        "apiVersion": req("`score.dev/v1b1`"),
        "metadata": req("the workload's name and annotations"),
        "containers": req("the workload's containers, by name"),
        "service": opt("its ports; a file without `service` (or without ports) is a worker: no Service, no exposure"),
        "resources": opt("what the workload needs or calls, by name, each with a `type` (the types below)"),
    },
    "metadata": {
        "name": req("a DNS-1123 label, the same as the file's name `<name>.score.yaml`"),
        "annotations": opt(
            "of which kubeport reads `kubeport.dev/build`: the folder, relative to the file, whose Dockerfile builds "
            "`image: .`; inside the project and not the project itself (symbolic links followed)"
        ),
    },
    "containers.<name>": {
        "image": req("`.` (built from the build folder), or a reference pinned by tag or digest, never `latest`"),
        "command": opt("a list of strings"),
        "args": opt("a list of strings"),
        "variables": opt(
            "strings (quote numbers), with placeholders; a credential output only as a variable's whole value"
        ),
        "files": opt(
            "a mapping of absolute target paths to files (or the older list of files, each with its `target`); "
            "one file per target"
        ),
        "volumes": opt(
            "a mapping of absolute mount paths to volumes (or the older list of volumes, each with its `target`): "
            "each the `source` `${resources.<name>}` of a `volume` resource of the file"
        ),
        "livenessProbe": opt("`httpGet` only"),
        "readinessProbe": opt("`httpGet` only"),
        "resources": opt("`requests` and `limits`, each of `cpu` and `memory`"),
    },
    "containers.<name>.files.<target>": {
        "target": req("the absolute path (in the list form only: the mapping's key is the target)"),
        "content": req(
            "the file's text, with placeholders; it goes into a ConfigMap, so a credential output is refused there"
        ),
        "mode": opt("a quoted octal string such as `'0644'` (unquoted, YAML reads 0644 as 420); default `'0444'`"),
        "noExpand": opt("`true`: placeholders left as written"),
    },
    "containers.<name>.volumes.<target>": {
        "target": req("the absolute mount path (in the list form only: the mapping's key is the target); not /tmp"),
        "source": req("`${resources.<name>}`: a `volume` resource of this file"),
        "path": opt("a folder inside the volume, relative, mounted instead of its root"),
        "readOnly": opt("`true`: mounted read-only"),
    },
    "containers.<name>.livenessProbe|readinessProbe": {
        "httpGet": req("an HTTP GET the kubelet sends"),
    },
    "containers.<name>.*Probe.httpGet": {
        "path": req("the request's path"),
        "port": req("a port of the container"),
        "scheme": opt("`HTTP` only"),
    },
    "containers.<name>.resources.requests|limits": {
        "cpu": opt("a Kubernetes quantity (`250m`, `1`)"),
        "memory": opt("a Kubernetes quantity (`64Mi`, `1Gi`)"),
    },
    "service.ports.<name>": {
        "port": req("the Service's port, 1-65535"),
        "targetPort": opt("the container's port; default `port`"),
        "protocol": opt("`TCP` only"),
    },
    "resources.<name>": {
        "type": req("one of the types below; any other is refused by name"),
        "params": opt("the type's params (below); unknown ones refused"),
    },
}
"""Path of a mapping (`<name>` any name) -> its fields. Unknown fields are refused with their path."""


RESOURCE_TYPES: Mapping[str, ResourceType] = {
    "postgres": ResourceType(
        "a PostgreSQL database of the workload's own, reached over TLS the client verifies; the declaring "
        "workload's containers also get libpq's `PGSSLMODE` and `PGSSLROOTCERT` (unless the file sets them)",
        {
            "host": "the server's name",
            "port": "its port",
            "name": "the database (as `database`)",
            "database": "the database, named after the workload",
            "username": "the application's own role",
            "password": "that role's password",
            "sslmode": "`verify-full`",
            "sslrootcert": "the CA bundle's path in the container, `/etc/kubeport/postgres/ca.crt`",
        },
        secret_outputs=frozenset({"password"}),
    ),
    "redis": ResourceType(
        "a Redis cache of the workload's own, reached over TLS the client verifies against `cacert`, as its own "
        "user with a password; in the cluster nothing is kept on disk (a restart empties it), on a cloud it is the "
        "cloud's managed Redis in the cluster's private network",
        {
            "host": "the server's name",
            "port": "its port (TLS only)",
            "username": "the application's user",
            "password": "its password (or the cloud's AUTH token)",
            "tls": "`true`: connect over TLS, always",
            "cacert": "the CA bundle's path in the container, `/etc/kubeport/postgres/ca.crt` (shared with postgres)",
        },
        secret_outputs=frozenset({"password"}),
    ),
    "s3": ResourceType(
        "an object store bucket of the workload's own, reached over HTTPS; where it speaks `s3` the declaring "
        "workload's containers get the AWS SDKs' own variables (unless the file sets them): `AWS_REGION`, and where "
        "the target has no workload identity `AWS_CA_BUNDLE` (the CA bundle of `postgres`'s `sslrootcert`), "
        "`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` from a Secret; in the cluster it is kubeport's versitygw, "
        "its objects on a volume; on EKS, AKS and GKE the cloud's own (an S3 bucket, a Blob container, a Cloud "
        "Storage bucket) the workload reaches through the cloud's workload identity; at most one per workload",
        {
            "endpoint": "the store's HTTPS URL",
            "bucket": "the bucket, named after the workload and the resource",
            "region": "the bucket's region",
            "api": "the API the bucket speaks: `s3` (in the cluster, on EKS), `gcs` (on GKE) or `azure-blob` (on AKS): "
            "the cloud's own API where workload identity signs only that",
        },
    ),
    "volume": ResourceType(
        "a PersistentVolumeClaim of the workload's own (ReadWriteOnce) on the target's StorageClass, kept across pod "
        "restarts and releases, mounted by the declaring workload's pods alone (an admission policy; Kubernetes "
        "1.30+); a workload mounting one is a StatefulSet of one pod, stopped before its replacement starts",
        {},
        params={"size": opt("a Kubernetes quantity in Mi or Gi (`512Mi`, `10Gi`); default `1Gi`")},
    ),
    "service-port": ResourceType(
        "another file's service port: how a file declares that its workload calls another; the NetworkPolicies "
        "follow it",
        {"hostname": "the other workload's in-cluster name", "port": "the port"},
        params={"workload": req("the other file's `metadata.name`"), "port": req("a port name of its `service`")},
    ),
    "dns": ResourceType(
        "a host name",
        {"host": "the workload's in-cluster name, or the stack's `kubeport:host` in the public workload"},
    ),
    "route": ResourceType(
        "makes the workload public; with `kubeport:host`, a path of the application's Ingress for that host",
        {},
        params={
            "host": req("the stack's host (`kubeport:host`), or a `dns` output"),
            "path": req("a path starting with `/`, `pathType: Prefix`"),
            "port": req("the Service port the path goes to"),
        },
    ),
}
"""Resource type -> what it is. What each becomes on each target: stacks/application/provision.py."""


REFUSED: Mapping[str, str] = {
    "source": "files from `source` are not supported; inline the file with `content`",
    "binaryContent": "binary files are not supported; use `content`",
    "exec": "exec probes are not supported; use httpGet",
    "id": "shared resource ids are not supported",
    "class": "resource classes are not supported",
}
"""Fields of the Score specification kubeport does not read: refused by name, with why, wherever they appear and
are not a field of that mapping (a volume's `source` is read)."""


def required(path: str) -> dict[str, bool]:
    """The fields of the mapping at `path`: name -> required (what the parser checks)."""
    return {name: spec.required for name, spec in FIELDS[path].items()}
