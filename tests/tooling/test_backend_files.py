"""How `rollback` reaches a DIY backend's files: the `s3://` URL read as Pulumi reads it, and the bucket's listing
and objects through the S3 API (botocore's own Stubber answers; the real store is in
tests/live/test_team_state_on_an_object_store.py)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody  # type: ignore[import-untyped]
from botocore.stub import Stubber  # type: ignore[import-untyped]

from tools.ops.backend_files import FolderFiles, S3Files, backend_files, s3_options
from tools.ops.operations import OperationError
from tools.ops.rollback import backend_history

FOLDER = ".pulumi/history/kubeport/shop"
IMAGE = "10.250.0.1:5443/kubeport/kubeport-web:abc@sha256:" + "a" * 64


def test_an_s3_url_names_the_bucket_its_prefix_and_how_to_reach_it() -> None:
    files = backend_files(
        "s3://kubeport-state/teams/web?endpoint=https%3A%2F%2F127.0.0.1%3A9000&s3ForcePathStyle=true&region=eu-west-1"
    )
    assert isinstance(files, S3Files)
    assert (files.bucket, files.prefix) == ("kubeport-state", "teams/web/")
    assert files.options == {
        "region_name": "eu-west-1",
        "endpoint_url": "https://127.0.0.1:9000",
        "config": {"s3": {"addressing_style": "path"}},
    }
    assert backend_files("s3://kubeport-state").prefix == ""  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ({}, {}),
        ({"endpoint": ["minio.internal:9000"]}, {"endpoint_url": "https://minio.internal:9000"}),
        (
            {"endpoint": ["minio.internal:9000"], "disableSSL": ["true"]},
            {"endpoint_url": "http://minio.internal:9000", "use_ssl": False},
        ),
        ({"use_path_style": ["true"]}, {"config": {"s3": {"addressing_style": "path"}}}),
        ({"s3ForcePathStyle": ["false"]}, {}),
        ({"profile": ["deploy"], "fips": ["true"]}, {"profile_name": "deploy", "config": {"use_fips_endpoint": True}}),
        ({"awssdk": ["v2"]}, {}),
    ],
)
def test_the_query_keys_pulumi_takes_become_the_sdks_arguments(
    query: dict[str, list[str]], options: dict[str, Any]
) -> None:
    assert s3_options(query) == options


def test_a_query_key_it_does_not_know_is_refused_by_name() -> None:
    with pytest.raises(OperationError, match="does not know: endpont"):
        backend_files("s3://kubeport-state?endpont=127.0.0.1:9000")


@pytest.mark.parametrize("url", ["gs://state", "azblob://state", "https://api.pulumi.com", "s3://"])
def test_a_backend_it_cannot_read_is_refused_before_anything_is_read(url: str) -> None:
    with pytest.raises(OperationError, match=r"names no bucket|is neither"):
        backend_files(url)


def test_a_file_url_is_the_folder_it_names(tmp_path: Path) -> None:
    assert backend_files(f"file://{tmp_path}?no_tmp_dir=true") == FolderFiles(tmp_path)
    assert FolderFiles(tmp_path).names("no/such/folder") == []


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def stubbed(prefix: str = "teams/") -> tuple[S3Files, Stubber]:
    files = S3Files(
        "kubeport-state",
        prefix,
        {"region_name": "us-east-1", "endpoint_url": "https://127.0.0.1:9000", "aws_access_key_id": "k",
         "aws_secret_access_key": "s"},
    )  # fmt: skip
    stubber = Stubber(files.client)
    stubber.activate()
    return files, stubber


def test_the_history_is_read_from_the_bucket_under_its_prefix_one_folder_deep() -> None:
    files, stubber = stubbed()
    key = f"teams/{FOLDER}/"
    record = gzip.compress(json.dumps({"startTime": 1796613330}).encode())
    checkpoint = {"checkpoint": {"latest": {"resources": [
        {"type": "pulumi:pulumi:Stack", "outputs": {"image": IMAGE}}]}}}  # fmt: skip
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": f"{key}shop-100.history.json.gz"}], "IsTruncated": True, "NextContinuationToken": "t"},
        {"Bucket": "kubeport-state", "Prefix": key, "Delimiter": "/"},
    )
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": f"{key}shop-100.checkpoint.json.gz"}, {"Key": f"{key}shop-100.history.json.gz.attrs"}]},
        {"Bucket": "kubeport-state", "Prefix": key, "Delimiter": "/", "ContinuationToken": "t"},
    )
    # Gzipped, as PULUMI_DIY_BACKEND_GZIP writes them: the checkpoint is read, then its record.
    stubber.add_response(
        "get_object", {"Body": body(gzip.compress(json.dumps(checkpoint).encode()))},
        {"Bucket": "kubeport-state", "Key": f"{key}shop-100.checkpoint.json.gz"},
    )  # fmt: skip
    stubber.add_response(
        "get_object", {"Body": body(record)}, {"Bucket": "kubeport-state", "Key": f"{key}shop-100.history.json.gz"}
    )
    assert backend_history(files, "shop") == [(1796613330, IMAGE)]
    stubber.assert_no_pending_responses()


def test_a_refused_listing_is_named_with_the_stores_answer() -> None:
    files, stubber = stubbed("")
    stubber.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
    with pytest.raises(
        OperationError, match=r"listing s3://kubeport-state/\.pulumi/history/kubeport/shop/ failed: .*AccessDenied"
    ):
        backend_history(files, "shop")
