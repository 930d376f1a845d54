"""Small helpers for driving the app with Pilot and reading what is on screen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot


def screen_text(app) -> str:
    """The screen as plain text, exactly the characters a terminal would show."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds; fail naming ``what`` if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()


async def run_to_end(pilot: Pilot, *, timeout: float = 30.0) -> None:
    """Press the run key and wait until the dispatch has finished on screen."""
    pane = pilot.app.dispatch_pane
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: pane.model is not None, timeout=5, what="dispatch start")
    await wait_for(pilot, lambda: not pane.model.running, timeout=timeout, what="dispatch end")
