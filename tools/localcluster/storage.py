"""The storage every local cluster offers: local volumes made in advance below the cluster's home (no provisioner
runs), bound to the cluster's node when a pod needs one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STORAGE_CLASS = "kubeport-local"
"""The StorageClass every local cluster offers: local volumes made in advance (no provisioner runs)."""


VOLUMES = 12
"""Local volumes per cluster: enough for the databases and volumes of a test run (a released volume is not reused)."""


def local_storage(home: Path, node: str) -> list[dict[str, Any]]:
    """The StorageClass and its volumes: folders below the cluster's home, on its node, bound when a pod needs one.

    The folders are writable by every uid: a local volume gets no fsGroup ownership change, and the database runs
    as kubeport's numeric non-root user."""
    items: list[dict[str, Any]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
        }
    ]
    for index in range(VOLUMES):
        folder = home / "volumes" / f"volume-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o1777)
        items.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"{STORAGE_CLASS}-{index}"},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "local": {"path": str(folder)},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                                    ]
                                }
                            ]
                        }
                    },
                },
            }
        )
    return items
