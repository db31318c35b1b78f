"""The warning policy (pyproject.toml's filterwarnings): a deprecation our code causes fails the tests."""

from __future__ import annotations

import sys
import warnings

import pytest

OURS = ["handlers.views", "components.packaging", "local.gateway", "bench.cost", "report", "__main__"]
OUR_TESTS = ["test_views", "conftest", "local_support", "stack_graph", "browser.support", "reliability.test_fuzz"]


@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning, FutureWarning])
@pytest.mark.parametrize("module", OURS + OUR_TESTS)
def test_warnings_deprecation_named_after_our_module_is_an_error(module: str, category: type[Warning]) -> None:
    with pytest.raises(category):
        warnings.warn_explicit("going away", category, f"{module}.py", 1, module=module)


@pytest.mark.parametrize("module", ["botocore.auth", "pydantic.main", "pulumi.output", "handlers_x", "localstack"])
def test_warnings_deprecation_inside_a_library_is_only_reported(module: str) -> None:
    with warnings.catch_warnings(record=True) as seen:  # keeps the filters, records instead of printing
        warnings.warn_explicit("going away", DeprecationWarning, f"{module}.py", 1, module=module)
    assert [w.category for w in seen] == [DeprecationWarning]


def test_warnings_stdlib_deprecation_called_from_a_handler_is_an_error() -> None:
    """The stdlib names its caller (stacklevel): `datetime.utcnow()` in a handler names the handler.
    Deprecated since 3.12, so only Lambda's Python sees it: why `make test` also runs 3.12."""
    call = compile("import datetime\ndatetime.datetime.utcnow()\n", "handlers/probe.py", "exec")
    if sys.version_info >= (3, 12):
        with pytest.raises(DeprecationWarning, match="utcnow"):
            exec(call, {"__name__": "handlers.probe"})
    else:
        exec(call, {"__name__": "handlers.probe"})
