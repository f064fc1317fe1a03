"""The local clusters' state directory is private to its user: made 0700, and refused, before anything is written
into it, when it is someone else's, open to others, or a link (it holds the clusters' keys, the registry's password
and a cluster-admin kubeconfig, at a predictable path under the system's temp directory)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tools.localcluster import clusters, nodekinds
from tools.localcluster.catalog import ClusterError, private_state_dir


def environ(folder: Path) -> dict[str, str]:
    return {"KUBEPORT_CLUSTERS": str(folder)}


def test_a_new_state_directory_is_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o000)
    try:
        home = private_state_dir(environ(tmp_path / "clusters"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert private_state_dir(environ(home)) == home, "a private one of this user's is taken as it is"


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701])
def test_one_others_may_enter_is_refused(tmp_path: Path, mode: int) -> None:
    home = tmp_path / "clusters"
    home.mkdir()
    home.chmod(mode)
    with pytest.raises(ClusterError, match=f"has mode {mode:04o}: others may enter it"):
        private_state_dir(environ(home))
    assert stat.S_IMODE(home.stat().st_mode) == mode, "left as it was found"


def test_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "clusters").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ClusterError, match="is not a directory"):
        private_state_dir(environ(tmp_path / "clusters"))


def test_another_users_directory_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "clusters"
    home.mkdir(mode=0o700)
    found = home.lstat()
    other = os.geteuid() + 1
    real_lstat = Path.lstat

    def lstat(self: Path) -> os.stat_result:
        if self == home:  # as another user's would read; changing the owner for real needs root
            values = list(found)
            values[stat.ST_UID] = other
            return os.stat_result(values)
        return real_lstat(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "lstat", lstat)
        with pytest.raises(ClusterError, match=f"belongs to uid {other}"):
            private_state_dir(environ(home))


def test_a_cluster_does_not_start_in_an_open_directory(tmp_path: Path) -> None:
    home = tmp_path / "clusters"
    home.mkdir(mode=0o755)
    home.chmod(0o755)

    class Built:
        def missing(self, _: object) -> list[str]:
            return []

    with pytest.raises(ClusterError, match="others may enter it"):
        clusters.start("kubeport-a", Built(), environ(home))  # type: ignore[arg-type]
    assert list(home.iterdir()) == [], "nothing was written"


def test_a_node_whose_prerequisites_are_missing_is_refused_before_anything_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "clusters"

    class Built:
        def missing(self, _: object) -> list[str]:
            return []

    monkeypatch.setattr(
        nodekinds.RealNode, "missing", lambda self, tools: ["`containerd` not found (Debian: containerd)"]
    )
    with pytest.raises(ClusterError, match=r"kubeport-node: `containerd` not found"):
        clusters.start("kubeport-node", Built(), environ(home))  # type: ignore[arg-type]
    assert not home.exists() or list(home.iterdir()) == [], "nothing was written"
