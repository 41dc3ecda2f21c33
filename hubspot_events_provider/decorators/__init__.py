"""Task decorators: ``@task.hubspot_marketing_events``."""
