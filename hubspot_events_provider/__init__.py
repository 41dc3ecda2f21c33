"""Apache Airflow provider for HubSpot Marketing Events.

The package has an Airflow-free core (:mod:`hubspot_events_provider.core`: HTTP client, event model,
batching, report) and thin Airflow adapters (:mod:`~hubspot_events_provider.hooks`,
:mod:`~hubspot_events_provider.operators`, :mod:`~hubspot_events_provider.sensors`). Importing this
package does not import Airflow.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
