#!/usr/bin/env python3
"""Serve the app with the host's nginx and exactly the image's nginx config (run it as `app/serve-local`).

What the image does at container start, done here in a temporary directory without root:
  1. render app/nginx/templates/**/*.template like the image's entrypoint (envsubst of the defined KUBEPORT_*
     variables only, into the directory that stands for the image's /tmp), with local values for what the
     Deployment sets (KUBEPORT_* variables already in the environment win);
  2. copy the image's nginx.conf and conf.d/default.conf, rewriting only what must differ on a host:
     the site directory, the image's /tmp, and the listen address (127.0.0.1:PORT instead of 8080);
  3. run nginx in the foreground (`daemon off;`, as the image's CMD), access log on stdout, errors on stderr.
SIGTERM, SIGINT or SIGHUP stops nginx (forwarded as SIGTERM) and the temporary directory is removed.
It serves the built site, app/site: after editing app/src, run `make site` (minify, fingerprint, .gz twins);
nginx picks the new files up within 10 s (the config's open_file_cache_valid).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

APP = Path(__file__).resolve().parent
SITE = APP / "site"
NGINX_DIR = APP / "nginx"
TEMPLATES = NGINX_DIR / "templates"
DOCKERFILE = APP / "Dockerfile"

# What differs between the image and a host, and nothing else (host_config):
IMAGE_SITE = "/usr/share/nginx/html"
"""Where the image keeps the site (the Dockerfile's `COPY site/`)."""
IMAGE_TMP = "/tmp"
"""The image's only writable directory, and its NGINX_ENVSUBST_OUTPUT_DIR."""
IMAGE_LISTEN = "listen 8080;"
CONFIG_FILES = {"nginx.conf": "nginx.conf", "default.conf": "conf.d/default.conf"}
"""app/nginx/<file> -> its place below /etc/nginx in the image (the Dockerfile's COPY lines)."""
ENVSUBST_FILTER = "^KUBEPORT_"
"""The image's NGINX_ENVSUBST_FILTER: only variables whose names match it are substituted."""
TEMPLATE_SUFFIX = ".template"

NGINX = "/usr/sbin/nginx"
STOP_TIMEOUT = 10.0
"""Seconds nginx gets to stop on an unexpected exit of serve-local before it is killed."""

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def image_version(dockerfile: Path = DOCKERFILE) -> str:
    """The version baked into the image: the default of the Dockerfile's `ARG KUBEPORT_VERSION`."""
    match = re.search(r"^ARG KUBEPORT_VERSION=(\S+)$", dockerfile.read_text(), re.MULTILINE)
    if match is None:
        raise ValueError(f"{dockerfile}: no `ARG KUBEPORT_VERSION=<version>` line")
    return match[1]


def local_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the templates: local stand-ins for what the Deployment sets, unless already set."""
    defaults = {
        "KUBEPORT_TARGET": "local",
        "KUBEPORT_NAMESPACE": "local",
        "KUBEPORT_POD": "serve-local",
        "KUBEPORT_NODE": socket.gethostname(),
        "KUBEPORT_IMAGE": "none: app/site served by the host's nginx",
        "KUBEPORT_RELEASE": "none: not deployed",
        "KUBEPORT_VERSION": image_version(),
    }
    return {**defaults, **environ}


def envsubst_python(text: str, environ: Mapping[str, str], names: list[str]) -> str:
    """GNU envsubst with a SHELL-FORMAT: `$NAME` and `${NAME}` are replaced for the listed names only."""
    allowed = set(names)

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        return environ.get(name, "") if name in allowed else match[0]

    return _VARIABLE.sub(replace, text)


def envsubst(text: str, environ: Mapping[str, str]) -> str:
    """The image entrypoint's step: envsubst of the defined variables that match its filter.

    Runs the host's `envsubst` (Debian: gettext-base) when there is one, else the same substitution in Python.
    """
    names = sorted(name for name in environ if re.search(ENVSUBST_FILTER, name))
    binary = shutil.which("envsubst")
    if binary is None:
        return envsubst_python(text, environ, names)
    shell_format = " ".join(f"${{{name}}}" for name in names)
    done = subprocess.run(
        [binary, shell_format], input=text, env=dict(environ), capture_output=True, text=True, check=True
    )
    return done.stdout


def render_templates(templates: Path, output: Path, environ: Mapping[str, str]) -> list[Path]:
    """Render every `*.template` below `templates` to the same relative path below `output`, minus the suffix."""
    rendered = []
    for template in sorted(templates.rglob(f"*{TEMPLATE_SUFFIX}")):
        target = output / template.relative_to(templates).as_posix().removesuffix(TEMPLATE_SUFFIX)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(envsubst(template.read_text(), environ))
        rendered.append(target)
    return rendered


def host_config(text: str, *, port: int, site: Path, tmp: Path) -> str:
    """The image's config with the three host differences rewritten, and nothing else.

    `/usr/share/nginx/html` -> the site directory, `/tmp/...` -> below `tmp`, `listen 8080;` ->
    `listen 127.0.0.1:<port>;`. One pass, so a replacement is never rewritten again.
    """
    replacements = {IMAGE_SITE: str(site), f"{IMAGE_TMP}/": f"{tmp}/", IMAGE_LISTEN: f"listen 127.0.0.1:{port};"}
    image_tmp = rf"(?<![\w./-]){re.escape(IMAGE_TMP)}/"
    pattern = re.compile("|".join([re.escape(IMAGE_SITE), image_tmp, re.escape(IMAGE_LISTEN)]))
    return pattern.sub(lambda match: replacements[match[0]], text)


def prepare(workdir: Path, port: int, environ: Mapping[str, str]) -> Path:
    """Lay out config and rendered templates in `workdir`; returns the nginx.conf to run.

    workdir/etc  stands for /etc/nginx (nginx.conf, conf.d/default.conf);
    workdir/tmp  stands for the image's /tmp (pid, temp files, rendered templates).
    """
    etc, tmp = workdir / "etc", workdir / "tmp"
    (etc / "conf.d").mkdir(parents=True)
    tmp.mkdir()
    for source, target in CONFIG_FILES.items():
        text = (NGINX_DIR / source).read_text()
        (etc / target).write_text(host_config(text, port=port, site=SITE, tmp=tmp))
    render_templates(TEMPLATES, tmp, environ)
    return etc / "nginx.conf"


def nginx_command(nginx: str, workdir: Path, conf: Path) -> list[str]:
    """The image's CMD (`nginx -g "daemon off;"`) with the work dir as prefix and the config in it.

    `-e stderr`: nginx logs startup errors there rather than to a compiled-in file a user may not write.
    """
    directives = "daemon off;"
    if os.geteuid() == 0:
        # As root, nginx would run its workers as `nobody`; keep them with the invoking user, as without root.
        directives += " user root;"
    return [nginx, "-p", f"{workdir}/", "-e", "stderr", "-c", str(conf), "-g", directives]


def serve(port: int, nginx: str = NGINX) -> int:
    """Run nginx in the foreground until it exits or a stop signal arrives; returns nginx's exit status."""
    process: subprocess.Popen[bytes] | None = None
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    with tempfile.TemporaryDirectory(prefix="kubeport-serve-") as workdir:
        conf = prepare(Path(workdir), port, local_environment(os.environ))
        if stopping:
            return 0
        print(f"serve-local: http://127.0.0.1:{port}/ ({nginx}, config {conf})", file=sys.stderr, flush=True)
        process = subprocess.Popen(nginx_command(nginx, Path(workdir), conf))
        try:
            if stopping:
                process.send_signal(signal.SIGTERM)
            code = process.wait()
        finally:
            # Whatever happened here, nginx does not outlive serve-local.
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return code if code >= 0 else 128 - code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="serve-local", description="Serve app/ on 127.0.0.1 with the host's nginx and the image's config."
    )
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default: 8080)")
    parser.add_argument("--nginx", default=NGINX, help=f"nginx binary (default: {NGINX})")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be 1-65535")
    if shutil.which(args.nginx) is None:
        print(f"serve-local: {args.nginx} not found; install nginx (Debian: apt-get install nginx)", file=sys.stderr)
        return 127
    return serve(args.port, args.nginx)


if __name__ == "__main__":
    sys.exit(main())
