"""The stand-in images' tags (tools/localcluster/builder.py): a tag names what the image is made of, so a changed
package list, hook, Dockerfile or carried toolchain binary makes a new image, and an unchanged one is reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.localcluster import builder
from tools.toolchain import Toolchain, ToolchainMissingError


def toolchain(tmp_path: Path, versitygw: bytes) -> Toolchain:
    bin_ = tmp_path / "bin"
    bin_.mkdir(parents=True, exist_ok=True)
    binary = bin_ / "versitygw"
    binary.write_bytes(versitygw)
    binary.chmod(0o755)
    return Toolchain(tmp_path)


def test_a_stand_in_carrying_a_tool_is_tagged_by_the_tools_bytes(tmp_path: Path) -> None:
    first = builder.image_key(builder.VERSITYGW, toolchain(tmp_path / "a", b"versitygw 1.8.0"))
    same = builder.image_key(builder.VERSITYGW, toolchain(tmp_path / "b", b"versitygw 1.8.0"))
    rebuilt = builder.image_key(builder.VERSITYGW, toolchain(tmp_path / "c", b"versitygw 1.9.0"))
    assert first == same and first != rebuilt
    assert first != builder.standin_key(builder.VERSITYGW), "the binary is part of the tag, not only the root fs"


def test_a_stand_in_of_packages_alone_keeps_its_root_filesystems_tag(tmp_path: Path) -> None:
    tools = toolchain(tmp_path, b"unused")
    for standin in (builder.NGINX, builder.PYTHON, builder.POSTGRES, builder.REDIS):
        assert builder.image_key(standin, tools) == builder.standin_key(standin)


def test_a_carried_tool_that_is_not_built_is_named(tmp_path: Path) -> None:
    with pytest.raises(ToolchainMissingError, match="versitygw is not built"):
        builder.image_key(builder.VERSITYGW, Toolchain(tmp_path))


def test_each_stand_in_has_a_dockerfile_that_copies_what_it_carries() -> None:
    for standin in builder.STANDINS.values():
        dockerfile = (standin.folder / "Dockerfile").read_text()
        assert "ADD rootfs.tar.gz /" in dockerfile, standin.name
        for tool in standin.tools:
            assert f"COPY {tool} " in dockerfile, (standin.name, tool)
    assert "/app/versitygw" in (builder.VERSITYGW.folder / "Dockerfile").read_text()
