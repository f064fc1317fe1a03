"""toolchain/install-packages, which `make setup`, `make test`, `make up` and CI run: it installs exactly the
Debian packages that are missing, as root or through sudo, saying which, starts no service while it does, and
leaves a machine's own service policy as it was. Run against stand-ins for dpkg-query, apt-get, sudo and id."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.stack_files import ROOT

SCRIPT = ROOT / "toolchain" / "install-packages"
MISSING = ("nginx", "ipset")


def stand_ins(folder: Path, uid: int, sudo: bool) -> Path:
    """A bin folder: dpkg-query says MISSING are not installed, apt-get and sudo record what they were asked."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    log = folder / "calls"
    scripts = {
        "dpkg-query": "for p in " + " ".join(MISSING) + '; do [ "$p" = "${@: -1}" ] && exit 1; done\n'
        'printf "install ok installed"\n',
        "apt-get": f'echo "apt-get $* policy:$(cat "$KUBEPORT_POLICY_RC_D" 2>/dev/null | tail -1)" >> {log}\n',
        "id": f"echo {uid}\n",
    }
    if sudo:
        scripts["sudo"] = f'echo "sudo $*" >> {log}\nwhile [[ $1 == -* ]]; do shift; done\n"$@"\n'
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}")
        path.chmod(0o755)
    return bin_dir


def run(
    tmp_path: Path, uid: int = 0, sudo: bool = False, policy_exists: bool = False
) -> subprocess.CompletedProcess[str]:
    bin_dir = stand_ins(tmp_path, uid, sudo)
    policy = tmp_path / "policy-rc.d"
    if policy_exists:
        policy.write_text("#!/bin/sh\nexit 0\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "KUBEPORT_POLICY_RC_D": str(policy), "HOME": str(tmp_path)}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().splitlines() if log.exists() else []


def test_as_root_it_installs_exactly_what_is_missing_with_services_held_and_says_so(tmp_path: Path) -> None:
    done = run(tmp_path, uid=0)
    assert done.returncode == 0, done.stderr
    assert f"installing Debian packages with apt-get: {' '.join(MISSING)}" in done.stdout
    update, install = calls(tmp_path)
    assert update.startswith("apt-get update")
    # While apt-get installs, the policy answers 101: no package's service starts; afterwards it is gone.
    assert install == f"apt-get install -y -qq {' '.join(MISSING)} policy:exit 101"
    assert not (tmp_path / "policy-rc.d").exists()


def test_through_sudo_when_not_root_and_a_policy_of_the_machines_own_stays(tmp_path: Path) -> None:
    done = run(tmp_path, uid=1000, sudo=True, policy_exists=True)
    assert done.returncode == 0, done.stderr
    assert "through sudo" in done.stdout
    sudo = [line for line in calls(tmp_path) if line.startswith("sudo ")]
    assert [line.split()[2:4] for line in sudo] == [["apt-get", "update"], ["apt-get", "install"]]
    assert (tmp_path / "policy-rc.d").read_text() == "#!/bin/sh\nexit 0\n"


def test_without_root_or_sudo_it_names_the_packages_and_fails(tmp_path: Path) -> None:
    done = run(tmp_path, uid=1000, sudo=False)
    assert done.returncode == 1
    assert all(p in done.stderr for p in MISSING) and calls(tmp_path) == []
