"""What a write operator tells Airflow about a run: OpenLineage facets, asset events, extra links.

:class:`HubSpotNativeMixin` is mixed into the write operators (the events upsert, the attendance
recorder). After the run it records the run's summary and the HubSpot account details
(``GET /account-info/v3/details``, one read through the run's own client and rate limiter), then:

* fills the asset event of every ``hubspot://`` outlet with the run's counts
  (:data:`~hubspot_events_provider.assets.ASSET_EVENT_KEYS`);
* serves :meth:`get_openlineage_facets_on_complete`: inputs named as the OpenLineage naming spec
  names them (the SQL's tables, the file's storage location, none for XCom), the output
  ``hubspot://<portalId>`` / the object written (``marketing-events``, or
  ``marketing-event-participations`` for attendance) with its row count, the schema of the HubSpot
  input fields, and column lineage from ``field_map`` and the properties parameter
  (``custom_properties``, ``contact_properties``);
* feeds the extra links (:mod:`hubspot_events_provider.links`).

OpenLineage is optional (``pip install airflow-provider-hubspot-events[openlineage]``): its modules
are imported inside the method, which only the OpenLineage provider calls.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from hubspot_events_provider.assets import ASSET_EVENT_KEYS, MARKETING_EVENTS, SCHEME, is_hubspot_asset
from hubspot_events_provider.core.errors import HubSpotError
from hubspot_events_provider.core.kinds.attendance.fields import (
    ATTENDANCE_FIELDS,
    CONTACT_PROPERTIES,
)
from hubspot_events_provider.core.kinds.events.mapper import (
    BOOLEAN_FIELDS,
    CUSTOM_PROPERTIES,
    DATETIME_FIELDS,
    HUBSPOT_FIELDS,
)
from hubspot_events_provider.links import HubSpotMarketingEventsLink, HubSpotRejectedRowsLink

__all__ = ["ATTENDANCE_SCHEMA", "EVENT_SCHEMA", "HubSpotNativeMixin", "file_dataset_name"]


def _field_type(field: str) -> str:
    if field in DATETIME_FIELDS:
        return "timestamp"
    if field in BOOLEAN_FIELDS:
        return "boolean"
    if field == CUSTOM_PROPERTIES:
        return "array<struct<name:string,value:string>>"
    return "string"


#: ``(field, type)`` of a Marketing Event's input fields: the schema facet of the events output.
EVENT_SCHEMA = tuple((field, _field_type(field)) for field in HUBSPOT_FIELDS)
_ATTENDANCE_TYPES = {
    "vid": "bigint",  # int64 contact ids
    "interactionDateTime": "timestamp",
    "joinedAt": "timestamp",
    "leftAt": "timestamp",
    CONTACT_PROPERTIES: "map<string,string>",
}
#: ``(field, type)`` of a participation's input fields: the schema facet of the attendance output.
ATTENDANCE_SCHEMA = tuple((field, _ATTENDANCE_TYPES.get(field, "string")) for field in ATTENDANCE_FIELDS)


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
    """Lineage, asset events and extra links for an operator that writes rows to HubSpot.

    The defaults describe the events upsert; another write operator sets the three class
    attributes below to what it writes (the attendance operator: participations).
    """

    operator_extra_links: Collection[Any] = (HubSpotMarketingEventsLink(), HubSpotRejectedRowsLink())

    #: The HubSpot object written: the OpenLineage output's name, the ``hubspot://`` asset's path.
    hubspot_object: ClassVar[str] = MARKETING_EVENTS
    #: ``(field, type)`` of the HubSpot input fields: the output's schema facet.
    hubspot_schema: ClassVar[tuple[tuple[str, str], ...]] = EVENT_SCHEMA
    #: Operator parameter holding source keys sent as properties -> the HubSpot field they fill.
    property_parameters: ClassVar[Mapping[str, str]] = {"custom_properties": CUSTOM_PROPERTIES}

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
                fields=[SchemaDatasetFacetFields(name=f, type=t) for f, t in self.hubspot_schema]
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
            name=self.hubspot_object,
            facets=facets,
            outputFacets={
                "outputStatistics": OutputStatisticsOutputDatasetFacet(
                    rowCount=int(summary.get("upserted") or 0)
                )
            },
        )
        return OperatorLineage(inputs=inputs, outputs=[output])

    def _column_sources(self) -> dict[str, list[str]]:
        """HubSpot field -> source keys, from ``field_map`` and :attr:`property_parameters`."""
        out: dict[str, list[str]] = {}
        field_map = getattr(self, "field_map", None)
        if isinstance(field_map, Mapping):
            for source, target in field_map.items():
                out.setdefault(str(target), []).append(str(source))
        for parameter, field in self.property_parameters.items():
            keys = getattr(self, parameter, None)
            if isinstance(keys, Mapping | list | tuple):  # a mapping's keys are the source keys
                out.setdefault(field, []).extend(str(k) for k in keys)
        return out

    def _openlineage_inputs(self) -> list[Any]:
        from airflow.providers.common.compat.openlineage.facet import Dataset

        # The file input is "<rows_field>_file" (events_file, attendance_file), as RowWriteOperator names it.
        rows_file = getattr(self, f"{getattr(self, 'rows_field', 'events')}_file", None)
        if rows_file is not None:
            namespace, name = file_dataset_name(str(rows_file), self._dag_folder())
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
