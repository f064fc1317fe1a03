"""kubeport's components: one job each. The workload knows no cloud; a cluster component knows one."""

from components.image import AppImage, AppImageArgs
from components.platform import Exposure, ImageDestination, IngressRoute, Platform, RegistryLogin
from components.webapp import AutoscalingArgs, WebApp, WebAppArgs

__all__ = [
    "AppImage",
    "AppImageArgs",
    "AutoscalingArgs",
    "Exposure",
    "ImageDestination",
    "IngressRoute",
    "Platform",
    "RegistryLogin",
    "WebApp",
    "WebAppArgs",
]
