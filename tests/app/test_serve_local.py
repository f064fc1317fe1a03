"""app/serve-local: the image's envsubst step and config on the host's nginx, and a clean stop."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from app import bench, serve_local
from tests.support import app_serving as serving
from tests.support.app_serving import APP, require, require_nginx

TEMPLATE = "a=${KUBEPORT_A} b=$KUBEPORT_A c=${KUBEPORT_UNSET} d=$host e=${HOME} f=${KUBEPORT_A:-x} g=$KUBEPORT_AB\n"
ENVIRON = {"KUBEPORT_A": "1", "HOME": "/root", "host": "h"}


def test_envsubst_replaces_only_defined_variables_the_filter_admits() -> None:
    names = [name for name in ENVIRON if name.startswith("KUBEPORT_")]
    assert serve_local.envsubst_python(TEMPLATE, ENVIRON, names) == (
        "a=1 b=1 c=${KUBEPORT_UNSET} d=$host e=${HOME} f=${KUBEPORT_A:-x} g=$KUBEPORT_AB\n"
    )


def test_envsubst_in_python_is_gnu_envsubst() -> None:
    require(shutil.which("envsubst") is not None, "envsubst not found: apt-get install gettext-base")
    names = [name for name in ENVIRON if name.startswith("KUBEPORT_")]
    assert serve_local.envsubst(TEMPLATE, ENVIRON) == serve_local.envsubst_python(TEMPLATE, ENVIRON, names)


def test_prepare_renders_info_where_the_config_reads_it(tmp_path: Path) -> None:
    conf = serve_local.prepare(tmp_path, 8123, {"KUBEPORT_POD": "web-1", "KUBEPORT_VERSION": "9.9.9"})
    assert conf == tmp_path / "etc" / "nginx.conf"
    info_path = tmp_path / "tmp" / "kubeport" / "info.json"
    assert f"alias {info_path};" in (tmp_path / "etc" / "conf.d" / "default.conf").read_text()
    # Undefined variables stay as they are, exactly as the image's entrypoint leaves them.
    text = info_path.read_text()
    assert '"pod": "web-1"' in text and '"version": "9.9.9"' in text and '"node": "${KUBEPORT_NODE}"' in text


def test_local_environment_has_a_value_for_every_field_and_keeps_what_is_set() -> None:
    env = serve_local.local_environment({"KUBEPORT_POD": "mine", "PATH": "/bin"})
    assert env["KUBEPORT_POD"] == "mine" and env["KUBEPORT_TARGET"] == "local" and env["PATH"] == "/bin"
    assert env["KUBEPORT_VERSION"] == serve_local.image_version()
    template = (APP / "nginx" / "templates" / "kubeport" / "info.json.template").read_text()
    names = [name for name in env if name.startswith("KUBEPORT_")]
    assert all(json.loads(serve_local.envsubst_python(template, env, names)).values())


@pytest.mark.parametrize("name", sorted(serve_local.CONFIG_FILES))
def test_host_config_differs_from_the_image_only_in_host_paths_and_listen(tmp_path: Path, name: str) -> None:
    image = (APP / "nginx" / name).read_text()
    site, tmp = tmp_path / "site", Path("/tmp/work/tmp")  # a work dir below /tmp is rewritten only once
    host = serve_local.host_config(image, port=8123, site=site, tmp=tmp)
    image_specific = (serve_local.IMAGE_SITE, f"{serve_local.IMAGE_TMP}/", serve_local.IMAGE_LISTEN)
    changed = [(a, b) for a, b in zip(image.splitlines(), host.splitlines(), strict=True) if a != b]
    assert changed, "the image's config names host-specific paths"
    for before, after in changed:
        assert any(part in before for part in image_specific), before
        undone = after.replace(str(site), serve_local.IMAGE_SITE).replace(f"{tmp}/", f"{serve_local.IMAGE_TMP}/")
        assert undone.replace("listen 127.0.0.1:8123;", serve_local.IMAGE_LISTEN) == before
    assert "/tmp/work/tmp/work/" not in host


def test_missing_nginx_is_reported(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(APP / "serve-local"), "--port", "8123", "--nginx", str(tmp_path / "no-nginx")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 127 and "install nginx" in done.stderr


def test_sigterm_stops_nginx_and_removes_the_work_directory(tmp_path: Path) -> None:
    with serving.serve_local(tmp_path) as server:
        (workdir,) = server.tmpdir.iterdir()
        assert workdir.name.startswith("kubeport-serve-")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=bench.START_TIMEOUT) == 0
        assert list(server.tmpdir.iterdir()) == []
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
            pass


def test_first_load_is_smaller_than_stock_nginx_and_a_revisit_is_all_304() -> None:
    require_nginx()
    with bench.servers() as (ours_port, stock_port):
        ours, stock = bench.Figures.load(ours_port), bench.Figures.load(stock_port)
    # The same page and assets: ours by their fingerprinted names, stock by the names they are written under.
    unprinted = [re.sub(r"\.[0-9a-f]{8}\.", ".", path) for path in ours.first]
    assert unprinted == list(stock.first) and len(ours.first) >= 4
    for (path, response), written in zip(ours.first.items(), stock.first, strict=True):
        assert response.status == 200 and response.headers["content-encoding"] == "gzip", path
        assert len(response.body) < len(stock.first[written].body), path
    assert all((r.status, r.body) == (304, b"") for r in ours.again.values())
