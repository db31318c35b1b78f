"""HandlerPackage: the handlers' code archive and their dependency layer."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    build_root: Path | None = None
    """Layer cache directory; None means packaging.BUILD_ROOT."""
    pip_runner: packaging.PipRunner | None = field(default=None, compare=False)
    """Runs `pip <args>`; None means packaging.run_pip (tests inject a fake)."""
    bytecode: bool | None = None
    """Ship .pyc files in the code and the layer; None means packaging.lambda_bytecode()."""


class HandlerPackage(pulumi.ComponentResource):
    """The code every handler function deploys, and the layer it runs with."""

    layer_arn: pulumi.Output[str]

    def __init__(self, name: str, args: HandlerPackageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("blog-analytics:index:HandlerPackage", name, None, opts)
        self.code, layer_dir = packaging.build_package(
            args.handlers_dir,
            args.requirements,
            args.build_root or packaging.BUILD_ROOT,
            args.pip_runner or packaging.run_pip,
            args.bytecode,
        )
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
