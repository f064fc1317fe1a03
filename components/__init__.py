"""kubeport's components: one job each. The workload knows no cloud; a cluster component knows one."""

from components.image import AppImage, AppImageArgs
from components.options import Autoscaling
from components.platform import Exposure, ImageDestination, IngressRoute, Platform, RegistryLogin
from components.smoke import SmokeCheck, SmokeCheckArgs
from components.webapp import WebApp, WebAppArgs

__all__ = [
    "AppImage",
    "AppImageArgs",
    "Autoscaling",
    "Exposure",
    "ImageDestination",
    "IngressRoute",
    "Platform",
    "RegistryLogin",
    "SmokeCheck",
    "SmokeCheckArgs",
    "WebApp",
    "WebAppArgs",
]
