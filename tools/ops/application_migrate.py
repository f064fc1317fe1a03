"""`migrate` of an application (kubeport:application) and its data between two stacks, for any workload files.

Before anything changes it refuses, naming the reason and the flag that overrides it (docs/migration.md):
the same stack, or the same database, on both sides (nothing overrides this); a source database that is read-only
already, the leftover of an earlier migrate (`--allow-read-only-source`); a target database that holds rows in
any table (`--replace-target-data`: its rows are first dumped to a file, whose path migrate prints); a target on a
cloud, whose databases are the cloud's managed ones, and a source whose declared database is not a pod in its
cluster (nothing overrides these: the rows would be left behind); an application whose files declare a `volume`
(its files would be left behind: migrate moves PostgreSQL rows only).
 Then: preview and up the target → start the probe Pod (tools/ops/application_smoke.py) → stop writes on the target's
databases and, with the flag, copy what they hold to a file → stop writes on the source's
(`default_transaction_read_only`, open sessions ended; reads go on) → dump each and restore it into the target's, in one
transaction (tools/ops/application_data.py) → compare every table's row count and row hash → make the target writable
and prove it, signing in as the application's own role over verified TLS and writing something that is rolled back →
smoke-check the target from its workload files → record the move in both databases (`kubeport.migrations`) → switch.
Writes on the source stay stopped from the moment it turns read-only until the switch, and that time is printed. The
source stays
read-only afterwards, so nothing writes to the old copy; its record says where the data went.

Any failure, timeout, malformed answer or interrupt after the first stop undoes the stops: the source is writable
again (unless it was read-only before, with the flag), the target as writable as it was, and the message says what
each side holds.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.application.parse import read_application
from stacks.application.spec import Application, ScoreError
from stacks.config.keys import keys_by_name
from tools.ops.application_data import Facts, Fingerprint, Record
from tools.ops.application_reach import Databases, Prober, Reach, Reacher, kubectl_reach
from tools.ops.application_smoke import check_routes, probe_image, probes, routes
from tools.ops.operations import OperationError, Workspace, confirmed, preview_and_up
from tools.ops.smoke import Fetch, http_get
from tools.stack_files import ROOT

MANAGED_HINT = "docs/application.md#moving-the-data-between-clouds"
VOLUME_HINT = "docs/application.md#volumes"
CACHE_HINT = "docs/application.md#caches"
OBJECTS_HINT = "docs/application.md#object-storage"
UNMOVED = {
    "volume": ("volumes' files", f"Copy the files yourself ({VOLUME_HINT})"),
    "redis": (
        "caches' keys",
        f"A cache starts empty on the target; if the application needs its keys, copy them yourself ({CACHE_HINT})",
    ),
    "s3": ("buckets' objects", f"Copy the objects yourself, bucket to bucket ({OBJECTS_HINT})"),
}
"""Resource types whose data migrate does not move: what would be left behind, and what to do instead."""
CLOUD_TARGETS = ("eks", "aks", "gke")
BACKUPS = ROOT / ".kubeport" / "backups"
"""Where `--replace-target-data` keeps the target's rows (outside git, private to the user)."""
REPLACE_FLAG = "--replace-target-data"
READ_ONLY_FLAG = "--allow-read-only-source"
NAMESPACE = keys_by_name()["namespace"].default
"""The namespace a stack without kubeport:namespace deploys into."""
Outputs = dict[str, Any]
Config = dict[str, str]


@dataclass(frozen=True)
class Moved:
    """What a migration of an application did."""

    tables: Mapping[str, Fingerprint]
    """Per database, each table's row count and hash, the same on both sides."""
    writes_stopped_seconds: float
    backups: Sequence[Path] = ()


@dataclass(frozen=True)
class _Plan:
    """Both sides as checked, and what the user asked for."""

    source: str
    target: str
    application: Application
    declared: Sequence[str]
    old: Reach
    new: Reach
    source_facts: Mapping[str, Facts]
    target_facts: Mapping[str, Facts]
    outputs: Mapping[str, object]
    replace_target_data: bool
    backups: Path


@dataclass
class _Stops:
    """What migrate changed, so that a failure undoes exactly that."""

    target: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    backups: dict[str, Path] = field(default_factory=dict)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def migrate_application(
    source: str,
    target: str,
    workspace: Workspace,
    *,
    replace_target_data: bool = False,
    allow_read_only_source: bool = False,
    backups: Path = BACKUPS,
    destroy_source: bool = False,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    reach: Reacher = kubectl_reach,
    fetch: Fetch = http_get,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime.datetime] = utc_now,
    root: Path = ROOT,
) -> Moved:
    """The application's migration (the module's docstring); raises OperationError at the first failure or refusal,
    with both sides as the message says."""
    source_outputs, target_outputs, source_config, target_config = _stacks(source, target, workspace)
    application = _application(root / source_config.get("kubeport:application", ""), root)
    declared = sorted(w.provisioned_name(r) for w in application.workloads for r in w.resources_of("postgres"))
    old_namespace = str(source_outputs.get("namespace") or "")
    new_namespace = str(target_outputs.get("namespace") or target_config.get("kubeport:namespace") or NAMESPACE)
    with reach(workspace, source_config, old_namespace) as old, reach(workspace, target_config, new_namespace) as new:
        source_facts = _check_source(source, old, declared, allow_read_only_source)
        if old.server == new.server and old_namespace == new_namespace:
            raise OperationError(
                f"{source!r} and {target!r} are the same namespace {new_namespace!r} of the same cluster "
                f"({new.server}): the same databases on both sides. Nothing was changed, and nothing overrides this."
            )
        if target_outputs.get("services"):
            _check_target(target, new.databases, source_facts, replace_target_data)
    outputs = preview_and_up(source, target, workspace, say, steps=9)
    new_namespace = str(outputs.get("namespace") or new_namespace)
    with reach(workspace, source_config, old_namespace) as old, reach(workspace, target_config, new_namespace) as new:
        present = set(new.databases.instances())
        missing = [name for name in declared if name not in present]
        if missing:
            raise OperationError(f"the target has no database {', '.join(missing)}: its application differs. "
                                 f"{source!r} is untouched.")  # fmt: skip
        target_facts = _check_target(target, new.databases, source_facts, replace_target_data)
        plan = _Plan(source, target, application, declared, old, new, source_facts, target_facts, outputs,
                     replace_target_data, backups)  # fmt: skip
        prober = new.prober(application.folder.name, probe_image(target_config, root))
        try:
            _start_probe(plan, prober, new_namespace, say)
            moved = _move(plan, prober, say=say, fetch=fetch, clock=clock, now=now)
        finally:
            with contextlib.suppress(OperationError):
                prober.cleanup()
    if destroy_source and (yes or confirmed(f"Destroy stack {source!r} and everything in it?", ask)):
        say(f"      destroy {source}")
        workspace.destroy(source)
    return moved


def _stacks(source: str, target: str, workspace: Workspace) -> tuple[Outputs, Outputs, Config, Config]:
    """Both stacks' outputs and config, once they are two, the source has an application and the target is not a
    cloud's."""
    if source == target:
        raise OperationError(f"source and target are the same stack ({source!r}): nothing to move, and nothing "
                             "overrides this")  # fmt: skip
    source_outputs, target_outputs = workspace.outputs(source), workspace.outputs(target)
    if not source_outputs.get("services"):
        raise OperationError(f"stack {source!r} has deployed no application: deploy it first, or use `up {target}`")
    source_config, target_config = workspace.config(source), workspace.config(target)
    if target_config.get("kubeport:target") in CLOUD_TARGETS:
        raise OperationError(
            f"{target!r} is a cloud stack: its databases are the cloud's managed PostgreSQL, which migrate cannot "
            f"write into yet, and nothing overrides this. Nothing was changed. Move the rows by dump and restore "
            f"({MANAGED_HINT})."
        )
    return source_outputs, target_outputs, source_config, target_config


def _start_probe(plan: _Plan, prober: Prober, namespace: str, say: Callable[[str], None]) -> None:
    """Step 3: the probe Pod in the target, for the readiness probes it asks through their Services."""
    checks = probes(plan.application, namespace)
    say(f"[3/9] start the probe Pod in {plan.target} ({len(checks)} readiness probes to ask through their Services)")
    try:
        prober.start([(p.workload, p.pod_port) for p in checks if p.url])
    except (OperationError, ValueError, KeyError) as err:
        raise OperationError(
            f"the probe Pod did not start in {plan.target!r}: {err}\nNo data was changed: "
            f"{plan.source!r} is untouched and still serving."
        ) from err


def _application(folder: Path, project: Path) -> Application:
    """The application's files, read; refused when a file declares data migrate does not move (a `volume`, a
    `redis` cache)."""
    try:
        application = read_application(folder, project)
    except ScoreError as err:
        raise OperationError(err.message()) from err
    for kind, (what, advice) in UNMOVED.items():
        unmoved = [f"{w.file.name}: resources.{r.name} ({w.provisioned_name(r)})" for w in application.workloads
                   for r in w.resources_of(kind)]  # fmt: skip
        if unmoved:
            raise OperationError(
                f"migrate moves PostgreSQL rows only, and these {what} would be left behind: {'; '.join(unmoved)}. "
                f"Nothing was changed, and nothing overrides this. {advice}, then `up` the target."
            )
    return application


def _check_source(source: str, old: Reach, declared: Sequence[str], allow_read_only: bool) -> dict[str, Facts]:
    present = set(old.databases.instances())
    elsewhere = [name for name in declared if name not in present]
    if elsewhere:
        raise OperationError(
            f"{', '.join(elsewhere)}: not an in-cluster database on {source!r} (a cloud's managed database, or not "
            f"running): migrate cannot move its rows yet, and would leave them behind. Nothing was changed, and "
            f"nothing overrides this. Move them by dump and restore ({MANAGED_HINT})."
        )
    facts = {name: old.databases.facts(name) for name in declared}
    read_only = [name for name, f in facts.items() if f.read_only]
    if read_only and not allow_read_only:
        records = {n: facts[n].last_record for n in read_only}
        history = "; ".join(f"{n} {r.describe()}" for n, r in records.items() if r is not None)
        raise OperationError(
            f"{', '.join(read_only)} on {source!r} is read-only already, the leftover of an earlier migrate"
            f"{': ' + history if history else ''}. Its rows may be older than the copy that was moved, so moving it "
            f"again could replace newer rows. Nothing was changed. Move from the stack that took the writes since; "
            f"if this one is the newest copy, run migrate again with {READ_ONLY_FLAG}."
        )
    return facts


def _check_target(
    target: str, databases: Databases, source_facts: Mapping[str, Facts], replace: bool
) -> dict[str, Facts]:
    facts = {name: databases.facts(name) for name in databases.instances() if name in source_facts}
    for name, found in facts.items():
        if (found.system, found.name) == (source_facts[name].system, source_facts[name].name):
            raise OperationError(
                f"{name} on {target!r} is the source's own database (server {found.system}, database {found.name}): "
                "a move would replace it with itself. Nothing was changed, and nothing overrides this."
            )
    holding = {name: f for name, f in facts.items() if f.tables_with_rows}
    if holding and not replace:
        lines = [
            f"{name} holds rows in {', '.join(f.tables_with_rows)}"
            + (f"; it {f.last_record.describe()}" if f.last_record else "")
            for name, f in holding.items()
        ]
        raise OperationError(
            f"the target {target!r} has data that a move would replace: {'; '.join(lines)}. No data was changed. "
            f"If the source's rows should replace them, run migrate again with {REPLACE_FLAG}: the target's rows are "
            "first copied to a file, and migrate says where and how to put them back."
        )
    return facts


def _move(
    plan: _Plan, prober: Prober, *, say: Callable[[str], None], fetch: Fetch, clock: Callable[[], float],
    now: Callable[[], datetime.datetime],
) -> Moved:  # fmt: skip
    """From the first stop of writes to the switch; any failure on the way is undone (_undo)."""
    source, target, declared, old, new = plan.source, plan.target, plan.declared, plan.old, plan.new
    source_facts, target_facts = plan.source_facts, plan.target_facts
    stops = _Stops()
    stamp = now().strftime("%Y%m%dT%H%M%SZ")
    try:
        say(f"[4/9] stop writes on {target}" + (" and copy what it holds to files" if plan.replace_target_data else ""))
        for name in declared:
            if not target_facts[name].read_only:
                # Counted before it runs: a stop that fails halfway (set, its sessions not yet ended) is undone too.
                stops.target.append(name)
                new.databases.set_read_only(name, True)
            if target_facts[name].tables_with_rows:
                path = plan.backups / f"{target}-{name}-{stamp}.sql"
                new.databases.backup(name, target_facts[name].owner, path)
                stops.backups[name] = path
                say(f"      {name}: its rows are in {path}")
        say(f"[5/9] stop writes on {source}: {', '.join(declared) or 'no database'} read-only")
        stopped = clock()
        for name in declared:
            if not source_facts[name].read_only:
                stops.source.append(name)
                old.databases.set_read_only(name, True)
        tables: dict[str, Fingerprint] = {}
        for name in declared:
            say(f"[6/9] move {name}: dump, restore in one transaction, compare every table")
            old.databases.copy_into(name, new.databases, name, target_facts[name].owner)
            stops.restored.append(name)
            before, after = old.databases.fingerprint(name), new.databases.fingerprint(name)
            if before != after:
                differ = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
                raise OperationError(
                    f"{name}: the restored copy differs in {', '.join(differ)}: source "
                    f"{[before.get(t) for t in differ]}, target {[after.get(t) for t in differ]}"
                )
            say("      " + (", ".join(f"{t}: {n} rows" for t, (n, _) in before.items()) or "no tables"))
            tables[name] = before
        say(f"[7/9] make {target} writable, and prove it as the application's role")
        for name in declared:
            new.databases.set_read_only(name, False)
            say("      " + new.databases.prove_writable(name))
        say(f"[8/9] smoke-check {target} from its workload files")
        for line in _smoke(plan.application, new, prober, str(plan.outputs.get("url") or ""), fetch):
            say("      " + line)
        for name in declared:
            counts = {t: n for t, (n, _) in tables[name].items()}
            entry = Record(now().isoformat(timespec="seconds"), "source", source, target, counts)
            systems = (source_facts[name].system, target_facts[name].system)
            old.databases.record(name, entry, *systems)
            new.databases.record(name, Record(entry.at, "target", source, target, counts), *systems)
        elapsed = clock() - stopped
    except BaseException as err:
        raise OperationError(_undo(plan, stops, err)) from err
    say(f"[9/9] switch: {target} serves the application with the source's data at {plan.outputs.get('url')}; writes "
        f"were stopped for {elapsed:.1f} s; {source} stays read-only")  # fmt: skip
    return Moved(tables=tables, writes_stopped_seconds=elapsed, backups=list(stops.backups.values()))


def _smoke(application: Application, new: Reach, prober: Prober, url: str, fetch: Fetch) -> list[str]:
    said = []
    short = new.unavailable(application.folder.name)
    if short:
        raise OperationError("not every service is available on the target: " + "; ".join(short))
    said.append(f"{len(application.workloads)} Deployments available")
    checks = probes(application, new.side.namespace)
    failed = prober.ask([c.url for c in checks if c.url])
    if failed:
        unanswered = [f"{c.workload}: {c.url} does not answer ({failed[c.url]})" for c in checks if c.url in failed]
        raise OperationError("from inside the target cluster, through their Services: " + "; ".join(unanswered))
    for check in checks:
        behind = f"{check.url} answers" if check.url else "its probe's port is behind no Service (the kubelet asks it)"
        said.append(f"{check.workload}: {behind}")
    paths = routes(application)
    if paths and url.startswith(("http://", "https://")):
        said.append(f"routes through {url}: " + ", ".join(check_routes(url, paths, fetch)))
    elif paths:
        said.append(f"routes not asked: no public address reachable from here ({url!r})")
    return said


def _undo(plan: _Plan, stops: _Stops, err: BaseException) -> str:
    """Undo the stops after `err`; the message says what each side holds and what to do."""
    source, target = plan.source, plan.target
    cause = "interrupted" if isinstance(err, KeyboardInterrupt) else (str(err) or type(err).__name__)
    lines = [cause]
    for side, reached, names in ((source, plan.old, stops.source), (target, plan.new, stops.target)):
        failed = []
        for name in names:
            try:
                reached.databases.set_read_only(name, False)
            except Exception as undo_err:  # the cluster may be the cause: say so, and how to do it by hand
                failed.append(f"{name} ({undo_err})")
        if failed:
            lines.append(f"{side!r}: could not make {', '.join(failed)} writable again; run `ALTER DATABASE <name> "
                         "RESET default_transaction_read_only` in its pod (docs/migration.md)")  # fmt: skip
    lines.append(f"{source!r} is writable again and serving as before" if stops.source
                 else f"{source!r} was not changed")  # fmt: skip
    if stops.restored:
        kept = "; ".join(f"its earlier rows of {n} are in {p}" for n, p in stops.backups.items())
        lines.append(
            f"{target!r} holds an unproven copy of {', '.join(stops.restored)}" + (f" ({kept})" if kept else "")
        )
    else:
        lines.append(f"{target!r} holds what it held before (any restore was rolled back)")
    lines.append(f"Investigate, then run migrate again, or `python -m tools destroy {target}`.")
    return "\n".join(lines)
