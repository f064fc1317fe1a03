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


BAD = {
    "unknown field": (
        GOOD.replace("    image:", "    imag:"),
        [
            "payments.score.yaml: containers.main.imag: unknown field; expected one of: image, command, args, "
            "variables, files, livenessProbe, readinessProbe, resources",
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
        GOOD.replace("type: postgres", "type: redis"),
        [
            "payments.score.yaml: resources.db.type: 'redis' is not supported; kubeport provisions: postgres, "
            "service-port, dns, route"
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
    "volumes": (
        GOOD.replace(
            "    readinessProbe:", "    volumes:\n      - source: data\n        target: /data\n    readinessProbe:"
        ),
        [
            "payments.score.yaml: containers.main.volumes: not supported: volumes are not supported (kubeport mounts "
            "only an emptyDir on /tmp)"
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
