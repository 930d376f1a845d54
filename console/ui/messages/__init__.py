"""Typed messages between workers and widgets, one module per pane (``dispatch``, ``bundles``,
``health``); import them from their pane's module."""
