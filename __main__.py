"""kubeport: config -> platform -> image -> workload -> outputs. The target is chosen by stack config alone."""

from pathlib import Path

import pulumi

import stacks
from components import AppImage, AppImageArgs, WebApp, WebAppArgs

# The engine ends a run with SIGINT; the program then stops without a traceback under the engine's own error.
stacks.stop_quietly_when_interrupted()
settings = stacks.load_settings()
application = stacks.load_application(settings)
platform = stacks.platform_for(settings, application)

if settings.part == "cluster":
    # The cluster side only: app stacks (target stackref) deploy onto it through what this exports.
    stacks.export_cluster(settings, platform)
elif application is not None:
    # Several services from workload files (kubeport:application), their databases provisioned for the target.
    from stacks.application.deploy import deploy

    deployed = deploy(application, settings, platform)
    pulumi.export("target", platform.target)
    pulumi.export("url", deployed.url)
    pulumi.export("namespace", deployed.namespace)
    pulumi.export("services", deployed.services)
    pulumi.export("images", deployed.images)
    if deployed.ingress_address is not None:
        pulumi.export("ingressAddress", deployed.ingress_address)
    for name, value in platform.outputs.items():
        pulumi.export(name, value)
else:
    # A prebuilt image (kubeport:image) is deployed as it is; otherwise app/ is built for the target.
    image = (
        pulumi.Output.from_input(settings.image)
        if platform.image is None
        else AppImage(
            "app",
            AppImageArgs(
                context=Path(__file__).parent / "app",
                destination=platform.image,
                base_image=settings.base_image,
                builder=settings.builder,
            ),
        ).ref
    )
    web = WebApp(
        "web",
        WebAppArgs(
            platform=platform,
            image=image,
            namespace=settings.namespace,
            replicas=settings.replicas,
            smoke_check=settings.smoke_check,
            autoscaling=settings.autoscaling,
            host=settings.host,
            tls_secret=settings.tls_secret,
            canary=settings.canary,
        ),
    )
    pulumi.export("target", platform.target)
    pulumi.export("url", web.url)
    pulumi.export("namespace", web.namespace)
    pulumi.export("image", image)
    if web.ingress_address is not None:
        # Point the host's DNS record here (an A record for an IP, a CNAME for a hostname).
        pulumi.export("ingressAddress", web.ingress_address)
    for name, value in platform.outputs.items():
        pulumi.export(name, value)

# Last: what the program made lives until exit; spare the collector scanning it again (0.1 s a run).
stacks.keep_heap_until_exit()
