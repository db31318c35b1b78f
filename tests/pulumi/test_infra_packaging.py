"""Packaging: a code archive and a layer that hash the same for an unchanged tree."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pulumi
import pytest

from components import packaging


@pytest.fixture
def handlers_dir(tmp_path: Path) -> Path:
    root = tmp_path / "handlers"
    (root / "__pycache__").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "views.py").write_text("def handler(event, context): ...\n")
    (root / "api.py").write_text("X = 1\n")
    (root / "__pycache__" / "views.cpython-312.py").write_text("stale")
    (root / "requirements.txt").write_text("pydantic==2.14.3\n")
    return root


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("pydantic==2.14.3\n")
    return path


class FakePip:
    """Records each pip call and writes one file where the packages would go."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> None:
        self.calls.append(list(args))
        target = Path(args[list(args).index("--target") + 1])
        (target / "pkg").mkdir(parents=True, exist_ok=True)
        (target / "pkg" / "__init__.py").write_text("")


def test_packaging_code_archive_holds_sorted_python_files_under_handlers(handlers_dir: Path) -> None:
    archive = packaging.code_archive(handlers_dir)
    inner = archive.assets["handlers"]
    assert isinstance(inner, pulumi.AssetArchive)
    assert list(inner.assets) == ["__init__.py", "api.py", "views.py"]


def test_packaging_code_archive_digest_is_stable_across_builds(handlers_dir: Path) -> None:
    first = packaging.archive_digest(packaging.code_archive(handlers_dir))
    os.utime(handlers_dir / "views.py", (0, 0))  # a touched file is not a changed file
    assert packaging.archive_digest(packaging.code_archive(handlers_dir)) == first


def test_packaging_code_archive_digest_changes_with_the_code(handlers_dir: Path) -> None:
    first = packaging.archive_digest(packaging.code_archive(handlers_dir))
    (handlers_dir / "views.py").write_text("def handler(event, context): return 1\n")
    assert packaging.archive_digest(packaging.code_archive(handlers_dir)) != first


def _archive_files(archive: pulumi.AssetArchive) -> dict[str, bytes]:
    inner = archive.assets["handlers"]
    assert isinstance(inner, pulumi.AssetArchive)
    files: dict[str, bytes] = {}
    for name, asset in inner.assets.items():
        assert isinstance(asset, pulumi.FileAsset), name
        files[name] = Path(asset.path).read_bytes()
    return files


def test_packaging_code_archive_ships_bytecode_beside_each_module(handlers_dir: Path, tmp_path: Path) -> None:
    files = _archive_files(packaging.code_archive(handlers_dir, tmp_path / "pyc"))
    tag = sys.implementation.cache_tag
    assert sorted(files) == sorted(
        ["__init__.py", "api.py", "views.py"] + [f"__pycache__/{m}.{tag}.pyc" for m in ("__init__", "api", "views")]
    )
    pyc = files[f"__pycache__/views.{tag}.pyc"]
    assert int.from_bytes(pyc[4:8], "little") == 0b01, "hash-based and unchecked: nothing to stat on Lambda"
    assert b"/var/task/handlers/views.py" in pyc and str(tmp_path).encode() not in pyc


def test_packaging_code_bytecode_is_reproducible(handlers_dir: Path, tmp_path: Path) -> None:
    first = packaging.archive_digest(packaging.code_archive(handlers_dir, tmp_path / "a"))
    assert packaging.archive_digest(packaging.code_archive(handlers_dir, tmp_path / "b")) == first


def test_packaging_code_bytecode_is_what_python_runs(handlers_dir: Path, tmp_path: Path) -> None:
    """Unpacked like /var/task and imported read-only, the module comes from the shipped .pyc."""
    (handlers_dir / "views.py").write_text("ANSWER = 42\n")
    task = tmp_path / "task"
    for name, data in _archive_files(packaging.code_archive(handlers_dir, tmp_path / "pyc")).items():
        (task / "handlers" / name).parent.mkdir(parents=True, exist_ok=True)
        (task / "handlers" / name).write_bytes(data)
    (task / "handlers" / "views.py").write_text("ANSWER = 'compiled from source'\n")  # ignored: unchecked hash
    result = subprocess.run(
        [sys.executable, "-B", "-c", "import handlers.views as v; print(v.ANSWER, v.__spec__.cached is not None)"],
        cwd=task,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["42", "True"]


@pytest.mark.parametrize("bytecode", [True, False])
def test_packaging_code_and_layer_carry_bytecode_together(
    handlers_dir: Path, requirements: Path, tmp_path: Path, bytecode: bool
) -> None:
    code, layer = packaging.build_package(handlers_dir, requirements, tmp_path / "build", FakePip(), bytecode)
    code_pyc = [name for name in _archive_files(code) if name.endswith(".pyc")]
    layer_pyc = list(layer.rglob("*.pyc"))
    assert (bool(code_pyc), bool(layer_pyc)) == (bytecode, bytecode)


def test_packaging_pip_args_target_the_lambda_platform(requirements: Path, tmp_path: Path) -> None:
    args = packaging.pip_install_args(requirements, tmp_path / "python")
    joined = " ".join(args)
    for flag in (
        "--platform manylinux2014_aarch64",
        "--implementation cp",
        "--python-version 3.12",
        "--only-binary=:all:",
        "--no-compile",
        "--require-hashes",
    ):
        assert flag in joined
    assert args[args.index("--target") + 1] == str(tmp_path / "python")
    assert args[args.index("-r") + 1] == str(requirements)


def _requirement_lines(path: Path) -> list[str]:
    """A requirements file's requirements, continuation lines joined, comments dropped."""
    joined = path.read_text().replace("\\\n", " ")
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_packaging_layer_requirements_pin_the_whole_closure_with_hashes() -> None:
    """pip's --require-hashes refuses any package of the closure that is not pinned with its hash."""
    lines = _requirement_lines(packaging.ROOT / "handlers" / "requirements.txt")
    pins = {line.split("==")[0]: line for line in lines}
    assert {"pydantic", "pydantic-core", "typing-extensions", "annotated-types"} <= set(pins)
    for name, line in pins.items():
        assert re.fullmatch(rf"{name}==[\w.]+( --hash=sha256:[0-9a-f]{{64}})+", line), line
    app = _requirement_lines(packaging.ROOT / "requirements.txt")
    assert pins["pydantic"].split()[0] in app, "the layer must run the pydantic the tests run"


def test_packaging_pinned_requirements_list_each_wheel_with_its_hash(tmp_path: Path) -> None:
    wheels = [tmp_path / "typing_extensions-4.16.0-py3-none-any.whl", tmp_path / "pydantic-2.14.3-py3-none-any.whl"]
    for wheel in wheels:
        wheel.write_bytes(wheel.name.encode())
    text = packaging.pinned_requirements(wheels, "# header")
    digest = hashlib.sha256(wheels[0].name.encode()).hexdigest()
    assert text.splitlines()[0] == "# header"
    (tmp_path / "r.txt").write_text(text)
    assert _requirement_lines(tmp_path / "r.txt") == [
        f"pydantic==2.14.3 --hash=sha256:{hashlib.sha256(wheels[1].name.encode()).hexdigest()}",
        f"typing-extensions==4.16.0 --hash=sha256:{digest}",
    ]


def test_packaging_layer_is_built_into_a_python_directory(requirements: Path, tmp_path: Path) -> None:
    layer = packaging.build_layer(requirements, tmp_path / "cache", FakePip())
    assert (layer / "python" / "pkg" / "__init__.py").is_file()


def test_packaging_layer_is_reused_while_the_requirements_are_unchanged(requirements: Path, tmp_path: Path) -> None:
    pip = FakePip()
    first = packaging.build_layer(requirements, tmp_path / "cache", pip)
    digest = packaging.archive_digest(pulumi.FileArchive(str(first)))
    second = packaging.build_layer(requirements, tmp_path / "cache", pip)
    assert second == first and len(pip.calls) == 1
    assert packaging.archive_digest(pulumi.FileArchive(str(second))) == digest


def test_packaging_layer_is_rebuilt_when_the_requirements_change(requirements: Path, tmp_path: Path) -> None:
    pip = FakePip()
    first = packaging.build_layer(requirements, tmp_path / "cache", pip)
    requirements.write_text("pydantic==2.14.3\ntyping-extensions==4.15.0\n")
    assert packaging.build_layer(requirements, tmp_path / "cache", pip) != first
    assert len(pip.calls) == 2


def test_packaging_failed_build_leaves_no_cache_entry(requirements: Path, tmp_path: Path) -> None:
    def failing(args: Sequence[str]) -> None:
        raise RuntimeError("pip failed")

    with pytest.raises(RuntimeError):
        packaging.build_layer(requirements, tmp_path / "cache", failing)
    assert not (tmp_path / "cache" / packaging.layer_cache_key(requirements)).exists()


def _impatient_pip(args: Sequence[str]) -> None:
    # Offline, pip's default retries would spend minutes before failing.
    packaging.run_pip([*args, "--retries", "1", "--timeout", "15"])


def test_packaging_real_pip_builds_arm64_wheels_for_the_layer(tmp_path: Path) -> None:
    """Really runs pip against PyPI once: the handlers' requirements resolve for Lambda's platform."""
    requirements = packaging.ROOT / "handlers" / "requirements.txt"
    try:
        layer = packaging.build_layer(requirements, tmp_path / "cache", _impatient_pip)
    except RuntimeError as exc:
        offline = ("Could not fetch", "NewConnectionError", "No matching distribution", "Temporary failure")
        if any(sign in str(exc) for sign in offline):
            pytest.skip(f"PyPI unreachable: {exc}")
        raise
    site = layer / "python"
    native = list(site.rglob("*.so"))
    assert native, "pydantic-core ships a compiled module"
    assert all("aarch64" in p.name for p in native), [p.name for p in native]
    shipped = sorted(p.relative_to(site) for p in site.rglob("*.pyc"))
    if packaging.lambda_bytecode():
        # Lambda's Python (the workflows'): every module's bytecode, unchecked, for the runtime.
        modules = sorted(Path(importlib.util.cache_from_source(str(p.relative_to(site)))) for p in site.rglob("*.py"))
        assert modules and shipped == modules, "a module without bytecode is compiled on every cold start"
        pyc = (site / shipped[0]).read_bytes()
        assert pyc[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(pyc[4:8], "little") == 0b01
    else:
        # pip's own compile (--no-compile) would not be reproducible; another version's would be ignored.
        assert not shipped, "no bytecode from a Python other than Lambda's"


def test_packaging_layer_bytecode_is_reproducible_and_keyed_apart(requirements: Path, tmp_path: Path) -> None:
    plain = packaging.build_layer(requirements, tmp_path / "a", FakePip(), bytecode=False)
    first = packaging.build_layer(requirements, tmp_path / "a", FakePip(), bytecode=True)
    second = packaging.build_layer(requirements, tmp_path / "b", FakePip(), bytecode=True)
    assert first != plain, "a layer with bytecode must not reuse the cache entry of one without"
    assert list((first / "python" / "pkg" / "__pycache__").glob("__init__.*.pyc"))
    assert not list(plain.rglob("*.pyc"))
    digest = packaging.archive_digest
    assert digest(pulumi.FileArchive(str(first))) == digest(pulumi.FileArchive(str(second)))


def test_packaging_layer_bytecode_names_the_lambda_mount_not_the_build_dir(requirements: Path, tmp_path: Path) -> None:
    layer = packaging.build_layer(requirements, tmp_path / "cache", FakePip(), bytecode=True)
    [pyc] = (layer / "python" / "pkg" / "__pycache__").glob("*.pyc")
    assert b"/opt/python/pkg/__init__.py" in pyc.read_bytes()
    assert str(tmp_path).encode() not in pyc.read_bytes()
