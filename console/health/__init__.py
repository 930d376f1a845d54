"""Health watching for Airflow API servers, supervisord programs and RemSvc servers, without any terminal code.

``watch.build_poller(urls, targets, supervisors=...)`` gives a ``poller.HealthPoller``; it polls the
probes of ``http_probes`` (Airflow, on httpx), ``supervisor_probe`` (supervisord's XML-RPC API through
``supervisor_rpc``) and ``remsvc_probes``, and emits ``poller.ProbeUpdated`` events carrying a
``history.ProbeSnapshot`` (state, latency percentiles, sparkline samples, last error) and the
``transitions.Transition`` records each poll caused. ``supervisor_control`` starts, stops and restarts
programs and tails their logs (refused when read-only, journaled). ``sources`` finds URLs, supervisord
addresses (``supervisor_address``), thresholds and the token; ``report`` renders the CLI's JSON and
plain-text table.
"""
