"""Score workload files: the walkthrough's are valid; a bad file is refused naming the file and the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.application.parse import read_application, read_workload
from stacks.application.spec import ScoreError
from tools.stack_files import ROOT
from tools.verify.mock_runner import run_program

WALKTHROUGH = ROOT / "walkthrough"

GOOD = """\
apiVersion: score.dev/v1b1
metadata:
  name: payments
containers:
  main:
    image: registry.example.com/payments:1.0.0
    variables:
      DB_HOST: ${resources.db.host}
      DB_PASSWORD: ${resources.db.password}
    readinessProbe:
      httpGet: {path: /readyz, port: 8080}
service:
  ports:
    http: {port: 80, targetPort: 8080}
resources:
  db:
    type: postgres
"""


WITH_VOLUME = (
    GOOD.replace(
        "    readinessProbe:",
        "    volumes:\n      /data: {source: '${resources.data}', path: files}\n    readinessProbe:",
    )
    + "  data:\n    type: volume\n    params: {size: 2Gi}\n"
)


def problems_of(text: str, name: str = "payments.score.yaml") -> list[str]:
    workload, problems = read_workload(Path("/nowhere") / name, text)
    assert (workload is None) == bool(problems)
    return problems


def test_the_walkthrough_has_its_four_parts_and_their_edges() -> None:
    application = read_application(WALKTHROUGH, ROOT)
    assert [w.name for w in application.workloads] == ["login", "payments", "web"]
    assert [w.name for w in application.workloads if w.public] == ["web"]
    assert [r.type for r in application.workload("payments").resources] == ["postgres"]
    calls = {(e.client, e.server, e.port) for e in application.edges()}
    assert calls == {("web", "payments", 8080), ("login", "payments", 8080), ("payments", "payments/db", 5432)}
    assert application.workload("web").build == ROOT / "app"


def test_a_good_file_reads() -> None:
    assert problems_of(GOOD) == []


def test_a_volume_is_read_in_both_forms_with_its_folder_and_mode() -> None:
    listed = WITH_VOLUME.replace(
        "      /data: {source: '${resources.data}', path: files}\n",
        "      - {source: '${resources.data}', target: /data, path: files}\n"
        "      - {source: '${resources.data}', target: /srv/seen, readOnly: true}\n",
    )
    for text in (WITH_VOLUME, listed):
        workload, problems = read_workload(Path("/nowhere/payments.score.yaml"), text)
        assert problems == []
        assert workload is not None and workload.keeps_data
        (main,) = workload.containers
        first = main.volumes[0]
        assert (first.target, first.source, first.path, first.read_only) == ("/data", "data", "files", False)
        assert workload.resources_of("volume")[0].params == {"size": "2Gi"}
    workload, _ = read_workload(Path("/nowhere/payments.score.yaml"), listed)
    assert workload is not None
    assert [(v.target, v.read_only) for v in workload.containers[0].volumes] == [("/data", False), ("/srv/seen", True)]


BAD = {
    "unknown field": (
        GOOD.replace("    image:", "    imag:"),
        [
            "payments.score.yaml: containers.main.imag: unknown field; expected one of: image, command, args, "
            "variables, files, volumes, livenessProbe, readinessProbe, resources",
            "payments.score.yaml: containers.main.image: required",
        ],
    ),
    "wrong apiVersion": (
        GOOD.replace("score.dev/v1b1", "score.dev/v1"),
        ["payments.score.yaml: apiVersion: 'score.dev/v1' is not supported; expected score.dev/v1b1"],
    ),
    "name differs from the file": (
        GOOD.replace("name: payments", "name: billing"),
        ["payments.score.yaml: metadata.name: 'billing' must match the file's name (billing.score.yaml)"],
    ),
    "image latest": (
        GOOD.replace("payments:1.0.0", "payments:latest"),
        [
            "payments.score.yaml: containers.main.image: 'registry.example.com/payments:latest' is not an image "
            "reference pinned by tag or digest (never latest)"
        ],
    ),
    "unsupported resource type": (
        GOOD.replace("type: postgres", "type: mongodb"),
        [
            "payments.score.yaml: resources.db.type: 'mongodb' is not supported; kubeport provisions: postgres, "
            "redis, s3, volume, service-port, dns, route"
        ],
    ),
    "placeholder to a missing resource": (
        GOOD.replace("${resources.db.host}", "${resources.cache.host}"),
        [
            "payments.score.yaml: containers.main.variables.DB_HOST: ${resources.cache.host}: no resource 'cache' in "
            "this file"
        ],
    ),
    "output the type lacks": (
        GOOD.replace("${resources.db.host}", "${resources.db.url}"),
        [
            "payments.score.yaml: containers.main.variables.DB_HOST: ${resources.db.url}: a postgres resource has "
            "no output 'url'; it has: host, port, name, database, username, password, sslmode, sslrootcert"
        ],
    ),
    "credential inside a string": (
        GOOD.replace("DB_PASSWORD: ${resources.db.password}", "DB_URL: postgres://u:${resources.db.password}@h/db"),
        [
            "payments.score.yaml: containers.main.variables.DB_URL: ${resources.db.password} is a credential: it "
            "may only be a variable's whole value"
        ],
    ),
    "port out of range": (
        GOOD.replace("targetPort: 8080", "targetPort: 80800"),
        [
            "payments.score.yaml: service.ports.http.targetPort: 80800 is not a port; expected an integer from 1 to "
            "65535"
        ],
    ),
    "port name too long for a container port": (
        GOOD.replace("    http: {port: 80", "    payments-internal: {port: 80"),
        [
            "payments.score.yaml: service.ports.payments-internal: 'payments-internal' is not a port name (at most "
            "15 lowercase letters, digits and -, with a letter)"
        ],
    ),
    "volume from a resource of another type": (
        GOOD.replace(
            "    readinessProbe:", "    volumes:\n      /data: {source: '${resources.db}'}\n    readinessProbe:"
        ),
        [
            "payments.score.yaml: containers.main.volumes./data.source: ${resources.db} is a postgres resource, not a "
            "volume"
        ],
    ),
    "volume source not a resource": (
        WITH_VOLUME.replace("source: '${resources.data}'", "source: data"),
        [
            "payments.score.yaml: containers.main.volumes./data.source: 'data' is not a volume resource; expected "
            "${resources.<name>}",
            "payments.score.yaml: resources.data: a volume no container mounts; mount it or remove it",
        ],
    ),
    "volume over kubeport's /tmp": (
        WITH_VOLUME.replace("/data:", "/tmp/data:"),
        [
            "payments.score.yaml: containers.main.volumes./tmp/data: '/tmp/data' would hide or sit inside kubeport's "
            "writable /tmp; mount the volume elsewhere"
        ],
    ),
    "volume not mounted": (
        WITH_VOLUME.replace("    volumes:\n      /data: {source: '${resources.data}', path: files}\n", ""),
        ["payments.score.yaml: resources.data: a volume no container mounts; mount it or remove it"],
    ),
    "volume path out of the volume": (
        WITH_VOLUME.replace("path: files", "path: ../etc"),
        [
            "payments.score.yaml: containers.main.volumes./data.path: '../etc' must be a folder inside the volume: "
            "relative, without '..'"
        ],
    ),
    "volume size": (
        WITH_VOLUME.replace("size: 2Gi", "size: 2TB"),
        ["payments.score.yaml: resources.data.params.size: '2TB' is not a size in Mi or Gi (e.g. 512Mi, 10Gi)"],
    ),
    "two volumes on one target, list form": (
        WITH_VOLUME.replace(
            "      /data: {source: '${resources.data}', path: files}\n",
            "      - {source: '${resources.data}', target: /data}\n"
            "      - {source: '${resources.data}', target: /data}\n",
        ),
        [
            "payments.score.yaml: containers.main.volumes[1]: '/data' is also the target of "
            "containers.main.volumes[0]: one volume per target"
        ],
    ),
    "exec probe": (
        GOOD.replace("httpGet: {path: /readyz, port: 8080}", "exec: {command: [true]}"),
        [
            "payments.score.yaml: containers.main.readinessProbe.exec: not supported: exec probes are not "
            "supported; use httpGet",
            "payments.score.yaml: containers.main.readinessProbe.httpGet: required",
        ],
    ),
    "not YAML": (
        GOOD.replace("  name: payments", "  name: [payments"),
        None,
    ),
    "a list where a mapping goes": (
        GOOD.replace("  main:\n", "  - main:\n", 1),
        ["payments.score.yaml: containers: expected a mapping, got list"],
    ),
}


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_file_is_refused_naming_the_file_and_the_path(kind: str) -> None:
    text, expected = BAD[kind]
    problems = problems_of(text)
    if expected is None:
        assert len(problems) == 1
        assert problems[0].startswith("payments.score.yaml: line ")
        assert "not valid YAML" in problems[0]
    else:
        assert problems == expected


def write_application(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.score.yaml").write_text(text)
    return folder


CALLER = """\
apiVersion: score.dev/v1b1
metadata: {name: web}
containers:
  main: {image: "registry.example.com/web:1.0.0"}
resources:
  api: {type: service-port, params: {workload: %s, port: %s}}
"""


@pytest.mark.parametrize(
    ("workload", "port", "expected"),
    [
        ("billing", "http", "web.score.yaml: resources.api.params.workload: 'billing' is not a workload of this "
                            "application; there are: payments, web"),
        ("payments", "grpc", "web.score.yaml: resources.api.params.port: payments has no service port 'grpc'; it "
                             "has: http"),
        ("web", "http", "web.score.yaml: resources.api.params.workload: a workload does not call itself through a "
                        "Service"),
    ],
)  # fmt: skip
def test_a_call_to_a_workload_or_port_that_does_not_exist_is_refused(
    tmp_path: Path, workload: str, port: str, expected: str
) -> None:
    folder = write_application(tmp_path / "app", {"payments": GOOD, "web": CALLER % (workload, port)})
    with pytest.raises(ScoreError) as caught:
        read_application(folder)
    assert caught.value.problems == [expected]


def test_every_bad_file_is_reported_at_once(tmp_path: Path) -> None:
    folder = write_application(
        tmp_path / "app",
        {"payments": GOOD.replace("score.dev/v1b1", "v2"), "login": GOOD.replace("name: payments", "name: login2")},
    )
    with pytest.raises(ScoreError) as caught:
        read_application(folder)
    assert [p.split(":")[0] for p in caught.value.problems] == ["login.score.yaml", "payments.score.yaml"]
    assert "nothing was created" in caught.value.message()


def test_the_program_stops_on_a_bad_file_before_any_resource(tmp_path: Path) -> None:
    folder = ROOT / "out" / "bad-application"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "payments.score.yaml").write_text(GOOD.replace("    image:", "    imag:"))
    run = run_program("walkthrough", {"application": "out/bad-application"})
    assert run.error is not None
    assert "payments.score.yaml: containers.main.image: required" in str(run.error)
    assert run.resources == [], "nothing is created, not even the provider"


def test_a_folder_without_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScoreError, match=r"no \*\.score\.yaml files"):
        read_application(tmp_path)


def test_the_docs_say_what_of_score_kubeport_supports() -> None:
    docs = (ROOT / "docs" / "application.md").read_text()
    for field in ("metadata", "containers", "service.ports", "postgres", "service-port", "route", "dns"):
        assert f"`{field}" in docs, field
    assert "refused by name" in docs


def test_the_readme_shows_the_application_as_its_files_draw_it() -> None:
    from tools.verify.application_graph import block

    assert block(read_application(WALKTHROUGH, ROOT)) in (ROOT / "README.md").read_text()
