"""Sphinx configuration of the provider's documentation (``docs/``).

Built by ``scripts/test`` with warnings as errors and nitpicky references:
``python -m sphinx -W --keep-going -n -b html docs docs/_build/html``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent)]

from airflow_provider_imm import __version__  # noqa: E402

project = "airflow-provider-imm"
author = "airflow-provider-imm maintainers"
copyright = "the airflow-provider-imm maintainers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "provider_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence"]
# README headings become link targets, as on GitHub ("#the-connection-imm-default-id-imm-default").
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"airflow-provider-imm {__version__}"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}
autodoc_preserve_defaults = True

# Nitpicky mode checks every cross-reference. The docs link no other project's inventory (the build
# runs offline), so references into the libraries the provider builds on cannot resolve: they are
# ignored, by package, and by the bare names that annotations imported only for type checking
# leave. Every reference into the provider's public modules must resolve; its internal modules
# and private names are not in the API reference, so references to them are ignored too.
nitpicky = True
_EXTERNAL = (
    "airflow|aiohttp|asyncio|concurrent|datetime|collections|typing|typing_extensions|mns|Tea"
    "|alibabacloud_[a-z0-9_]+|darabonba|pendulum|logging|pathlib|os|json|enum|threading|types|urllib"
    "|contextlib|dataclasses|abc|re"
)
_TYPE_CHECKING_NAMES = (
    "Context|BaseOperator|Path|timedelta|datetime|OperatorLineage|PokeReturnValue|TaskInstanceKey"
    "|ImmClient|Client|Account|TriggerEvent|AsyncIterator|Iterator|Mapping|Sequence|Callable|T"
    # the provider's own, from its internal modules
    "|ErrorKind|HookOptions|InvalidRequestError|FailurePolicy|render_template_fields|open_shared_stream"
    "|SharedStreamProducer|BaseEventTrigger|mns_event_stream|mns_shared_stream"
)
_INTERNAL_MODULES = (
    "hooks\\.(base|errors|exceptions|credentials|log_scrubbing|rpc|failures|rocketmq)"
    "|operators\\.(task_identity|deadline|project|batch_plan)|request_models|batch_plan|rate_limit(\\..*)?"
    "|triggers\\.(mns_listener|rocketmq_consumer|notification_channel|reconciler|reconciliation"
    "|mns_event_stream|mns_shared_stream|intervals|defaults)"
    "|utils\\.(lineage|excerpt|mns_names|notification_parsing|request_validation|mns_event_filters|timestamps)"
    "|emulator\\.(?!server$)\\w+|sdk"
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({_EXTERNAL})(\..*)?"),
    (r"py:.*", rf"({_TYPE_CHECKING_NAMES})"),
    (r"py:.*", rf"(airflow_provider_imm\.)?({_INTERNAL_MODULES})(\..*)?"),
    (r"py:.*", r"(task_identity|deadline|lineage)"),
    (r"py:.*", r"(airflow_provider_imm\.[\w.]*\.)?_\w+"),
]
