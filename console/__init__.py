"""remsvc-console: dispatch RemSvc command streams, inspect Airflow executable bundles, watch health."""

__version__ = "0.1.0"
