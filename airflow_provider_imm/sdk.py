"""The Alibaba Cloud SDKs, imported on first use, and only through this module.

Importing them costs the better part of a second (``alibabacloud_imm20200930.models`` alone holds
well over a thousand classes), which a DAG file that merely names an operator must not pay, and a
triggerer's event loop must not stall on. So no module of the provider imports them at module
level: ``ruff`` rule TID253 (``banned-module-level-imports`` in ``pyproject.toml``, the same list as
:data:`SDK_PACKAGES`) fails such an import; ``if TYPE_CHECKING:`` imports stay allowed. Code that
calls an SDK asks this module for it where it builds a client or a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from types import ModuleType

__all__ = ["SDK_PACKAGES", "imm_models", "load", "preload"]

#: Top-level packages of the SDK distributions the provider depends on.
SDK_PACKAGES = frozenset(
    {
        "Tea",
        "alibabacloud_credentials",
        "alibabacloud_imm20200930",
        "alibabacloud_tea_openapi",
        "alibabacloud_tea_util",
        "darabonba",
        "mns",
    }
)
#: What first IMM and MNS calls through the SDKs import: :func:`preload` pays it off the event loop.
#: (What a connection's calls need is ``airflow_provider_imm.hooks.rpc.first_call_modules``.)
_FIRST_CALL_MODULES = ("alibabacloud_imm20200930.client", "alibabacloud_credentials.client", "mns.account")


def load(module: str) -> ModuleType:
    """SDK module ``module`` (``"mns.queue"``, ``"alibabacloud_tea_openapi.exceptions"``)."""
    if module.partition(".")[0] not in SDK_PACKAGES:
        raise ValueError(f"{module!r} is not a module of the SDKs: {', '.join(sorted(SDK_PACKAGES))}")
    return import_module(module)


def imm_models() -> ModuleType:
    """``alibabacloud_imm20200930.models``: the IMM request and response models."""
    return load("alibabacloud_imm20200930.models")


def preload(modules: Iterable[str] = _FIRST_CALL_MODULES) -> None:
    """Import ``modules`` (by default, what first IMM and MNS calls through the SDKs need); run it on
    a thread, never on an event loop."""
    for module in modules:
        load(module)
