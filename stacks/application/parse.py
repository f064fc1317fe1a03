"""Score workload files (`score.dev/v1b1`): read, validated and checked against each other, before any resource.

An application is a folder of `<name>.score.yaml` files, one per service. This module turns them into plain,
validated records (`Workload`) or one `ScoreError` that names every bad file and path at once, e.g.
`payments.score.yaml: containers.main.image: required`. It knows no target: which implementation a
`postgres` resource gets is `stacks.application.provision`' business, and the Kubernetes objects are the components'.

The part of the Score specification kubeport supports (anything else is refused, by name):
- `apiVersion: score.dev/v1b1`; `metadata.name` (a DNS-1123 label, the file's own name), `metadata.annotations`;
- `containers.<name>`: `image` (a reference, or `.` to build the folder named by the annotation
  `kubeport.dev/build`, a folder inside the project), `command`, `args`, `variables`, `files` (a mapping of
  targets to `content`, `mode`, `noExpand`, or the older list with a `target` each),
  `volumes` (a mapping of mount paths to `source: ${resources.<volume>}`, `path`, `readOnly`, or the older list),
  `livenessProbe` / `readinessProbe` with `httpGet` (`path`, `port`, `scheme: HTTP`), `resources`
  (`requests` / `limits` of `cpu` and `memory`);
- `service.ports.<name>`: `port`, `targetPort`, `protocol` (TCP);
- `resources.<name>` by `type`: `postgres`, `redis`, `s3` (one per workload), `volume` (`params.size`),
  `service-port` (`params.workload`,
  `params.port`: another file's service port; the one way to declare that a workload calls another), `dns`,
  `route` (`params.host`, `params.path`, `params.port`: makes the workload public);
- placeholders `${metadata.name}` and `${resources.<name>.<output>}` in variables and file contents
  (`$${` for a literal `${`).
The file's bytes and YAML are read by `stacks.application.source`, which also holds the result to the published schema.
The module is longer than 400 lines because each supported field has its check and its message here, in one
place, beside the list of what is supported.

Not supported: `files` with `source` or `binaryContent`, `exec` probes, resource
`id` / `class` / `metadata`, more than one public workload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stacks.application.catalogue import REFUSED, required
from stacks.application.placeholders import references, whole_reference
from stacks.application.source import InputError, bounded, covered, load, read_text, schema_problems
from stacks.application.spec import (
    API_VERSION,
    BUILD_ANNOTATION,
    RESOURCE_OUTPUTS,
    RESOURCE_PARAMS,
    SECRET_OUTPUTS,
    SUFFIX,
    Application,
    Container,
    ContainerFile,
    HttpProbe,
    Resource,
    ScoreError,
    ServicePort,
    VolumeMount,
    Workload,
)
from stacks.config.forms import DNS1123_LABEL
from stacks.config.rules import image_reference

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$")
PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""A container port's name, as Kubernetes takes it (IANA service name): the Service targets it by name."""
PORT_RANGE = (1, 65535)
VOLUME_SIZE = re.compile(r"^[1-9][0-9]{0,5}(Mi|Gi)$")
RESERVED_MOUNTS = ("/tmp",)
"""Paths kubeport mounts itself in every container (a writable emptyDir)."""

TOP_FIELDS = required("")
METADATA_FIELDS = required("metadata")
CONTAINER_FIELDS = required("containers.<name>")
FILE_FIELDS = required("containers.<name>.files.<target>")
VOLUME_FIELDS = required("containers.<name>.volumes.<target>")
PROBE_FIELDS = required("containers.<name>.livenessProbe|readinessProbe")
HTTP_GET_FIELDS = required("containers.<name>.*Probe.httpGet")
PORT_FIELDS = required("service.ports.<name>")
RESOURCE_FIELDS = required("resources.<name>")
REQUIREMENT_FIELDS = required("containers.<name>.resources.requests|limits")
NOT_SUPPORTED = REFUSED


class _Checker:
    """Walks one parsed file, recording `file: path: problem` lines (each bounded in length) and their paths."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []
        self.paths: list[str] = []

    def problem(self, path: str, text: str) -> None:
        self.paths.append(path)
        self.problems.append(bounded(f"{self.file}: {path}: {text}" if path else f"{self.file}: {text}"))

    def mapping(self, value: Any, path: str, fields: Mapping[str, bool] | None = None) -> dict[str, Any]:
        """A mapping with string keys; with `fields`, required ones present and unknown ones refused."""
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping, got {type(value).__name__}")
            return {}
        if fields is not None:
            for key in value:
                where = f"{path}.{key}" if path else str(key)
                if key in fields:
                    continue
                if key in NOT_SUPPORTED:
                    self.problem(where, f"not supported: {NOT_SUPPORTED[key]}")
                else:
                    self.problem(where, f"unknown field; expected one of: {', '.join(fields)}")
            for key, required in fields.items():
                if required and key not in value:
                    self.problem(f"{path}.{key}" if path else key, "required")
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.problem(path, f"expected a string, got {type(value).__name__}")
            return ""
        return value

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(path, "expected a list of strings")
            return ()
        return tuple(self.string(v, f"{path}[{i}]") for i, v in enumerate(value))

    def port(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not PORT_RANGE[0] <= value <= PORT_RANGE[1]:
            self.problem(path, f"{value!r} is not a port; expected an integer from 1 to 65535")
            return 0
        return value

    def name(self, value: str, path: str) -> None:
        if not DNS1123_LABEL.match(value) or len(value) > 63:
            self.problem(path, f"{value!r} is not a DNS-1123 label (lowercase letters, digits and -, at most 63)")


def _probe(check: _Checker, value: Any, path: str) -> HttpProbe | None:
    probe = check.mapping(value, path, PROBE_FIELDS)
    if "httpGet" not in probe:
        return None
    http = check.mapping(probe["httpGet"], f"{path}.httpGet", HTTP_GET_FIELDS)
    if not http:
        return None
    if http.get("scheme", "HTTP") != "HTTP":
        check.problem(f"{path}.httpGet.scheme", f"{http['scheme']!r} is not supported; expected HTTP")
    probe_path = check.string(http.get("path", ""), f"{path}.httpGet.path")
    if probe_path and not probe_path.startswith("/"):
        check.problem(f"{path}.httpGet.path", f"{probe_path!r} must start with /")
    return HttpProbe(probe_path, check.port(http.get("port"), f"{path}.httpGet.port"))


def _requirements(check: _Checker, value: Any, path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, amount in check.mapping(value, path, REQUIREMENT_FIELDS).items():
        text = str(amount)
        if not QUANTITY.fullmatch(text):
            check.problem(f"{path}.{key}", f"{amount!r} is not a quantity (e.g. 100m, 0.5, 64Mi)")
        found[key] = text
    return found


def _container(check: _Checker, name: str, value: Any, build: Path | None, annotated: bool) -> Container:
    path = f"containers.{name}"
    check.name(name, path)
    spec = check.mapping(value, path, CONTAINER_FIELDS)
    image = check.string(spec.get("image", ""), f"{path}.image") if "image" in spec else ""
    if image == ".":
        if not annotated:
            check.problem(f"{path}.image", f"'.' builds a folder: name it with the annotation {BUILD_ANNOTATION}")
    elif image and ((match := image_reference(image)) is None or match.group("tag") == "latest"):
        check.problem(f"{path}.image", f"{image!r} is not an image reference pinned by tag or digest (never latest)")
    variables: dict[str, str] = {}
    for key, text in check.mapping(spec.get("variables", {}), f"{path}.variables").items():
        if not ENV_NAME.fullmatch(str(key)):
            check.problem(f"{path}.variables.{key}", "is not a valid environment variable name")
        if not isinstance(text, str):
            hint = f": quote it ('{text}')" if isinstance(text, (bool, int, float)) else ""
            check.problem(f"{path}.variables.{key}", f"expected a string, got {type(text).__name__}{hint}")
        variables[str(key)] = str(text)
    files = _files(check, spec.get("files", []), f"{path}.files")
    volumes = _volumes(check, spec.get("volumes", {}), f"{path}.volumes", {f.target for f in files})
    requirements = check.mapping(spec.get("resources", {}), f"{path}.resources", {"requests": False, "limits": False})
    return Container(
        name=name,
        image=image,
        command=check.strings(spec["command"], f"{path}.command") if "command" in spec else (),
        args=check.strings(spec["args"], f"{path}.args") if "args" in spec else (),
        variables=variables,
        files=tuple(files),
        volumes=tuple(volumes),
        liveness=_probe(check, spec["livenessProbe"], f"{path}.livenessProbe") if "livenessProbe" in spec else None,
        readiness=_probe(check, spec["readinessProbe"], f"{path}.readinessProbe") if "readinessProbe" in spec else None,
        requests=_requirements(check, requirements.get("requests", {}), f"{path}.resources.requests"),
        limits=_requirements(check, requirements.get("limits", {}), f"{path}.resources.limits"),
    )


def _files(check: _Checker, value: Any, path: str) -> list[ContainerFile]:
    """`files` as the specification has it, a mapping of target paths to files, or its older list of files each
    with its `target`; two files with one target refused."""
    files: list[ContainerFile] = []
    for where, target, entry in _entries(check, value, path, FILE_FIELDS, "file"):
        mode = entry.get("mode", "0444")
        if isinstance(mode, int) and not isinstance(mode, bool):
            # YAML reads an unquoted 0644 as the octal number 420: what arrives is no longer what was written.
            check.problem(f"{where}.mode", f"write the mode as a quoted string, e.g. '0644' (YAML read {mode})")
        elif not isinstance(mode, str) or not re.fullmatch(r"0?[0-7]{3}", mode):
            check.problem(f"{where}.mode", f"{mode!r} is not an octal file mode, e.g. '0444'")
        content = check.string(entry.get("content", ""), f"{where}.content")
        files.append(ContainerFile(target, content, str(mode), entry.get("noExpand") is True, where))
    return files


def _entries(
    check: _Checker, value: Any, path: str, fields: Mapping[str, bool], what: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """The entries of `files` or `volumes` as (where, target, fields): the specification's mapping of targets to
    entries, or its older list of entries each with its `target`; targets absolute, each once."""
    if isinstance(value, dict):
        raw = [(f"{path}.{target}", target, item) for target, item in value.items()]
        fields = {k: v for k, v in fields.items() if k != "target"}
    elif isinstance(value, list):
        raw = [(f"{path}[{i}]", None, item) for i, item in enumerate(value)]
    else:
        check.problem(path, f"expected a mapping of target paths to {what}s (or a list of {what}s)")
        return []
    found: list[tuple[str, str, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for where, key, item in raw:
        entry = check.mapping(item, where, fields)
        target = (
            check.string(key, where) if key is not None else check.string(entry.get("target", ""), f"{where}.target")
        )
        if target and not target.startswith("/"):
            check.problem(where if key is not None else f"{where}.target", f"{target!r} must be an absolute path")
        elif target in seen:
            check.problem(where, f"{target!r} is also the target of {seen[target]}: one {what} per target")
        seen.setdefault(target, where)
        found.append((where, target, entry))
    return found


def _volumes(check: _Checker, value: Any, path: str, file_targets: set[str]) -> list[VolumeMount]:
    """`volumes`: each the `source` `${resources.<name>}` (which resource: _check_volumes), mounted at an absolute
    path that is not kubeport's own /tmp, nor a file's, nor above either; `path` a folder inside the volume."""
    mounts: list[VolumeMount] = []
    for where, target, entry in _entries(check, value, path, VOLUME_FIELDS, "volume"):
        if target.startswith("/"):
            clean = "/" + "/".join(p for p in target.split("/") if p)
            taken = [*RESERVED_MOUNTS, *sorted(file_targets)]
            clash = next((t for t in taken if t == clean or t.startswith(clean + "/") or clean.startswith(t + "/")
                          or clean == "/"), None)  # fmt: skip
            if clash is not None:
                whose = "kubeport's writable /tmp" if clash in RESERVED_MOUNTS else f"the file {clash!r}"
                check.problem(where, f"{target!r} would hide or sit inside {whose}; mount the volume elsewhere")
            elif ".." in target.split("/"):
                check.problem(where, f"{target!r} must not contain '..'")
        source = check.string(entry.get("source", ""), f"{where}.source") if "source" in entry else ""
        reference = (whole_reference(source) or "").split(".")
        named = reference[1] if len(reference) == 2 and reference[0] == "resources" else ""
        if source and not named:
            check.problem(f"{where}.source", f"{source!r} is not a volume resource; expected ${{resources.<name>}}")
        sub = entry.get("path", "")
        if not isinstance(sub, str):
            check.problem(f"{where}.path", f"expected a string, got {type(sub).__name__}")
            sub = ""
        elif sub.startswith("/") or ".." in sub.split("/"):
            check.problem(f"{where}.path", f"{sub!r} must be a folder inside the volume: relative, without '..'")
        read_only = entry.get("readOnly", False)
        if not isinstance(read_only, bool):
            check.problem(f"{where}.readOnly", f"expected true or false, got {read_only!r}")
        mounts.append(VolumeMount(target, named, sub.strip("/"), read_only is True, where))
    return mounts


def _build_folder(check: _Checker, file: Path, value: Any, project: Path | None) -> Path | None:
    """The folder an `image: .` builds: relative to the file, inside the project (or, with none named, inside the
    file's own folder), not the project itself. Builders hash and receive the whole folder: a folder outside would
    send files the application does not own, the project's root its state and virtualenvs."""
    where = f"metadata.annotations.{BUILD_ANNOTATION}"
    text = check.string(value, where)
    if not text:
        return None
    if Path(text).is_absolute() or text.startswith("~"):
        check.problem(where, f"{text!r} must be a folder relative to the file")
        return None
    boundary = (project or file.parent).resolve()
    build = (file.parent / text).resolve()
    if not build.is_relative_to(boundary) or (project is not None and build == boundary):
        inside = "a folder inside the project" if project is not None else "the file's folder or one inside it"
        check.problem(where, f"{text!r} is {build}; expected {inside} ({boundary})")
        return None
    if not (build / "Dockerfile").is_file():
        check.problem(where, f"{build} has no Dockerfile")
    return build


def _resource(check: _Checker, name: str, value: Any) -> Resource:
    path = f"resources.{name}"
    check.name(name, path)
    spec = check.mapping(value, path, RESOURCE_FIELDS)
    kind = check.string(spec.get("type", ""), f"{path}.type") if "type" in spec else ""
    if kind and kind not in RESOURCE_OUTPUTS:
        check.problem(f"{path}.type", f"{kind!r} is not supported; kubeport provisions: {', '.join(RESOURCE_OUTPUTS)}")
        return Resource(name, kind)
    params = check.mapping(spec.get("params", {}), f"{path}.params", RESOURCE_PARAMS.get(kind, {}))
    if kind == "volume" and "size" in params and not VOLUME_SIZE.match(str(params["size"])):
        check.problem(f"{path}.params.size", f"{params['size']!r} is not a size in Mi or Gi (e.g. 512Mi, 10Gi)")
    return Resource(name, kind, params)


def _ports(check: _Checker, top: Mapping[str, Any]) -> tuple[ServicePort, ...]:
    """`service.ports`: each a named TCP port and the container's port it goes to."""
    ports: list[ServicePort] = []
    service = check.mapping(top.get("service", {}), "service", {"ports": False})
    for port_name, port_spec in check.mapping(service.get("ports", {}), "service.ports").items():
        where = f"service.ports.{port_name}"
        if not PORT_NAME.match(str(port_name)):
            check.problem(where, f"{port_name!r} is not a port name (at most 15 lowercase letters, digits and -, "
                                 "with a letter)")  # fmt: skip
        entry = check.mapping(port_spec, where, PORT_FIELDS)
        if entry.get("protocol", "TCP") != "TCP":
            check.problem(f"{where}.protocol", f"{entry['protocol']!r} is not supported; expected TCP")
        port = check.port(entry.get("port"), f"{where}.port")
        target = check.port(entry["targetPort"], f"{where}.targetPort") if "targetPort" in entry else port
        ports.append(ServicePort(str(port_name), port, target))
    return tuple(ports)


def read_workload(file: Path, text: str, project: Path | None = None) -> tuple[Workload | None, list[str]]:
    """One file's text -> its Workload, or None and the problems (each naming the file and the path).

    `project`: the folder a build folder must be inside (the Pulumi project); None: the file's own folder."""
    check = _Checker(file.name)
    try:
        document = load(text)
    except InputError as err:
        check.problem(err.where, err.text)
        return None, check.problems
    top = check.mapping(document, "", TOP_FIELDS)
    if not top:
        return None, check.problems
    if "apiVersion" in top and top["apiVersion"] != API_VERSION:
        check.problem("apiVersion", f"{top['apiVersion']!r} is not supported; expected {API_VERSION}")
    metadata = check.mapping(top.get("metadata", {}), "metadata", METADATA_FIELDS)
    name = check.string(metadata.get("name", ""), "metadata.name") if "name" in metadata else ""
    if name:
        check.name(name, "metadata.name")
        if file.name != f"{name}{SUFFIX}":
            check.problem("metadata.name", f"{name!r} must match the file's name ({name}{SUFFIX})")
    annotations = check.mapping(metadata.get("annotations", {}), "metadata.annotations")
    build = (
        _build_folder(check, file, annotations[BUILD_ANNOTATION], project) if BUILD_ANNOTATION in annotations else None
    )
    containers = check.mapping(top.get("containers", {}), "containers")
    if isinstance(top.get("containers"), dict) and not containers:
        check.problem("containers", "needs at least one container")
    workload = Workload(
        name=name,
        file=file,
        containers=tuple(
            _container(check, str(k), v, build, BUILD_ANNOTATION in annotations) for k, v in containers.items()
        ),
        ports=_ports(check, top),
        resources=tuple(
            _resource(check, str(k), v) for k, v in check.mapping(top.get("resources", {}), "resources").items()
        ),
        build=build,
    )
    _check_placeholders(check, workload)
    _check_volumes(check, workload)
    _check_buckets(check, workload)
    # What the published schema refuses and kubeport's own checks did not already name (those say it better).
    for path, said in schema_problems(document):
        if not covered(path, check.paths):
            check.problem(path, f"{said} (Score v1b1 schema)")
    return (None if check.problems else workload), check.problems


def _check_placeholders(check: _Checker, workload: Workload) -> None:
    by_name = {r.name: r for r in workload.resources}
    for container in workload.containers:
        texts = [(f"containers.{container.name}.variables.{k}", v) for k, v in container.variables.items()]
        texts += [(f"{f.where}.content", f.content) for f in container.files if not f.no_expand]
        for path, text in texts:
            for reference in references(text):
                parts = reference.split(".")
                if parts == ["metadata", "name"]:
                    continue
                if len(parts) != 3 or parts[0] != "resources":
                    check.problem(
                        path, f"${{{reference}}}: expected ${{metadata.name}} or ${{resources.<name>.<output>}}"
                    )
                    continue
                resource = by_name.get(parts[1])
                if resource is None:
                    check.problem(path, f"${{{reference}}}: no resource {parts[1]!r} in this file")
                    continue
                if resource.type not in RESOURCE_OUTPUTS:
                    continue  # its type was refused already
                outputs = RESOURCE_OUTPUTS.get(resource.type, ())
                if parts[2] not in outputs:
                    check.problem(
                        path,
                        f"${{{reference}}}: a {resource.type} resource has no output {parts[2]!r}; "
                        f"it has: {', '.join(outputs) or 'none'}",
                    )
                elif parts[2] in SECRET_OUTPUTS.get(resource.type, frozenset()) and (
                    ".files" in path or text != f"${{{reference}}}"
                ):
                    # A variable's whole value is read from a Secret; a file's content goes into a ConfigMap.
                    check.problem(path, f"${{{reference}}} is a credential: it may only be a variable's whole value")


BUCKET_NAME_LIMIT = 63
"""S3's bound on a bucket's name, `<workload>-<resource>`."""


def _check_buckets(check: _Checker, workload: Workload) -> None:
    """At most one `s3` per workload (the AWS SDKs' variables name one store's credentials), its bucket's name
    within S3's bound."""
    buckets = [r for r in workload.resources if r.type == "s3"]
    for extra in buckets[1:]:
        check.problem(
            f"resources.{extra.name}",
            f"a second s3 resource (after {buckets[0].name!r}): a workload has one store, whose credentials its "
            "containers find in the AWS SDKs' own variables; use prefixes of one bucket",
        )
    for bucket in buckets:
        name = workload.provisioned_name(bucket)
        if len(name) > BUCKET_NAME_LIMIT:
            check.problem(
                f"resources.{bucket.name}",
                f"its bucket {name!r} (<workload>-<resource>) is longer than S3's {BUCKET_NAME_LIMIT} characters",
            )


def _check_volumes(check: _Checker, workload: Workload) -> None:
    """Each mount's source is a `volume` resource of the file, and each `volume` resource is mounted."""
    by_name = {r.name: r for r in workload.resources}
    mounted: set[str] = set()
    for container in workload.containers:
        for mount in container.volumes:
            if not mount.source:
                continue
            where = f"{mount.where}.source"
            resource = by_name.get(mount.source)
            if resource is None:
                check.problem(where, f"${{resources.{mount.source}}}: no resource {mount.source!r} in this file")
            elif resource.type != "volume":
                check.problem(where, f"${{resources.{mount.source}}} is a {resource.type} resource, not a volume")
            mounted.add(mount.source)
    for resource in workload.resources_of("volume"):
        if resource.name not in mounted:
            check.problem(f"resources.{resource.name}", "a volume no container mounts; mount it or remove it")


def _check_application(workloads: Sequence[Workload]) -> list[str]:
    """What only the files together can get wrong: names, calls to other workloads, public ones."""
    problems: list[str] = []
    by_name = {w.name: w for w in workloads}
    for workload in workloads:
        for resource in workload.resources_of("service-port"):
            path = f"{workload.file.name}: resources.{resource.name}.params"
            server = by_name.get(str(resource.params.get("workload")))
            if server is None:
                problems.append(
                    f"{path}.workload: {resource.params.get('workload')!r} is not a workload of this application; "
                    f"there are: {', '.join(sorted(by_name))}"
                )
            elif server.name == workload.name:
                problems.append(f"{path}.workload: a workload does not call itself through a Service")
            elif not any(p.name == resource.params.get("port") for p in server.ports):
                problems.append(
                    f"{path}.port: {server.name} has no service port {resource.params.get('port')!r}; "
                    f"it has: {', '.join(p.name for p in server.ports) or 'none'}"
                )
        for resource in workload.resources_of("route"):
            port = resource.params.get("port")
            if not any(p.port == port for p in workload.ports):
                problems.append(
                    f"{workload.file.name}: resources.{resource.name}.params.port: {port!r} is not one of this "
                    "workload's service ports"
                )
    public = [w.name for w in workloads if w.public]
    if len(public) > 1:
        problems.append(f"more than one public workload ({', '.join(public)}): kubeport exposes one per application")
    return problems


def read_application(folder: Path, project: Path | None = None) -> Application:
    """Every `*.score.yaml` in `folder`, validated alone and together; a ScoreError lists each problem.

    `project`: the folder the files' build folders must be inside (None: each file's own folder)."""
    if not folder.is_dir():
        raise ScoreError([f"{folder}: not a folder"])
    files = sorted(folder.glob(f"*{SUFFIX}"))
    if not files:
        raise ScoreError([f"{folder}: no *{SUFFIX} files"])
    problems: list[str] = []
    workloads: list[Workload] = []
    for file in files:
        try:
            text = read_text(file)
        except InputError as err:
            problems.append(f"{file.name}: {err}")
            continue
        workload, found = read_workload(file, text, project)
        problems += found
        if workload is not None:
            workloads.append(workload)
    if not problems:
        problems = _check_application(workloads)
    if problems:
        raise ScoreError(problems)
    return Application(folder, tuple(workloads))
