"""kubeport's components: one job each. The workload knows no cloud; a cluster component knows one."""

from components.image import AppImage, AppImageArgs
from components.platform import Exposure, ImageDestination, Platform, RegistryLogin
from components.webapp import WebApp, WebAppArgs

__all__ = [
    "AppImage",
    "AppImageArgs",
    "Exposure",
    "ImageDestination",
    "Platform",
    "RegistryLogin",
    "WebApp",
    "WebAppArgs",
]
