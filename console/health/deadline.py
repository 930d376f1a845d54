"""A deadline for a whole exchange (connect, request, every read), not per read: a peer trickling bytes
cannot keep a poll open."""

from __future__ import annotations

import asyncio


async def within(seconds: float, coro):
    """Run ``coro`` with a deadline (raises ``asyncio.TimeoutError``).

    ``asyncio.timeout`` where it exists: it needs no extra task, and 3.11's ``wait_for`` can swallow
    a cancellation.
    """
    if hasattr(asyncio, "timeout"):
        async with asyncio.timeout(seconds):
            return await coro
    return await asyncio.wait_for(coro, seconds)
