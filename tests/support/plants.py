"""The mistakes the live suite plants in a scratch copy of the project's code, one text edit each, to show that a
broken release fails `up` by name and the running one keeps serving (tests/live/test_failures_fail_fast.py,
test_app_on_a_real_node.py). tests/program/test_plants.py checks offline that each still finds its text exactly
once, so a change to the code fails `make test` rather than the live suite."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plant:
    """In `path` (relative to the project), `old` (found exactly once) becomes `new`."""

    path: str
    old: str
    new: str


NO_WRITABLE_TMP = Plant(
    "components/pod_parts.py",
    '        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],\n',
    "",
)
"""The web pod without its writable /tmp (nginx writes its pid file there) on a read-only root filesystem."""
SELECTOR_MATCHES_NO_POD = Plant(
    "components/pod_parts.py",
    "        selector=selector,\n        ports=[",
    '        selector={**selector, "app.kubernetes.io/component": "nobody"},\n        ports=[',
)
WRONG_TARGET_PORT = Plant("components/pod_parts.py", 'target_port="http",', "target_port=8081,")
"""The Service sends to a port nginx does not listen on."""
NEVER_READY = Plant("components/pod_parts.py", 'READY_PATH = "/readyz"', 'READY_PATH = "/never-ready"')
"""The readiness probe asks a path nginx answers 404 on."""
INFO_FAILS = Plant(
    "app/nginx/default.conf", "        alias /tmp/kubeport/info.json;\n", '        return 500 "broken release\\n";\n'
)
"""A release whose /info answers 500 (its probes, on /healthz and /readyz, still pass): a canary's bad release."""
ANSWERS_SLOWLY = Plant(
    "app/nginx/default.conf", "    location = /404.html {\n", "    limit_rate 1024;\n\n    location = /404.html {\n"
)
"""A release that sends every answer at 1 KB a second: the page takes about 2 s, /info most of a second."""
PLANTS = (NO_WRITABLE_TMP, SELECTOR_MATCHES_NO_POD, WRONG_TARGET_PORT, NEVER_READY, INFO_FAILS, ANSWERS_SLOWLY)
