"""HandlerPackage: the handlers' code archive and their dependency layer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import packaging


@dataclass(frozen=True)
class HandlerPackageArgs:
    """Where the handler sources and their requirements live."""

    prefix: str
    """Physical name prefix, e.g. `blog-analytics-stage`."""
    handlers_dir: Path
    """The `handlers/` package; every *.py below it is deployed."""
    requirements: Path
    """The layer's requirements file (what the handlers import beyond the runtime)."""


class HandlerPackage(pulumi.ComponentResource):
    """The code every handler function deploys, and the layer it runs with."""

    layer_arn: pulumi.Output[str]

    def __init__(self, name: str, args: HandlerPackageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:HandlerPackage", name, None, opts)
        # The cache, pip and bytecode are packaging's (BUILD_ROOT read now: the tests redirect it).
        self.code, layer_dir = packaging.build_package(args.handlers_dir, args.requirements, packaging.BUILD_ROOT)
        layer = aws.lambda_.LayerVersion(
            f"{name}-layer",
            layer_name=f"{args.prefix}-dependencies",
            description=f"Dependencies from {args.requirements.name} for {packaging.LAYER_RUNTIME}/arm64",
            code=pulumi.FileArchive(str(layer_dir)),
            compatible_runtimes=[packaging.LAYER_RUNTIME],
            compatible_architectures=[packaging.LAYER_ARCHITECTURE],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.layer_arn = layer.arn
        self.register_outputs({"layer_arn": self.layer_arn})
