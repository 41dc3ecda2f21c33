"""Sphinx configuration of the documentation site (``make docs``).

The site is built from ``docs/`` (Markdown through MyST, the API reference from the package's reST
docstrings through autodoc) with warnings as errors and nitpicky cross-references, so a broken
internal link or a malformed docstring fails the build. No extension reaches the network: there is no
intersphinx, and ``make docs`` checks links with the ``linkcheck`` builder told to ignore every
external URL (internal anchors and documents only).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Importing the package imports Airflow: keep its home (config, logs) out of the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(Path(__file__).resolve().parent / "_build" / "airflow-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Airflow logs its configuration at INFO while the package is imported: noise in the build output.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from hubspot_events_provider import __version__  # noqa: E402

project = "airflow-provider-hubspot-events"
author = "hubspot-events-provider developers"
copyright = "hubspot-events-provider developers"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: anchors for headings up to ### so that ``page.md#a-heading`` links resolve (and are checked).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

html_theme = "furo"
html_title = f"HubSpot Marketing Events provider {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

# API reference: members in source order, signatures with their types, the class docstring only
# (``__init__``'s parameters are documented in the class docstring, the Airflow convention).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "separated"
autodoc_default_options = {"members": True, "show-inheritance": True}

# Every warning fails the build (-W); -n also reports cross-references that resolve nowhere.
nitpicky = True
# Types from other projects: there is no intersphinx (it would download their inventories), so a
# reference to Airflow, the standard library or requests resolves nowhere. Our own public names must
# resolve; internal modules (underscored, ``lineage``, the core's submodules behind its facade, the
# sandbox's parts behind ``hubspot_events_provider.sandbox``) have no API page, so a signature or
# docstring naming one of their types renders it as plain text.
_THIRD_PARTY = (
    r"(airflow|requests|urllib3|pendulum|msgspec|asgiref|asyncio|http|socketserver|threading|"
    r"collections|typing|datetime|pathlib|os|io|json|logging|concurrent|enum|types|random)(\..+)?"
)
_BUILTINS_AND_TYPING = (
    r"(int|str|float|bool|bytes|dict|list|tuple|set|frozenset|object|type|None|Exception|ValueError|"
    r"Any|Callable|Iterable|Iterator|Mapping|Sequence|Collection|MutableMapping|Literal|Self|ClassVar|"
    r"TypeVar|Protocol|NamedTuple|Path|PathLike|timedelta|datetime|date|Connection|Context|"
    r"TaskDecorator|BaseOperator|BaseSensorOperator|BaseHook|BaseTrigger|TriggerEvent|"
    r"AirflowException|AirflowFailException|AirflowSensorTimeout|AirflowSkipException)"
)
_INTERNAL = (
    r"hubspot_events_provider\.(core\.[a-z_]+|lineage|_storage|hooks\.failures|sandbox\.[a-z_]+|"
    r"operators\.(_[a-z_]+|upsert|delete|attendance|check)|sensors\.(_[a-z_]+|attendance))(\.\w+)*"
)
nitpick_ignore_regex = [
    (r"py:.*", _THIRD_PARTY),
    (r"py:.*", _BUILTINS_AND_TYPING),
    (r"py:.*", _INTERNAL),
]
# Docstring references by a short name that Sphinx cannot resolve from where they are written; each
# is one docstring to fix in the package (give the full dotted path, with ``~`` to show the short
# name), then delete its line here.
nitpick_ignore = [
    # hooks/hubspot.py:1, :231, :235 -> :class:`~hubspot_events_provider.core.client.HubSpotClient`
    ("py:class", "HubSpotClient"),
    # hooks/hubspot.py:168 -> :class:`~hubspot_events_provider.core.config.ClientConfig`
    ("py:class", "ClientConfig"),
    # operators/check.py:292 -> ``merge_summaries`` (internal: operators/check.py:102)
    ("py:func", "merge_summaries"),
    # decorators/marketing_events.py:97 ->
    # :class:`~hubspot_events_provider.operators.marketing_events.UpsertMarketingEventsOperator`
    ("py:class", "UpsertMarketingEventsOperator"),
    # Internal names that public core docstrings mention (the facade's API page documents the public
    # names only): the engine's run and overlap, the state's digest and storage, error classes raised
    # by a public function but not exported.
    ("py:func", "run_writes"),
    ("py:class", "_Stream"),
    ("py:class", "DeleteKind"),
    ("py:func", "payload_digest"),
    ("py:class", "LocalStateStorage"),
    ("py:exc", "StateLockedError"),
    ("py:exc", "StateCorruptError"),
    ("py:exc", "MissingGuardrailError"),
    ("py:func", "normalize_base_url"),
    ("py:attr", "api_version"),
    # A stale path of the flat core; fixed when that module's docstrings are next edited.
    ("py:func", "lifecycle_api.find_app_id"),
]
