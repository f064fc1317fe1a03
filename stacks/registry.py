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


DOCKER_HUB_AUTH = "https://index.docker.io/v1/"
"""The key Docker Hub credentials go under in a docker config (the kubelet looks them up there)."""


def pull_login(settings: Settings, destination: ImageDestination | None) -> RegistryLogin | None:
    """The credentials nodes need to pull the stack's image from a private registry they have no rights to.

    None for a local build, an anonymous registry and the cloud's own registry (its nodes are granted pulls;
    its push token is short-lived and must not become a pull secret). kubeport:registryPullUser/Token, when set,
    replace the push login in the pull Secret.
    """
    if destination is not None:
        if not destination.push or destination.login is None or settings.registry == "native":
            return None
        login = destination.login
        address = DOCKER_HUB_AUTH if settings.registry == "dockerhub" else login.address
        return _pull_only_where_set(settings, RegistryLogin(address, login.username, login.password))
    if settings.image and settings.registry_token is not None:
        host = settings.registry_server.split("/", 1)[0]
        login = RegistryLogin(
            address=DOCKER_HUB_AUTH if host in ("docker.io", "index.docker.io") else host,
            username=settings.registry_user,
            password=pulumi.Output.secret(settings.registry_token.value),
        )
        return _pull_only_where_set(settings, login)
    return None


def _pull_only_where_set(settings: Settings, login: RegistryLogin) -> RegistryLogin:
    """`login`, or at its address the user who may only pull (kubeport:registryPullUser/Token) where the stack
    names one: the push login then stays with the build."""
    if settings.registry_pull_token is None:
        return login
    token = pulumi.Output.secret(settings.registry_pull_token.value)
    return RegistryLogin(address=login.address, username=settings.registry_pull_user, password=token)
