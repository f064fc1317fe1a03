"""`python -m tools gen-config`: Pulumi.yaml's config block and the docs' key table come from the key table, and
docs/application.md's workload-file tables from the catalogue."""

from __future__ import annotations

import dataclasses

import yaml

from stacks.application import catalogue
from stacks.application.catalogue import Field, ResourceType
from stacks.config import all_keys
from tests.support.features import DISABLED_DEFAULT_PROVIDERS
from tools.stack_files import ROOT
from tools.verify import gen_config


def test_pulumi_yaml_and_the_key_table_are_what_the_generator_writes() -> None:
    assert gen_config.main(["--check"]) == 0, "run `python -m tools gen-config` and commit the result"


def test_a_hand_edit_of_either_file_is_caught() -> None:
    keys = all_keys()
    pulumi_yaml = gen_config.PULUMI_YAML.read_text()
    edited = pulumi_yaml.replace("default: 2\n", "default: 3\n", 1)
    assert edited != pulumi_yaml and gen_config.pulumi_yaml(edited, keys) != edited
    doc = gen_config.CONFIG_DOC.read_text()
    edited_doc = doc.replace("| `replicas` |", "| `replica` |", 1)
    assert edited_doc != doc and gen_config.configuration_doc(edited_doc, keys) != edited_doc


def test_a_changed_key_changes_both_files() -> None:
    keys = tuple(
        dataclasses.replace(k, description="Pods, more or fewer.") if k.name == "replicas" else k for k in all_keys()
    )
    written = yaml.safe_load(gen_config.pulumi_yaml(gen_config.PULUMI_YAML.read_text(), keys))
    assert written["config"]["replicas"]["description"] == "Pods, more or fewer."
    assert "| `replicas` | integer | `2` | all | Pods, more or fewer. |" in gen_config.doc_table(keys)


def test_the_generated_block_keeps_the_projects_own_settings() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["config"]["pulumi:disable-default-providers"] == DISABLED_DEFAULT_PROVIDERS
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    declared = {k: v for k, v in project["config"].items() if ":" not in k}
    assert list(declared) == [k.name for k in all_keys()]
    secret = [k.name for k in all_keys() if k.secret]
    assert secret and all("--secret" in declared[name]["description"] for name in secret)


# docs/application.md: the workload-file tables from stacks/application/catalogue.py.


def test_a_hand_edit_of_the_workload_file_tables_is_caught() -> None:
    doc = gen_config.APPLICATION_DOC.read_text()
    edited = doc.replace("| `image` | yes |", "| `image` |  |", 1)
    assert edited != doc and gen_config.application_doc(edited) != edited


def test_a_type_or_field_added_to_the_catalogue_appears_in_the_tables_with_where_it_is_provisioned() -> None:
    cache = ResourceType(
        "a cache", {"host": "its name", "password": "its password"}, secret_outputs=frozenset({"password"})
    )
    fields = dict(catalogue.FIELDS) | {"metadata": dict(catalogue.FIELDS["metadata"]) | {"labels": Field(False, "x")}}
    tables = gen_config.application_tables(
        gen_config.Catalogue(fields=fields, types=dict(catalogue.RESOURCE_TYPES) | {"redis": cache}),
        {"redis": {"minikube": lambda: None, "existing": lambda: None}},
    )
    assert "| `metadata` | `labels` |  | x |" in tables
    row = next(line for line in tables.splitlines() if line.startswith("| `redis` |"))
    assert "`password` (a credential): its password" in row
    assert "minikube, existing: <lambda><br>refused on eks, aks, gke, stackref, naming the resource" in row


def test_every_type_the_parser_takes_and_every_provisioned_type_is_in_the_catalogue() -> None:
    from stacks.application.provision import PROVISIONERS

    assert set(PROVISIONERS) <= set(catalogue.RESOURCE_TYPES)
    doc = gen_config.APPLICATION_DOC.read_text()
    for kind in catalogue.RESOURCE_TYPES:
        assert f"| `{kind}` |" in doc
    for name in catalogue.REFUSED:
        assert f"| `{name}` |" in doc
