"""Airflow conventions: connections and configuration, read without importing Airflow."""
