"""What the upsert operator tells Airflow about a run: OpenLineage facets, asset events, extra links.

:class:`HubSpotNativeMixin` is mixed into write operators. After the upsert it records the run's
summary and the HubSpot account details (``GET /account-info/v3/details``, one read through the
run's own client and rate limiter), then:

* fills the asset event of every ``hubspot://`` outlet with the run's counts
  (:data:`~hubspot_events_provider.assets.ASSET_EVENT_KEYS`);
* serves :meth:`get_openlineage_facets_on_complete`: inputs named as the OpenLineage naming spec
  names them (the SQL's tables, the file's storage location, none for XCom), the output
  ``hubspot://<portalId>`` / ``marketing-events`` with its row count, the schema of the HubSpot
  input fields, and column lineage from ``field_map`` and ``custom_properties``;
* feeds the extra links (:mod:`hubspot_events_provider.links`).

OpenLineage is optional (``pip install airflow-provider-hubspot-events[openlineage]``): its modules
are imported inside the method, which only the OpenLineage provider calls.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Collection, Mapping
from typing import Any

from hubspot_events_provider.assets import ASSET_EVENT_KEYS, MARKETING_EVENTS, SCHEME, is_hubspot_asset
from hubspot_events_provider.core.errors import HubSpotError
from hubspot_events_provider.core.model import (
    BOOLEAN_FIELDS,
    CUSTOM_PROPERTIES,
    DATETIME_FIELDS,
    HUBSPOT_FIELDS,
)
from hubspot_events_provider.links import HubSpotMarketingEventsLink, HubSpotRejectedRowsLink

__all__ = ["HubSpotNativeMixin", "file_dataset_name"]


def _field_type(field: str) -> str:
    if field in DATETIME_FIELDS:
        return "timestamp"
    if field in BOOLEAN_FIELDS:
        return "boolean"
    if field == CUSTOM_PROPERTIES:
        return "array<struct<name:string,value:string>>"
    return "string"


def file_dataset_name(location: str, dag_folder: str | None = None) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a file: ``("file", "/abs/path")`` for a local path,
    ``("s3://bucket", "key")`` / ``("gs://bucket", "key")``... for object storage."""
    parsed = urllib.parse.urlsplit(location)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # one letter: a Windows drive
        path = parsed.path if parsed.scheme == "file" else location
        if not os.path.isabs(path) and dag_folder:
            path = os.path.join(dag_folder, path)
        return "file", os.path.abspath(path)
    return f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/") or "/"


class HubSpotNativeMixin:
    """Lineage, asset events and extra links for an operator that upserts Marketing Events."""

    operator_extra_links: Collection[Any] = (HubSpotMarketingEventsLink(), HubSpotRejectedRowsLink())

    #: The run's summary (the XCom return value), set by :meth:`record_run`.
    hubspot_summary: dict[str, Any] | None = None
    #: HubSpot's account details of the connection's token, set by :meth:`read_account`.
    hubspot_account: dict[str, Any] | None = None

    # -- called by execute ------------------------------------------------------------------------

    def read_account(self, client: Any) -> None:
        """Read the account details once with the run's client; a failure never fails the task."""
        if client is None:  # dry run: nothing was written anywhere
            return
        stats = getattr(client, "stats", None)
        if stats is not None and not stats.snapshot().get("requests"):
            return  # nothing was sent (every row rejected, or no rows): no HubSpot call for lineage either
        try:
            self.hubspot_account = dict(client.request("GET", "/account-info/v3/details").body or {})
        except HubSpotError as exc:
            self.log.warning(  # type: ignore[attr-defined]
                "Could not read the HubSpot account details (portal id for lineage and links): %s", exc
            )

    def record_run(self, context: Any, summary: Mapping[str, Any]) -> None:
        """Keep the summary; put its counts on the asset event of every ``hubspot://`` outlet."""
        self.hubspot_summary = dict(summary)
        counts = {key: summary.get(key) for key in ASSET_EVENT_KEYS}
        outlet_events = context.get("outlet_events") if isinstance(context, Mapping) else None
        if outlet_events is None:
            return
        for outlet in getattr(self, "outlets", None) or []:
            if is_hubspot_asset(outlet):
                outlet_events[outlet].extra.update(counts)

    # -- OpenLineage ------------------------------------------------------------------------------

    @property
    def hubspot_namespace(self) -> str | None:
        """``hubspot://<portalId>``, or ``None`` when the portal id is unknown."""
        portal = (self.hubspot_account or {}).get("portalId")
        return f"{SCHEME}://{portal}" if portal is not None else None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs, the HubSpot output with row count and schema, and column lineage."""
        from airflow.providers.common.compat.openlineage.facet import (
            ColumnLineageDatasetFacet,
            Fields,
            InputField,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
            SchemaDatasetFacet,
            SchemaDatasetFacetFields,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage

        inputs = self._openlineage_inputs()
        summary = self.hubspot_summary or {}
        namespace = self.hubspot_namespace
        if namespace is None or summary.get("dry_run"):
            return OperatorLineage(inputs=inputs)
        facets: dict[str, Any] = {
            "schema": SchemaDatasetFacet(
                fields=[SchemaDatasetFacetFields(name=f, type=_field_type(f)) for f in HUBSPOT_FIELDS]
            )
        }
        lineage = self._column_sources()
        if len(inputs) == 1 and lineage:
            source = inputs[0]
            facets["columnLineage"] = ColumnLineageDatasetFacet(
                fields={
                    target: Fields(
                        inputFields=[
                            InputField(namespace=source.namespace, name=source.name, field=key)
                            for key in keys
                        ],
                        transformationType="",
                        transformationDescription="",
                    )
                    for target, keys in lineage.items()
                }
            )
        output = OutputDataset(
            namespace=namespace,
            name=MARKETING_EVENTS,
            facets=facets,
            outputFacets={
                "outputStatistics": OutputStatisticsOutputDatasetFacet(
                    rowCount=int(summary.get("upserted") or 0)
                )
            },
        )
        return OperatorLineage(inputs=inputs, outputs=[output])

    def _column_sources(self) -> dict[str, list[str]]:
        """HubSpot field -> source keys, from ``field_map`` and ``custom_properties``."""
        out: dict[str, list[str]] = {}
        field_map = getattr(self, "field_map", None)
        if isinstance(field_map, Mapping):
            for source, target in field_map.items():
                out.setdefault(str(target), []).append(str(source))
        custom = getattr(self, "custom_properties", None)
        if isinstance(custom, Mapping | list | tuple):  # a mapping's keys are the source keys
            out.setdefault(CUSTOM_PROPERTIES, []).extend(str(k) for k in custom)
        return out

    def _openlineage_inputs(self) -> list[Any]:
        from airflow.providers.common.compat.openlineage.facet import Dataset

        events_file = getattr(self, "events_file", None)
        if events_file is not None:
            namespace, name = file_dataset_name(str(events_file), self._dag_folder())
            return [Dataset(namespace=namespace, name=name)]
        if getattr(self, "sql", None) is not None:
            return self._sql_inputs()
        return []  # XCom or inline events: no dataset to name

    def _dag_folder(self) -> str | None:
        try:
            dag = getattr(self, "dag", None)
        except RuntimeError:  # "not assigned to a Dag yet" (Airflow 3.1+)
            return None
        folder = getattr(dag, "folder", None)
        return str(folder) if folder else None

    def _sql_inputs(self) -> list[Any]:
        """The query's tables, named by the SQL hook's OpenLineage database info when it has one."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.common.compat.sdk import BaseHook
        from airflow.providers.openlineage.sqlparser import SQLParser

        sql = str(getattr(self, "sql", ""))
        connection = BaseHook.get_connection(str(getattr(self, "sql_conn_id", "")))
        hook = connection.get_hook()  # type: ignore[no-untyped-call]
        info_of = getattr(hook, "get_openlineage_database_info", None)
        database_info = info_of(connection) if callable(info_of) else None
        if database_info is not None:
            parser = SQLParser(
                dialect=hook.get_openlineage_database_dialect(connection),
                default_schema=hook.get_openlineage_default_schema(),
            )
            lineage = parser.generate_openlineage_metadata_from_sql(
                sql=sql, hook=hook, database_info=database_info, use_connection=False
            )
            return list(lineage.inputs)
        # No database info (SQLite, for one): the connection's URI names the namespace.
        meta = SQLParser(dialect="generic").parse(sql)
        host = connection.host or ""
        port = f":{connection.port}" if connection.port else ""
        namespace = f"{connection.conn_type}://{host}{port}"
        return [
            Dataset(namespace=namespace, name=table.qualified_name)
            for table in (meta.in_tables if meta else [])
        ]
