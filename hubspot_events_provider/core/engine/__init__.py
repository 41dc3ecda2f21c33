"""The write engine: the kind contract, the run, spool, batching, attribution, report and summary."""
