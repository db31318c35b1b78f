"""Cold start: each handler module imported with its clients, against bare boto3.

Every sample is a fresh interpreter that times, inside itself, the imports and the
client creation a Lambda container does before its first event:

- as deployed: `import handlers.<m>` + `aws.client(...)` for its clients, from a copy
  of the handlers and the layer's packages carrying the unchecked-hash bytecode that
  `pulumi up` ships when it runs on the runtime's Python (components/packaging.py),
  with PYTHONDONTWRITEBYTECODE set: on Lambda /var/task and /opt are read-only;
- without bytecode: the same copy minus every .pyc, which is what a deploy from
  another Python version ships (each cold start compiles every module);
- baseline: `import boto3` + `boto3.client(...)` for the same services (the runtime's
  boto3 ships compiled).

One more row times `import pydantic` (what the schema imports from it) plus boto3 and
a DynamoDB client: the floor for any handler that validates with pydantic.
Samples are interleaved (as deployed, without bytecode, baseline, ...) so drift on
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
from handlers.wiring import WIRING, FunctionSpec, Wiring, topic_name

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"
REQUIREMENTS = HANDLERS / "requirements.txt"
GOAL_RATIO = 1.15
"""Functions that load no pydantic: at most this times bare boto3 with the same clients."""
GOAL_RATIO_VALIDATING = 1.40
"""Functions that validate with the pydantic schema: pydantic's import alone is about 1.36x."""

ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "STACK": "bench",
    "TOPIC_ARN": f"arn:aws:sns:us-east-1:123456789012:{topic_name('bench')}",
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
    """A program that prints the CPU time (user + system) `code` took, in seconds, inside a
    fresh interpreter. CPU time, not wall time: a Lambda init has its vCPU to itself and is
    CPU-bound (imports, unmarshalling, client set-up), while on this shared machine wall time
    also counts the time other work holds the cores, which swung single ratios by 0.2x."""
    return f"import time; _t = time.process_time(); {code}; print(time.process_time() - _t)"


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
    deployed_ms: float
    source_only_ms: float
    baseline_ms: float
    ratio: float
    """As deployed (with bytecode) / baseline: the figure the goal is judged by."""
    source_only_ratio: float
    validates: bool = False
    """Importing the module loads pydantic (its goal is GOAL_RATIO_VALIDATING)."""

    @property
    def goal(self) -> float:
        return GOAL_RATIO_VALIDATING if self.validates else GOAL_RATIO


def imports_pydantic(module: str, env: dict[str, str], cwd: Path) -> bool:
    """Whether importing a handler module loads pydantic, in a fresh interpreter."""
    code = f"import importlib, sys; importlib.import_module({module!r}); print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1] == "True"


PYDANTIC_FLOOR = "pydantic import alone"
PYDANTIC_IMPORT = "import pydantic; from pydantic import BaseModel, Field, ValidationError"


def modules(wiring: Wiring = WIRING) -> dict[str, list[FunctionSpec]]:
    by_module: dict[str, list[FunctionSpec]] = {}
    for spec in wiring.functions:
        by_module.setdefault(spec.module, []).append(spec)
    return by_module


def _bare_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    return env | ENV


def variants(wiring: Wiring = WIRING) -> list[tuple[str, list[str], list[str], str]]:
    """(module, functions, services, code) per row: every handler module, then the pydantic floor."""
    rows = [
        (module, [s.name for s in specs], clients(specs[0]), handler_code(module, clients(specs[0])))
        for module, specs in modules(wiring).items()
    ]
    return [*rows, (PYDANTIC_FLOOR, [], ["dynamodb"], f"{PYDANTIC_IMPORT}; {baseline_code(['dynamodb'])}")]


def measure(runs: int, layer_packages: list[str], workdir: Path) -> list[ColdStart]:
    base_env = _bare_environment()
    compiled, source_only = workdir / "deployed", workdir / "source-only"
    _copy_deployed(layer_packages, compiled, bytecode=True)
    _copy_deployed(layer_packages, source_only, bytecode=False)
    readonly = {"PYTHONDONTWRITEBYTECODE": "1"}
    empty = workdir / "cwd"
    empty.mkdir(exist_ok=True)
    results = []
    for module, functions, services, code in variants():
        base = baseline_code(services)
        samples: dict[str, list[float]] = {"deployed": [], "source_only": [], "baseline": []}
        for _ in range(runs):
            samples["deployed"].append(run_once(code, base_env | readonly | {"PYTHONPATH": str(compiled)}, empty))
            samples["source_only"].append(run_once(code, base_env | readonly | {"PYTHONPATH": str(source_only)}, empty))
            samples["baseline"].append(run_once(base, base_env, empty))
        pairs = list(zip(samples["deployed"], samples["source_only"], samples["baseline"], strict=True))
        results.append(
            ColdStart(
                module=module,
                functions=functions,
                services=services,
                deployed_ms=statistics.median(samples["deployed"]) * 1000,
                source_only_ms=statistics.median(samples["source_only"]) * 1000,
                baseline_ms=statistics.median(samples["baseline"]) * 1000,
                ratio=statistics.median(d / b for d, _, b in pairs),
                source_only_ratio=statistics.median(s / b for _, s, b in pairs),
                validates=module == PYDANTIC_FLOOR
                or imports_pydantic(module, base_env | readonly | {"PYTHONPATH": str(compiled)}, empty),
            )
        )
    return results


def _site_packages() -> Path:
    import pydantic  # noqa: PLC0415 (only to find where the venv keeps the layer's packages)

    return Path(pydantic.__file__).resolve().parent.parent


def _copy_deployed(packages: list[str], target: Path, bytecode: bool) -> None:
    """The handlers and the layer's top-level packages from this venv, with the bytecode
    packaging would ship from this interpreter, or with none."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    site = _site_packages()
    layer = target / "layer"
    for name in packages:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, layer / name, ignore=ignore, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, layer / name)
    code = target / "handlers"
    sources = packaging.handler_files(HANDLERS)
    for name, path in sources.items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, code / name)
    if bytecode:
        packaging.compile_handlers(sources, code)
        packaging.precompile(layer)
    # One directory on the path, as /var/task and /opt/python are both on Lambda's.
    for entry in layer.iterdir():
        entry.rename(target / entry.name)
    layer.rmdir()


# ---- package sizes ----------------------------------------------------------------------


def zip_size(files: dict[str, Path], path: Path) -> int:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(files.items()):
            archive.write(source, name)
    return path.stat().st_size


def code_files(bytecode_dir: Path | None) -> dict[str, Path]:
    """What the code archive holds (components/packaging.py), with or without bytecode."""
    sources = packaging.handler_files(HANDLERS)
    compiled = packaging.compile_handlers(sources, bytecode_dir) if bytecode_dir is not None else {}
    return {f"handlers/{name}": path for name, path in (sources | compiled).items()}


@dataclass(frozen=True)
class Sizes:
    code_kb: float
    """Zipped, with the bytecode the workflows ship."""
    code_source_kb: float
    layer_kb: float | None
    layer_source_kb: float | None
    layer_unzipped_kb: float | None
    layer_packages: list[str]
    layer_error: str | None = None


def build_layer(workdir: Path, bytecode: bool) -> tuple[Path | None, str | None]:
    """The layer exactly as `pulumi up` builds it (components/packaging.py); this
    interpreter's bytecode stands in for the 3.12 bytecode the workflows add."""
    try:
        layer = packaging.build_layer(REQUIREMENTS, workdir / "layer-cache", bytecode=bytecode)
    except RuntimeError as exc:
        return None, (str(exc).strip().splitlines() or ["pip failed"])[-1]
    return layer / "python", None


def _layer_zip(target: Path, path: Path) -> tuple[float, float]:
    files = {f"python/{p.relative_to(target).as_posix()}": p for p in target.rglob("*") if p.is_file()}
    return zip_size(files, path) / 1024, sum(p.stat().st_size for p in files.values()) / 1024


def sizes(workdir: Path) -> Sizes:
    code_kb = zip_size(code_files(workdir / "code-pyc"), workdir / "code.zip") / 1024
    code_source_kb = zip_size(code_files(None), workdir / "code-source.zip") / 1024
    target, error = build_layer(workdir, bytecode=True)
    source_target, _ = build_layer(workdir, bytecode=False)
    if target is None or source_target is None:
        return Sizes(code_kb, code_source_kb, None, None, None, [], error)
    layer_kb, unzipped_kb = _layer_zip(target, workdir / "layer.zip")
    layer_source_kb, _ = _layer_zip(source_target, workdir / "layer-source.zip")
    packages = sorted(
        p.name
        for p in target.iterdir()
        if not p.name.endswith((".dist-info", ".pth")) and p.name not in ("bin", "__pycache__")
    )
    return Sizes(code_kb, code_source_kb, layer_kb, layer_source_kb, unzipped_kb, packages)


def run(runs: int) -> tuple[list[ColdStart], Sizes]:
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        workdir = Path(tmp)
        found = sizes(workdir)
        return measure(runs, found.layer_packages, workdir), found
