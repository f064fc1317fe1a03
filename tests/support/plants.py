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
    "components/webapp.py",
    "        selector=selector,\n        ports=[",
    '        selector={**selector, "app.kubernetes.io/component": "nobody"},\n        ports=[',
)
WRONG_TARGET_PORT = Plant("components/webapp.py", 'target_port="http",', "target_port=8081,")
"""The Service sends to a port nginx does not listen on."""
NEVER_READY = Plant("components/pod_parts.py", 'READY_PATH = "/readyz"', 'READY_PATH = "/never-ready"')
"""The readiness probe asks a path nginx answers 404 on."""
PLANTS = (NO_WRITABLE_TMP, SELECTOR_MATCHES_NO_POD, WRONG_TARGET_PORT, NEVER_READY)
