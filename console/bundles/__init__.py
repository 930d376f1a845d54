"""Airflow executable bundles: trailer reader, packer, scanner, digest cache, dag_id resolution."""
