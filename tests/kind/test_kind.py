"""The kind stack, live: `python -m tools up kind`, the app through its Service, no drift, destroy.

Needs the Pulumi CLI, kubectl, a Docker daemon, the kind cluster `kubeport` (context kind-kubeport) and its
local registry on localhost:5001; runs with KUBEPORT_KIND=1 (make test-kind), otherwise skips and says why.
The tests run in file order on one deployment; `destroy kind --yes` follows the last (tests/kind/conftest.py).
"""

from __future__ import annotations

import json

import pytest

from tests.kind.conftest import PREVIEW_TIMEOUT, STACK, Deployed, http_get, run_stacks

pytestmark = pytest.mark.kind


def test_up_exports_url_image_and_namespace(deployed: Deployed) -> None:
    outputs = deployed.outputs
    assert outputs.get("target") == "existing"
    assert outputs.get("namespace") == deployed.settings.namespace
    assert outputs.get("url"), outputs
    image = outputs.get("image")
    assert isinstance(image, str), outputs
    # Pushed to the local registry and run by digest.
    assert image.startswith(f"{deployed.settings.registry}/"), image
    assert "@sha256:" in image, image


def test_healthz_answers_ok_through_the_service(app_url: str) -> None:
    status, body = http_get(f"{app_url}/healthz")
    assert status == 200, body
    assert body.strip() == "ok"


def test_info_names_the_image_the_stack_deployed(deployed: Deployed, app_url: str) -> None:
    status, body = http_get(f"{app_url}/info")
    assert status == 200, body
    info = json.loads(body)
    assert info["image"] == deployed.outputs["image"]
    assert info["namespace"] == deployed.outputs["namespace"]
    assert info["target"] == "existing"


def test_preview_right_after_up_shows_no_changes(deployed: Deployed) -> None:
    preview = run_stacks(["preview", STACK, "--expect-no-changes"], deployed.env, PREVIEW_TIMEOUT)
    assert preview.code == 0, preview.describe()
