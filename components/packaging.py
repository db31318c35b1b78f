"""What `pulumi up` deploys as Lambda code: the handlers' sources and a dependency layer.

Both must hash the same on every run of an unchanged tree, or every preview shows a
diff: the code is an AssetArchive of the handler files in sorted order, and the layer
is a directory (`pulumi.FileArchive`), built once per requirements file and reused
from a cache keyed by the file's hash. Both carry bytecode when the program runs on
the Lambda runtime's Python (the GitHub workflows): unchecked-hash .pyc files are
byte-for-byte reproducible, and without them every cold start compiles every module,
because Lambda's code and layer directories are read-only.
"""

from __future__ import annotations

import compileall
import hashlib
import importlib.util
import os
import py_compile
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pulumi

PipRunner = Callable[[Sequence[str]], None]

CODE_PREFIX = "handlers"
LAYER_RUNTIME = "python3.12"
LAYER_ARCHITECTURE = "arm64"
# Wheels for the Lambda platform, whatever machine runs `pulumi up`.
PIP_PLATFORM_ARGS = (
    "--platform", "manylinux2014_aarch64",
    "--implementation", "cp",
    "--python-version", "3.12",
    "--only-binary=:all:",
)  # fmt: skip
# --no-compile: bytecode is added by precompile() only where it is reproducible.
# --require-hashes: every package of the closure is pinned with its wheel's hash, so no
# dependency can float (or be swapped) under an unchanged requirements file and cache key.
PIP_INSTALL_FLAGS = ("--no-compile", "--require-hashes")

LAMBDA_PYTHON = (3, 12)
CODE_MOUNT = "/var/task"
"""Where Lambda unpacks the code archive: the source path compiled into its bytecode."""
LAYER_MOUNT = "/opt/python"
"""Where Lambda mounts a layer's python/ directory: the source path compiled into bytecode."""

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / ".pulumi-build"
"""The layer cache (gitignored). Tests point it elsewhere."""


def handler_files(handlers_dir: Path) -> dict[str, Path]:
    """Every *.py below handlers_dir by its archive path, sorted, without __pycache__."""
    files = {
        path.relative_to(handlers_dir).as_posix(): path
        for path in handlers_dir.rglob("*.py")
        if "__pycache__" not in path.relative_to(handlers_dir).parts
    }
    return dict(sorted(files.items()))


def lambda_bytecode() -> bool:
    """Bytecode is only worth shipping when this interpreter is the runtime's: Python
    ignores a .pyc made by another version (and would compile the source anyway)."""
    return sys.version_info[:2] == LAMBDA_PYTHON


def code_archive(handlers_dir: Path, bytecode_dir: Path | None = None) -> pulumi.AssetArchive:
    """The handlers package as `handlers/...` at the archive root (handler `handlers.x.handler`).

    With `bytecode_dir`, each module's .pyc is compiled there and shipped beside it.
    """
    sources = handler_files(handlers_dir)
    files = sources | (compile_handlers(sources, bytecode_dir) if bytecode_dir is not None else {})
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        name: pulumi.FileAsset(str(path)) for name, path in sorted(files.items())
    }
    return pulumi.AssetArchive({CODE_PREFIX: pulumi.AssetArchive(assets)})


def compile_handlers(sources: dict[str, Path], target: Path) -> dict[str, Path]:
    """Archive path -> an unchecked-hash .pyc of each source, at the path Python looks for it.

    The compiled-in source path is where Lambda unpacks the module, so tracebacks name
    /var/task/handlers/..., never the machine that ran `pulumi up`.
    """
    compiled = {}
    for name, source in sources.items():
        cached = importlib.util.cache_from_source(name)  # "x.py" -> "__pycache__/x.cpython-312.pyc"
        py_compile.compile(
            str(source),
            cfile=str(target / cached),
            dfile=f"{CODE_MOUNT}/{CODE_PREFIX}/{name}",
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        compiled[cached] = target / cached
    return compiled


def build_package(
    handlers_dir: Path,
    requirements: Path,
    build_root: Path = BUILD_ROOT,
    runner: PipRunner | None = None,
    bytecode: bool | None = None,
) -> tuple[pulumi.AssetArchive, Path]:
    """The code archive and the layer directory, both with bytecode or both without
    (default: when this interpreter is the Lambda runtime's, see lambda_bytecode)."""
    bytecode = lambda_bytecode() if bytecode is None else bytecode
    code = code_archive(handlers_dir, build_root / "code-bytecode" if bytecode else None)
    return code, build_layer(requirements, build_root, runner, bytecode=bytecode)


def archive_digest(archive: pulumi.Asset | pulumi.Archive) -> str:
    """A content hash of an archive as Pulumi would package it (names and bytes, in order)."""
    digest = hashlib.sha256()
    _feed(digest, "", archive)
    return digest.hexdigest()


def _feed(digest: hashlib._Hash, prefix: str, item: pulumi.Asset | pulumi.Archive) -> None:
    if isinstance(item, pulumi.AssetArchive):
        for name in sorted(item.assets):
            _feed(digest, f"{prefix}{name}/", item.assets[name])
    elif isinstance(item, pulumi.FileArchive):
        root = Path(item.path)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            _feed_bytes(digest, prefix + path.relative_to(root).as_posix(), path.read_bytes())
    elif isinstance(item, pulumi.FileAsset):
        _feed_bytes(digest, prefix.rstrip("/"), Path(item.path).read_bytes())
    elif isinstance(item, pulumi.StringAsset):
        _feed_bytes(digest, prefix.rstrip("/"), item.text.encode())
    else:
        raise TypeError(f"cannot hash {type(item).__name__}")


def _feed_bytes(digest: hashlib._Hash, name: str, data: bytes) -> None:
    digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())


def layer_cache_key(requirements: Path, precompiled: bool = False) -> str:
    """Changes when the requirements, the target platform or the bytecode change, and only then."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update("\0".join(PIP_PLATFORM_ARGS + PIP_INSTALL_FLAGS).encode())
    if precompiled:
        digest.update(b"\0bytecode-" + ".".join(map(str, sys.version_info[:2])).encode())
    return digest.hexdigest()[:32]


def precompile(site: Path) -> None:
    """Bytecode for every module of the layer, as the running interpreter compiles it.

    Lambda mounts layers read-only, so without .pyc files every cold start compiles
    pydantic from source (bench/coldstart.py: "as deployed"). Hash-based, unchecked
    .pyc files with a fixed source path are byte-for-byte reproducible, so the layer
    still hashes the same on every build.
    """
    ok = compileall.compile_dir(
        str(site),
        quiet=2,
        ddir=LAYER_MOUNT,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise RuntimeError(f"compiling the Lambda layer's bytecode failed in {site}")


def pip_install_args(requirements: Path, target: Path) -> list[str]:
    return [
        "install",
        "--disable-pip-version-check",
        "--quiet",
        *PIP_PLATFORM_ARGS,
        *PIP_INSTALL_FLAGS,
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]


def pinned_requirements(wheels: Sequence[Path], header: str = "") -> str:
    """Pure: a hash-pinned requirements file, one `name==version --hash=sha256:...` per wheel."""
    lines = [header] if header else []
    for wheel in sorted(wheels, key=lambda p: p.name.lower()):
        name, version = wheel.name.split("-")[:2]  # wheel names: name-version-tags.whl
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name.replace('_', '-').lower()}=={version} \\\n    --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


PIN_HEADER = (
    "# The Lambda layer: what the handlers import beyond the python3.12 runtime (which ships boto3).\n"
    "# The whole closure for manylinux2014_aarch64 / CPython 3.12, with each wheel's hash (pip\n"
    "# installs it with --require-hashes). Regenerate, never edit:\n"
    "#   python -m components.packaging pydantic==X.Y.Z crawler-user-agents==A.B.C"
)


def pin_layer(top_level: Sequence[str], requirements: Path, download: Path) -> None:
    """Resolve `top_level` for the Lambda platform and write its pinned, hashed closure."""
    run_pip(["download", "--disable-pip-version-check", "--quiet", *PIP_PLATFORM_ARGS, "-d", str(download), *top_level])
    requirements.write_text(pinned_requirements(sorted(download.glob("*.whl")), PIN_HEADER))


def run_pip(args: Sequence[str]) -> None:
    """The real runner: pip of the interpreter running the Pulumi program."""
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building the Lambda layer failed (pip {' '.join(args)}):\n{result.stderr}")


def build_layer(
    requirements: Path, build_root: Path, runner: PipRunner | None = None, bytecode: bool | None = None
) -> Path:
    """The layer directory (holding `python/`) for these requirements, built on first use.

    `bytecode` (default: when this interpreter is the Lambda runtime's Python, as in the
    GitHub workflows) adds .pyc files; another version's bytecode would be ignored.
    The build goes to a temporary directory renamed into place, so an interrupted build
    never leaves a half-filled cache entry behind.
    """
    bytecode = lambda_bytecode() if bytecode is None else bytecode
    final = build_root / layer_cache_key(requirements, bytecode) / "layer"
    if final.is_dir():
        return final
    staging = final.parent.with_name(f"{final.parent.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "layer" / "python").mkdir(parents=True)
    (runner or run_pip)(pip_install_args(requirements, staging / "layer" / "python"))
    if bytecode:
        precompile(staging / "layer" / "python")
    final.parent.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging.rename(final.parent)
    except OSError:
        if not final.is_dir():  # anything but "another process finished first"
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return final


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        pin_layer(sys.argv[1:] or ["pydantic"], ROOT / "handlers" / "requirements.txt", Path(scratch))
