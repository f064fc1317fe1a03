"""`python -m tools gen-config`: Pulumi.yaml's config block and the docs' key table come from the key table."""

from __future__ import annotations

import dataclasses

import yaml

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
