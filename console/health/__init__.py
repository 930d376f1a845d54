"""Health watching for Airflow API servers and RemSvc servers, without any terminal code.

``watch.build_poller(urls, targets, ...)`` gives a ``poller.HealthPoller``; it polls the probes of
``http_probes`` (Airflow) and ``remsvc_probes`` and emits ``poller.ProbeUpdated`` events carrying a
``history.ProbeSnapshot`` (state, latency percentiles, sparkline samples, last error) and the
``transitions.Transition`` records each poll caused. ``sources`` finds URLs, thresholds and the token;
``report`` renders the CLI's JSON and plain-text table.
"""
