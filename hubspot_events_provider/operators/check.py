"""Threshold check over an upsert summary: fail the DAG when too many rows were rejected.

:class:`MarketingEventsUpsertCheckOperator` reads the summary that
:class:`~hubspot_events_provider.operators.upsert.UpsertMarketingEventsOperator` returns to XCom
(format in ``docs/reports.md``), sums it over every map index of a mapped upsert, compares it
with the thresholds and fails with a message a person can act on. It fails closed: a missing,
malformed or dry-run summary is a failure, never a pass.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from hubspot_events_provider.core.engine.summary import ERROR_STAGES, STAGE_HUBSPOT, STAGE_VALIDATION

__all__ = ["MarketingEventsUpsertCheckOperator", "SummaryError", "merge_summaries"]

STAGES = ERROR_STAGES
"""Stages a row error comes from: ``validation`` (counted as ``rejected``, refused before sending)
and ``hubspot`` (counted as ``failed``, refused by HubSpot)."""

_COUNT_KEYS = ("total", "upserted", "rejected", "failed", "superseded")
_MAX_SAMPLES = 20


class SummaryError(ValueError):
    """The upsert summary is missing, malformed or from a dry run: the check cannot pass."""


def _count(summary: Mapping[str, Any], key: str, where: str) -> int:
    value = summary.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SummaryError(f"{where}: {key!r} must be a non-negative integer, got {value!r}")
    return value


def _parse_text(text: str) -> Any:
    """Parse a summary rendered into a string: JSON, or the Python repr Jinja gives a dict."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise SummaryError(f"the summary text is neither JSON nor a Python literal: {text[:200]!r}") from exc


def _as_summary_list(value: Any) -> list[Mapping[str, Any]]:
    """Turn one summary, a list of summaries (mapped upsert) or their text into a list of mappings."""
    if isinstance(value, str):
        value = _parse_text(value)
    if value is None:
        raise SummaryError("no upsert summary was found (the upsert pushed no XCom)")
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, Sequence):
        items = list(value)
        if not items:
            raise SummaryError("the list of upsert summaries is empty (no map index pushed a summary)")
        summaries: list[Mapping[str, Any]] = []
        for index, item in enumerate(items):
            if isinstance(item, str):
                item = _parse_text(item)
            if not isinstance(item, Mapping):
                raise SummaryError(f"summary #{index} is a {type(item).__name__}, not a dict")
            summaries.append(item)
        return summaries
    raise SummaryError(f"the upsert summary is a {type(value).__name__}, not a dict")


def _checked_counts(summary: Mapping[str, Any], where: str, allow_dry_run: bool) -> dict[str, int]:
    """One summary's counts (``_COUNT_KEYS`` and ``unchanged``), its invariants checked.

    :raises SummaryError: a dry-run summary (unless allowed), a bad count or a broken invariant.
    """
    if summary.get("dry_run") and allow_dry_run:
        summary = {**summary, "upserted": _count(summary, "would_upsert", where)}
    elif summary.get("dry_run"):
        raise SummaryError(
            f"{where} comes from a dry run (dry_run=True): nothing was sent to HubSpot, so there is "
            "nothing to check; run the upsert without dry_run, or pass allow_dry_run=True to check "
            "its validation rejects"
        )
    counts = {key: _count(summary, key, where) for key in _COUNT_KEYS}
    # ``unchanged`` (rows a sync state skipped) is present only when some were skipped.
    unchanged = _count(summary, "unchanged", where) if "unchanged" in summary else 0
    errors = counts["rejected"] + counts["failed"]
    if counts["upserted"] + unchanged + errors + counts["superseded"] != counts["total"]:
        terms = "upserted + unchanged" if "unchanged" in summary else "upserted"
        raise SummaryError(f"{where}: {terms} + rejected + failed + superseded != total ({counts})")
    if "numErrors" in summary and _count(summary, "numErrors", where) != errors:
        raise SummaryError(f"{where}: numErrors={summary['numErrors']!r} but rejected+failed={errors}")
    return {**counts, "unchanged": unchanged}


def merge_summaries(value: Any, *, allow_dry_run: bool = False) -> dict[str, Any]:
    """Validate and sum upsert summaries (one per map index of a mapped upsert).

    Counts are summed, ``errors_by_category`` merged, the first ``sample_errors`` kept (in map index
    order, each tagged with ``summary_index``) and every ``rejected_path``/``results_path`` listed.

    :param value: one summary dict, a sequence of them, or their JSON / Python-literal text.
    :param allow_dry_run: accept dry-run summaries: their ``would_upsert`` counts as upserted, so
        the thresholds apply to the validation rejects a real run would have (nothing was sent).
    :return: ``{"summaries", "total", "upserted", "unchanged", "rejected", "failed", "superseded",
        "errors", "errors_by_category", "sample_errors", "rejected_paths", "results_paths"}``.
    :raises SummaryError: missing, malformed (bad counts, broken invariant
        ``upserted + unchanged + rejected + failed + superseded == total`` where ``unchanged`` is 0
        when absent, ``numErrors != rejected + failed``) or dry-run summary.
    """
    summaries = _as_summary_list(value)
    merged: dict[str, Any] = {key: 0 for key in (*_COUNT_KEYS, "unchanged")}
    by_category: dict[str, int] = {}
    samples: list[dict[str, Any]] = []
    rejected_paths: list[str] = []
    results_paths: list[str] = []
    for index, summary in enumerate(summaries):
        where = "summary" if len(summaries) == 1 else f"summary #{index}"
        counts = _checked_counts(summary, where, allow_dry_run)
        for key, count in counts.items():
            merged[key] += count
        categories = summary.get("errors_by_category") or {}
        if not isinstance(categories, Mapping):
            raise SummaryError(f"{where}: 'errors_by_category' must be a dict, got {categories!r}")
        for category in categories:
            count = _count(categories, category, where)
            by_category[str(category)] = by_category.get(str(category), 0) + count
        for sample in summary.get("sample_errors") or []:
            if len(samples) < _MAX_SAMPLES and isinstance(sample, Mapping):
                samples.append({**sample, "summary_index": index} if len(summaries) > 1 else dict(sample))
        for key, paths in (("rejected_path", rejected_paths), ("results_path", results_paths)):
            if summary.get(key):
                paths.append(str(summary[key]))
    merged.update(
        reconcile=_merge_drift(summaries),
        summaries=len(summaries),
        errors=merged["rejected"] + merged["failed"],
        errors_by_category=dict(sorted(by_category.items())),
        sample_errors=samples,
        rejected_paths=rejected_paths,
        results_paths=results_paths,
    )
    return merged


_DRIFT_KEYS = ("read", "matched", "differed", "missing", "drifted")


def _merge_drift(summaries: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The ``reconcile`` entries summed (``None`` when no summary has one), with the first samples."""
    found = [(i, s["reconcile"]) for i, s in enumerate(summaries) if s.get("reconcile") is not None]
    if not found:
        return None
    merged: dict[str, Any] = {key: 0 for key in _DRIFT_KEYS}
    samples: list[Any] = []
    for index, drift in found:
        where = f"summary #{index} reconcile"
        if not isinstance(drift, Mapping):
            raise SummaryError(f"{where}: must be a dict, got {drift!r}")
        for key in _DRIFT_KEYS:
            merged[key] += _count(drift, key, where)
        samples.extend(x for x in drift.get("sample") or [] if isinstance(x, Mapping))
    merged["sample"] = samples[:_MAX_SAMPLES]
    return merged


def _drift_limit(max_drift: int | None) -> int | None:
    """``max_drift`` checked at DAG parse time."""
    bad = isinstance(max_drift, bool) or not isinstance(max_drift, int) or max_drift < 0
    if max_drift is not None and bad:
        raise ValueError(f"max_drift must be an integer >= 0, got {max_drift!r}")
    return max_drift


def _format_drift(sample: Mapping[str, Any]) -> str:
    fields = ", ".join(str(f) for f in sample.get("fields") or []) or "-"
    return (
        f"{sample.get('verdict')}: event {sample.get('externalEventId')!r} "
        f"(externalAccountId {sample.get('externalAccountId')!r}), fields: {fields}"
    )


def _format_sample(sample: Mapping[str, Any]) -> str:
    where = f"row {sample.get('position', '?')}"
    if sample.get("line") is not None:
        where += f" (line {sample['line']})"
    if "summary_index" in sample:
        where += f" of summary #{sample['summary_index']}"
    ids = sample.get("ids")
    if isinstance(ids, Mapping) and ids:
        where += " " + ", ".join(f"{name}={value!r}" for name, value in ids.items())
    parts = [str(sample[key]) for key in ("stage", "category", "field") if sample.get(key)]
    return f"{where}: {', '.join(parts)}: {sample.get('message', '')}"


class MarketingEventsUpsertCheckOperator(BaseOperator):
    """Fail when an upsert rejected more rows than allowed.

    Give the summary either as ``upsert_task_id`` (its ``return_value`` XCom is pulled; for a
    mapped upsert every map index is pulled and summed) or as ``summary`` (templated: a dict, a list
    of dicts, an ``XComArg`` such as ``upsert.output``, or their JSON text).

    Errors are ``rejected + failed`` (``numErrors``); rows ``superseded`` by a later duplicate are
    not errors. The error rate is ``errors / total`` (0.0 when ``total`` is 0). Thresholds are
    inclusive: ``errors == max_errors`` passes. When no threshold is given, no error is allowed;
    when some are given, exactly those apply. Per-category and per-stage limits only bound the
    categories / stages they name.

    On failure it raises :class:`AirflowFailException` (no Airflow retries: data errors do not heal
    by retrying) or, with ``retry_on_failure=True``, :class:`AirflowException`. The message names
    each measured value and its threshold, the counts by stage and category, the first sample
    errors and the rejected-rows file(s). A missing, malformed or dry-run summary fails the same way.
    The check result (measured values, thresholds, ``passed``, ``violations``) is the XCom
    return value on success and is pushed under the key ``check_result`` on failure.

    :param upsert_task_id: task id of the upsert whose summary to pull (templated).
    :param summary: the summary itself (templated); exclusive with ``upsert_task_id``.
    :param max_errors: most errors allowed over all rows.
    :param max_error_rate: largest allowed fraction of errors, ``errors / total``, in ``[0, 1]``.
    :param max_errors_by_category: most errors allowed per ``errors_by_category`` key, e.g.
        ``{"VALIDATION_ERROR": 10}``; unnamed categories are not bounded by this parameter.
    :param max_errors_by_stage: most errors allowed per stage: ``"validation"`` (rows refused before
        sending, ``rejected``) and/or ``"hubspot"`` (rows HubSpot refused, ``failed``). Allow
        validation rejects but never HubSpot-side failures: ``{"validation": 50, "hubspot": 0}``.
    :param retry_on_failure: raise a retryable :class:`AirflowException` instead of
        :class:`AirflowFailException`.
    :param max_samples_in_message: how many sample errors the failure message lists.
    :param allow_dry_run: check a dry run's summary too (its validation rejects against the
        thresholds; ``would_upsert`` counts as upserted) instead of failing closed on it.
    :param max_drift: most events a ``reconcile=True`` upsert may find drifted in HubSpot (its
        summary's ``reconcile``: ``differed + missing``, summed over map indexes); more fails the
        check naming the counts and the first drifted events with their fields. A summary without
        ``reconcile`` fails closed. It bounds drift only: the error thresholds apply as without it.
    """

    template_fields: Sequence[str] = ("upsert_task_id", "summary")
    template_fields_renderers = {"summary": "json"}
    ui_color = "#ffd8c2"

    def __init__(
        self,
        *,
        upsert_task_id: str | None = None,
        summary: Any = None,
        max_errors: int | None = None,
        max_error_rate: float | None = None,
        max_errors_by_category: Mapping[str, int] | None = None,
        max_errors_by_stage: Mapping[str, int] | None = None,
        retry_on_failure: bool = False,
        max_samples_in_message: int = 5,
        allow_dry_run: bool = False,
        max_drift: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (upsert_task_id is None) == (summary is None):
            raise ValueError("give exactly one of upsert_task_id (pull its XCom) or summary")
        if max_errors is not None and (isinstance(max_errors, bool) or not isinstance(max_errors, int)):
            raise ValueError(f"max_errors must be an integer >= 0, got {max_errors!r}")
        if max_errors is not None and max_errors < 0:
            raise ValueError(f"max_errors must be an integer >= 0, got {max_errors!r}")
        if max_error_rate is not None:
            if isinstance(max_error_rate, bool) or not isinstance(max_error_rate, int | float):
                raise ValueError(f"max_error_rate must be a number in [0, 1], got {max_error_rate!r}")
            if not 0.0 <= float(max_error_rate) <= 1.0:
                raise ValueError(
                    f"max_error_rate must be a fraction of total in [0, 1], got {max_error_rate!r} "
                    "(for 5 % write 0.05)"
                )
        self._check_limits("max_errors_by_category", max_errors_by_category)
        self._check_limits("max_errors_by_stage", max_errors_by_stage)
        unknown = sorted(set(max_errors_by_stage or {}) - set(STAGES))
        if unknown:
            raise ValueError(f"max_errors_by_stage keys must be among {list(STAGES)}, got {unknown}")
        if isinstance(max_samples_in_message, bool) or max_samples_in_message < 0:
            raise ValueError(f"max_samples_in_message must be >= 0, got {max_samples_in_message!r}")
        self.upsert_task_id = upsert_task_id
        self.summary = summary
        self.max_errors = max_errors
        self.max_error_rate = None if max_error_rate is None else float(max_error_rate)
        self.max_errors_by_category = dict(max_errors_by_category or {})
        self.max_errors_by_stage = dict(max_errors_by_stage or {})
        self.retry_on_failure = retry_on_failure
        self.max_samples_in_message = max_samples_in_message
        self.allow_dry_run = allow_dry_run
        self.max_drift = _drift_limit(max_drift)

    @staticmethod
    def _check_limits(name: str, limits: Mapping[str, int] | None) -> None:
        if limits is None:
            return
        if not isinstance(limits, Mapping):
            raise ValueError(f"{name} must be a dict of name -> integer >= 0, got {limits!r}")
        for key, limit in limits.items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError(f"{name}[{key!r}] must be an integer >= 0, got {limit!r}")

    @property
    def thresholds(self) -> dict[str, Any]:
        """The thresholds that apply; with none given, ``max_errors=0``."""
        given: dict[str, Any] = {}
        if self.max_errors is not None:
            given["max_errors"] = self.max_errors
        if self.max_error_rate is not None:
            given["max_error_rate"] = self.max_error_rate
        if self.max_errors_by_category:
            given["max_errors_by_category"] = dict(self.max_errors_by_category)
        if self.max_errors_by_stage:
            given["max_errors_by_stage"] = dict(self.max_errors_by_stage)
        given = given or {"max_errors": 0}
        if self.max_drift is not None:  # drift is no error: it never lifts the default max_errors=0
            given["max_drift"] = self.max_drift
        return given

    def _fail(self, message: str) -> AirflowException:
        if self.retry_on_failure:
            return AirflowException(message)
        return AirflowFailException(message)

    def _source(self) -> str:
        return f"task {self.upsert_task_id!r}" if self.upsert_task_id else "the given summary"

    def _load(self, context: Any) -> Any:
        if self.upsert_task_id is None:
            return self.summary
        # Without map_indexes, Airflow 3.0-3.3 return one value for an unmapped task and the list of
        # every map index's value for a mapped one.
        return context["ti"].xcom_pull(task_ids=self.upsert_task_id)

    def evaluate(self, merged: Mapping[str, Any]) -> dict[str, Any]:
        """Compare merged counts with the thresholds.

        :param merged: the result of :func:`merge_summaries`.
        :return: the check result: ``passed``, ``violations`` (sentences), measured values, thresholds.
        """
        thresholds = self.thresholds
        errors, total = merged["errors"], merged["total"]
        rate = errors / total if total else 0.0
        by_stage = {STAGE_VALIDATION: merged["rejected"], STAGE_HUBSPOT: merged["failed"]}
        violations: list[str] = []
        if "max_errors" in thresholds and errors > thresholds["max_errors"]:
            violations.append(f"{errors} errors exceed max_errors={thresholds['max_errors']}")
        if "max_error_rate" in thresholds and rate > thresholds["max_error_rate"]:
            violations.append(
                f"error rate {rate:.4f} ({errors} of {total} rows) exceeds "
                f"max_error_rate={thresholds['max_error_rate']:.4f}"
            )
        for stage, limit in sorted(self.max_errors_by_stage.items()):
            if by_stage[stage] > limit:
                violations.append(
                    f"{by_stage[stage]} {stage}-stage errors exceed max_errors_by_stage[{stage!r}]={limit}"
                )
        violations += self._drift_violations(merged)
        for category, limit in sorted(self.max_errors_by_category.items()):
            count = merged["errors_by_category"].get(category, 0)
            if count > limit:
                violations.append(
                    f"{count} {category} errors exceed max_errors_by_category[{category!r}]={limit}"
                )
        result: dict[str, Any] = {
            "passed": not violations,
            "violations": violations,
            "errors": errors,
            "total": total,
            "error_rate": rate,
            "errors_by_stage": by_stage,
            "errors_by_category": dict(merged["errors_by_category"]),
            "thresholds": thresholds,
            "summaries": merged["summaries"],
            "rejected_paths": list(merged["rejected_paths"]),
        }
        if merged.get("reconcile") is not None:  # only reconcile runs have drift to report
            result["drift"] = {k: v for k, v in merged["reconcile"].items() if k != "sample"}
        return result

    def _drift_violations(self, merged: Mapping[str, Any]) -> list[str]:
        """``max_drift`` against the summed ``reconcile`` counts."""
        if self.max_drift is None:
            return []
        drift = merged.get("reconcile")
        if drift is None:
            raise SummaryError("max_drift needs the summary of an upsert run with reconcile=True")
        if drift["drifted"] <= self.max_drift:
            return []
        return [
            f"{drift['drifted']} events drifted in HubSpot ({drift['differed']} differed, "
            f"{drift['missing']} missing; {drift['matched']} matched of {drift['read']} read) "
            f"exceed max_drift={self.max_drift}"
        ]

    def failure_message(self, merged: Mapping[str, Any], result: Mapping[str, Any]) -> str:
        """The multi-line failure message: violations, counts, samples and rejected file(s)."""
        lines = [f"HubSpot upsert check failed for {self._source()}:"]
        lines += [f"  - {violation}" for violation in result["violations"]]
        mapped = f" over {merged['summaries']} map indexes" if merged["summaries"] > 1 else ""
        lines.append(
            f"Counts{mapped}: total={merged['total']}, upserted={merged['upserted']}, "
            f"rejected={merged['rejected']} (validation stage), failed={merged['failed']} (hubspot stage), "
            f"superseded={merged['superseded']}"
        )
        categories = ", ".join(f"{key}={value}" for key, value in merged["errors_by_category"].items())
        lines.append(f"Errors by category: {categories or 'none reported'}")
        samples = merged["sample_errors"][: self.max_samples_in_message]
        if samples:
            lines.append(f"First {len(samples)} sample errors:")
            lines += [f"  - {_format_sample(sample)}" for sample in samples]
        drift = merged.get("reconcile")
        if drift is not None and drift["sample"]:
            lines.append("First drifted events:")
            lines += [f"  - {_format_drift(x)}" for x in drift["sample"][: self.max_samples_in_message]]
        paths = merged["rejected_paths"]
        if paths:
            lines.append("Full rejected rows: " + ", ".join(paths))
        else:
            lines.append("Full rejected rows: the summary has no rejected_path (no file was written)")
        return "\n".join(lines)

    def execute(self, context: Any) -> dict[str, Any]:
        """Pull or read the summary, check it, return the check result or raise.

        :param context: the Airflow task context (``ti`` is needed with ``upsert_task_id``).
        """
        try:
            merged = merge_summaries(self._load(context), allow_dry_run=self.allow_dry_run)
        except SummaryError as exc:
            raise self._fail(
                f"HubSpot upsert check failed closed for {self._source()}: {exc}. "
                "The check never passes without a valid summary."
            ) from exc
        try:
            result = self.evaluate(merged)
        except SummaryError as exc:
            raise self._fail(f"HubSpot upsert check failed closed for {self._source()}: {exc}.") from exc
        if result["passed"]:
            self.log.info(
                "Upsert check passed: %d errors of %d rows (rate %.4f) within %s",
                result["errors"],
                result["total"],
                result["error_rate"],
                result["thresholds"],
            )
            return result
        ti = context.get("ti") if isinstance(context, Mapping) else None
        if ti is not None:
            ti.xcom_push(key="check_result", value=result)
        raise self._fail(self.failure_message(merged, result))
