"""Image destinations shared by every target: minikube's local Docker, Docker Hub, any registry server."""

from __future__ import annotations

import pulumi

from components.platform import ImageDestination, RegistryLogin
from stacks.config import Settings

IMAGE_NAME = "kubeport-web"
LOCAL_REPOSITORY = "kubeport/web"


def build_platforms(settings: Settings, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    return (settings.build_platform,) if settings.build_platform else default


def local(settings: Settings) -> ImageDestination | None:
    """Build straight into the Docker daemon the cluster uses (minikube's, via `minikube docker-env`)."""
    if settings.image:
        return None
    return ImageDestination(repository=LOCAL_REPOSITORY, push=False, platforms=build_platforms(settings))


def pushed(settings: Settings, default_platforms: tuple[str, ...] = ()) -> ImageDestination | None:
    """Push to Docker Hub or a registry server; the workload then runs the image by digest.

    None when the stack deploys a prebuilt image (kubeport:image): nothing is built or pushed.
    """
    if settings.image:
        return None
    platforms = build_platforms(settings, default_platforms)
    if settings.registry == "dockerhub":
        assert settings.dockerhub_token is not None  # guaranteed by config.parse
        return ImageDestination(
            repository=f"docker.io/{settings.dockerhub_user}/{IMAGE_NAME}",
            push=True,
            login=RegistryLogin(
                address="docker.io",
                username=settings.dockerhub_user,
                password=pulumi.Output.secret(settings.dockerhub_token.value),
            ),
            platforms=platforms,
        )
    if settings.registry == "server":
        login = None
        if settings.registry_token is not None:
            login = RegistryLogin(
                address=settings.registry_server.split("/", 1)[0],
                username=settings.registry_user,
                password=pulumi.Output.secret(settings.registry_token.value),
            )
        return ImageDestination(
            repository=f"{settings.registry_server}/{IMAGE_NAME}", push=True, login=login, platforms=platforms
        )
    raise ValueError(f"registry {settings.registry!r} is not a push registry")
