"""The files of a Pulumi DIY backend, read where the backend keeps them: a folder (`file://`) or a bucket of S3 or
any S3-compatible store (`s3://`), under the URL's path as a prefix, as Pulumi reads them.

`python -m tools rollback` needs them: the DIY backend answers `pulumi stack history` with each update's record,
but keeps the checkpoint each update ended with (the image it deployed) only as a file beside the record, which no
CLI command returns.

An `s3://` URL is read with the query keys Pulumi's blob library takes (`endpoint`, `region`, `s3ForcePathStyle` or
`use_path_style`, `disableSSL` or `disable_https`, `profile`, `fips`, `dualstack`, `anonymous`), and the credentials
and CA bundle of the AWS SDK's own chain (`AWS_*` variables, profiles, web identity): the same that `pulumi` itself
uses. TLS peers are verified; `AWS_CA_BUNDLE` names a private CA. Azure Blob (`azblob://`) and GCS (`gs://`) are
refused by name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from tools.ops.operations import OperationError

TRUE = ("true", "1", "yes")
S3_KEYS = frozenset(
    {
        "endpoint",
        "region",
        "s3ForcePathStyle",
        "use_path_style",
        "disableSSL",
        "disable_https",
        "profile",
        "fips",
        "dualstack",
        "anonymous",
        "awssdk",
    }
)
"""The query keys of an `s3://` URL that say where the bucket is and how to reach it (Pulumi's blob library's)."""


class BackendFiles(Protocol):
    """The backend's files: the names in a folder of its tree, and a file's bytes."""

    def names(self, folder: str) -> list[str]:
        """The names of the files directly in `folder` (a path like `.pulumi/history/kubeport/local`)."""

    def read(self, folder: str, name: str) -> bytes:
        """The bytes of `folder/name`."""


@dataclass(frozen=True)
class FolderFiles:
    """A `file://` backend: a folder on this machine."""

    root: Path

    def names(self, folder: str) -> list[str]:
        path = self.root / folder
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []

    def read(self, folder: str, name: str) -> bytes:
        return (self.root / folder / name).read_bytes()


@dataclass(frozen=True)
class S3Files:
    """An `s3://` backend: a bucket, a key prefix (the URL's path), and how to reach them."""

    bucket: str
    prefix: str
    options: Mapping[str, Any] = field(default_factory=dict)
    """boto3's client arguments (endpoint_url, region_name, config) and session arguments (profile_name)."""

    @functools.cached_property
    def client(self) -> Any:
        try:
            import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - only an s3:// backend needs it
            from botocore.config import Config  # type: ignore[import-untyped]  # noqa: PLC0415
        except ImportError as err:  # pragma: no cover - boto3 is in requirements.txt
            raise OperationError("reading an s3:// backend needs boto3: run `make venv`") from err
        options = dict(self.options)
        session = boto3.session.Session(profile_name=options.pop("profile_name", None))
        return session.client("s3", config=Config(**options.pop("config", {})), **options)

    def _key(self, folder: str) -> str:
        return f"{self.prefix}{folder.strip('/')}/"

    def names(self, folder: str) -> list[str]:
        key = self._key(folder)
        found: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=key, Delimiter="/"
            ):
                found.extend(item["Key"].removeprefix(key) for item in page.get("Contents", []))
        except Exception as err:
            raise OperationError(f"listing s3://{self.bucket}/{key} failed: {_reason(err)}") from err
        return sorted(found)

    def read(self, folder: str, name: str) -> bytes:
        key = self._key(folder) + name
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as err:
            raise OperationError(f"reading s3://{self.bucket}/{key} failed: {_reason(err)}") from err
        return body


def _reason(err: Exception) -> str:
    """The first line of an SDK error: its code and message, never a traceback."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def s3_options(query: Mapping[str, list[str]]) -> dict[str, Any]:
    """boto3's arguments for an `s3://` URL's query (pure): where the bucket is and how to reach it."""
    unknown = sorted(set(query) - S3_KEYS)
    if unknown:
        raise OperationError(f"the s3:// backend URL has query keys rollback does not know: {', '.join(unknown)}")
    value = {key: values[-1] for key, values in query.items()}

    def flag(*names: str) -> bool:
        return any(value.get(name, "").lower() in TRUE for name in names)

    options: dict[str, Any] = {}
    config: dict[str, Any] = {}
    if "region" in value:
        options["region_name"] = value["region"]
    if "profile" in value:
        options["profile_name"] = value["profile"]
    plain = flag("disableSSL", "disable_https")
    if "endpoint" in value:
        endpoint = value["endpoint"]
        options["endpoint_url"] = endpoint if "://" in endpoint else f"{'http' if plain else 'https'}://{endpoint}"
    if plain:
        options["use_ssl"] = False
    if flag("s3ForcePathStyle", "use_path_style"):
        config["s3"] = {"addressing_style": "path"}
    if flag("fips"):
        config["use_fips_endpoint"] = True
    if flag("dualstack"):
        config["use_dualstack_endpoint"] = True
    if flag("anonymous"):
        from botocore import UNSIGNED  # type: ignore[import-untyped]  # noqa: PLC0415

        config["signature_version"] = UNSIGNED
    if config:
        options["config"] = config
    return options


def backend_files(url: str) -> BackendFiles:
    """The files of the DIY backend at `url`."""
    if url.startswith("file://"):
        # file:///abs, file://~/in-home, file://./relative, with or without a query (?no_tmp_dir=true).
        return FolderFiles(Path(unquote(url.removeprefix("file://").partition("?")[0])).expanduser())
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise OperationError(f"the backend URL {url!r} names no bucket")
        prefix = unquote(parts.path).strip("/")
        return S3Files(parts.netloc, f"{prefix}/" if prefix else "", s3_options(parse_qs(parts.query)))
    raise OperationError(
        f"rollback reads each update's checkpoint from a file:// or s3:// backend; the backend {url!r} is neither "
        "(azblob:// and gs:// are not read yet: roll back there by reverting the source and running `up`)"
    )
