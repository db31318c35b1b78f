"""Cold start: each handler module imported with its clients, against bare boto3.

Every sample is a fresh interpreter that times, inside itself, the imports and the
client creation a Lambda container does before its first event:

- handler (warm .pyc): `import handlers.<m>` + `aws.client(...)` for its clients;
- handler as deployed: the same, with the handlers and the layer's packages copied
  without bytecode and PYTHONDONTWRITEBYTECODE set, as on Lambda, where the code and
  the layer (built with --no-compile) are read-only and nothing can be cached;
- baseline: `import boto3` + `boto3.client(...)` for the same services (the runtime's
  boto3 ships compiled).

Samples are interleaved (handler, as deployed, baseline, handler, ...) so drift on
this noisy machine hits all three alike; each figure is the median ratio.
Also the deployed sizes: the handlers' code and the layer, zipped.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from components import packaging
from handlers.wiring import WIRING, FunctionSpec, Wiring

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"
REQUIREMENTS = HANDLERS / "requirements.txt"
GOAL_RATIO = 1.25

ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "STACK": "bench",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench-view-events",
    "ALLOWED_ORIGINS": '["https://blog.example.com"]',
}


def clients(spec: FunctionSpec) -> list[str]:
    """The clients a function creates: DynamoDB if it has a table, SNS if it publishes."""
    return (["dynamodb"] if spec.tables else []) + (["sns"] if spec.publishes else [])


def handler_code(module: str, services: list[str]) -> str:
    made = "".join(f"; aws.client({s!r})" for s in services)
    return f"import handlers.{module.removeprefix('handlers.')}; from handlers import aws{made}"


def baseline_code(services: list[str]) -> str:
    return "import boto3" + "".join(f"; boto3.client({s!r})" for s in services)


def timed(code: str) -> str:
    """A program that prints how long `code` took, in seconds, inside a fresh interpreter."""
    return f"import time; _t = time.perf_counter(); {code}; print(time.perf_counter() - _t)"


def run_once(code: str, env: dict[str, str], cwd: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", timed(code)], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class ColdStart:
    module: str
    functions: list[str]
    services: list[str]
    handler_ms: float
    deployed_ms: float
    baseline_ms: float
    ratio: float
    deployed_ratio: float


def modules(wiring: Wiring = WIRING) -> dict[str, list[FunctionSpec]]:
    by_module: dict[str, list[FunctionSpec]] = {}
    for spec in wiring.functions:
        by_module.setdefault(spec.module, []).append(spec)
    return by_module


def _bare_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    return env | ENV


def measure(runs: int, layer_packages: list[str], workdir: Path) -> list[ColdStart]:
    base_env = _bare_environment()
    deployed = workdir / "deployed"
    _copy_without_bytecode(layer_packages, deployed)
    deployed_env = base_env | {"PYTHONPATH": str(deployed), "PYTHONDONTWRITEBYTECODE": "1"}
    empty = workdir / "cwd"
    empty.mkdir(exist_ok=True)
    results = []
    for module, specs in modules().items():
        services = clients(specs[0])
        code, base = handler_code(module, services), baseline_code(services)
        samples: dict[str, list[float]] = {"handler": [], "deployed": [], "baseline": []}
        ratios: dict[str, list[float]] = {"handler": [], "deployed": []}
        for _ in range(runs):
            h = run_once(code, base_env, ROOT)
            d = run_once(code, deployed_env, empty)
            b = run_once(base, base_env, empty)
            samples["handler"].append(h)
            samples["deployed"].append(d)
            samples["baseline"].append(b)
            ratios["handler"].append(h / b)
            ratios["deployed"].append(d / b)
        results.append(
            ColdStart(
                module=module,
                functions=[s.name for s in specs],
                services=services,
                handler_ms=statistics.median(samples["handler"]) * 1000,
                deployed_ms=statistics.median(samples["deployed"]) * 1000,
                baseline_ms=statistics.median(samples["baseline"]) * 1000,
                ratio=statistics.median(ratios["handler"]),
                deployed_ratio=statistics.median(ratios["deployed"]),
            )
        )
    return results


def _site_packages() -> Path:
    import pydantic  # noqa: PLC0415 (only to find where the venv keeps the layer's packages)

    return Path(pydantic.__file__).resolve().parent.parent


def _copy_without_bytecode(packages: list[str], target: Path) -> None:
    """The handlers and the layer's top-level packages from this venv, minus __pycache__."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(HANDLERS, target / "handlers", ignore=ignore, dirs_exist_ok=True)
    site = _site_packages()
    for name in packages:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, target / name)


# ---- package sizes ----------------------------------------------------------------------


def zip_size(files: dict[str, Path], path: Path) -> int:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(files.items()):
            archive.write(source, name)
    return path.stat().st_size


def code_files() -> dict[str, Path]:
    """What the code archive holds: every handlers/*.py, no bytecode (components/packaging.py)."""
    return {
        f"handlers/{p.relative_to(HANDLERS).as_posix()}": p
        for p in HANDLERS.rglob("*.py")
        if "__pycache__" not in p.parts
    }


@dataclass(frozen=True)
class Sizes:
    code_kb: float
    layer_kb: float | None
    layer_unzipped_kb: float | None
    layer_packages: list[str]
    layer_error: str | None = None


def build_layer(workdir: Path) -> tuple[Path | None, str | None]:
    """The layer exactly as `pulumi up` builds it (components/packaging.py), without the
    Python 3.12 bytecode the workflows add, which this interpreter cannot make."""
    try:
        layer = packaging.build_layer(REQUIREMENTS, workdir / "layer-cache", bytecode=False)
    except RuntimeError as exc:
        return None, (str(exc).strip().splitlines() or ["pip failed"])[-1]
    return layer / "python", None


def sizes(workdir: Path) -> Sizes:
    code_kb = zip_size(code_files(), workdir / "code.zip") / 1024
    target, error = build_layer(workdir)
    if target is None:
        return Sizes(code_kb, None, None, [], error)
    files = {f"python/{p.relative_to(target).as_posix()}": p for p in target.rglob("*") if p.is_file()}
    layer_kb = zip_size(files, workdir / "layer.zip") / 1024
    unzipped_kb = sum(p.stat().st_size for p in files.values()) / 1024
    packages = sorted(
        p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".pth")) and p.name != "bin"
    )
    return Sizes(code_kb, layer_kb, unzipped_kb, packages)


def run(runs: int) -> tuple[list[ColdStart], Sizes]:
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        workdir = Path(tmp)
        found = sizes(workdir)
        return measure(runs, found.layer_packages, workdir), found
