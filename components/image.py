"""AppImage: builds the app's Docker image with pulumi-docker-build and says which reference to run."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi

from components.platform import ImageDestination


def _ignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.exists():
        return []
    lines = (line.strip() for line in ignore_file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(relpath: str, patterns: list[str]) -> bool:
    """Docker's rule in short: the last matching pattern wins; `!pattern` re-includes."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        if any(fnmatch.fnmatchcase(p, body) for p in prefixes):
            ignored = not negate
    return ignored


def context_files(context: Path) -> list[Path]:
    """The files Docker sends as build context, in a stable order."""
    patterns = _ignore_patterns(context)
    files = []
    for path in sorted(context.rglob("*")):
        rel = path.relative_to(context).as_posix()
        if path.is_file() and not _ignored(rel, patterns):
            files.append(path)
    return files


def context_digest(context: Path, build_args: Mapping[str, str] | None = None) -> str:
    """SHA-256 over the build context's paths, modes and contents and the build arguments: the image tag changes
    iff they do (a new base image is a new image, even from the same files)."""
    digest = hashlib.sha256()
    for name, value in sorted((build_args or {}).items()):
        digest.update(f"ARG {name}={value}\0".encode())
    for path in context_files(context):
        rel = path.relative_to(context).as_posix()
        executable = "x" if path.stat().st_mode & 0o111 else "-"
        digest.update(f"{rel}\0{executable}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class AppImageArgs:
    """Inputs of AppImage."""

    context: Path
    """Directory holding the Dockerfile and the build context (the repo's `app/`)."""
    destination: ImageDestination
    """Registry, push or local load, credentials and platforms, from the Platform."""
    base_image: str = ""
    """What the Dockerfile builds FROM (its BASE_IMAGE argument); empty: the Dockerfile's own default."""
    builder: str = ""
    """The buildx builder to build with (e.g. one of driver remote); empty: pulumi-docker-build's default."""
    tag_prefix: str = ""
    """Tags become `<prefix>-<content hash>`: several images of one application share a repository."""


class AppImage(pulumi.ComponentResource):
    """The app image, tagged by the content hash of its build context (never `latest`).

    Pushed images are deployed by digest (`<repo>:<tag>@sha256:...`); a local build (minikube's
    Docker) is deployed by its content-hash tag, which changes whenever the context does.
    """

    ref: pulumi.Output[str]
    """The image reference the workload must run."""
    tag: pulumi.Output[str]
    """`<repository>:<content hash>`."""

    def __init__(self, name: str, args: AppImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Imported here: stacks that deploy a prebuilt image (kubeport:image) never load the docker-build SDK,
        # which costs each of their previews and ups about 25 ms (docs/benchmarks.md).
        import pulumi_docker_build as docker_build  # noqa: PLC0415

        super().__init__("kubeport:image:AppImage", name, None, opts)
        dest = args.destination
        build_args = {"BASE_IMAGE": args.base_image} if args.base_image else {}
        prefix = f"{args.tag_prefix}-" if args.tag_prefix else ""
        tag = pulumi.Output.concat(dest.repository, ":", prefix, context_digest(args.context, build_args)[:16])
        registries = None
        if dest.login is not None:
            registries = [
                docker_build.RegistryArgs(
                    address=dest.login.address,
                    username=dest.login.username,
                    password=dest.login.password,
                )
            ]
        # Explicit, like every provider here: it talks to the Docker daemon named by DOCKER_HOST
        # (minikube's after `eval $(minikube docker-env)`), else the local one.
        builder = docker_build.Provider(f"{name}-builder", opts=pulumi.ResourceOptions(parent=self))
        image = docker_build.Image(
            f"{name}-image",
            docker_build.ImageArgs(
                tags=[tag],
                context=docker_build.BuildContextArgs(location=str(args.context)),
                dockerfile=docker_build.DockerfileArgs(location=str(args.context / "Dockerfile")),
                platforms=[docker_build.Platform(p) for p in dest.platforms] or None,
                build_args=build_args or None,
                builder=docker_build.BuilderConfigArgs(name=args.builder) if args.builder else None,
                push=dest.push,
                load=not dest.push,
                registries=registries,
                # Previews stay fast and need no Docker daemon; the tag is known without a build.
                build_on_preview=False,
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=builder),
        )
        # Read the tag back from the resource so the workload waits for the build to finish.
        self.tag = pulumi.Output.all(image.tags, tag).apply(lambda t: (t[0] or [t[1]])[0])
        # A pushed image runs by digest: `ref` is `<tag>@sha256:<digest>` once pushed.
        self.ref = image.ref if dest.push else self.tag
        self.register_outputs({"ref": self.ref, "tag": self.tag})
