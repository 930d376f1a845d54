"""Textual user interface: app, screens, widgets, messages."""
