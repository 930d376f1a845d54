"""Everything the app is started with, in one plain object the panes share.

Tests and ``--demo`` build it directly; the clock and host name are injectable so snapshot tests can
freeze what would otherwise change on screen between runs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.dispatch_service import (
    DispatchOptions,
    DispatchService,
    TargetCatalog,
    default_src,
)
from console.remsvc.model import Target
from console.settings import Settings


@dataclass
class ConsoleContext:
    settings: Settings = field(default_factory=Settings)
    service: DispatchService | None = None
    catalog: TargetCatalog | None = None
    targets: list[Target] = field(default_factory=list)
    editor_text: str = ""
    options: DispatchOptions | None = None
    clock: Callable[[], float] = time.monotonic
    hostname: str = field(default_factory=socket.gethostname)
    poll_status: bool = True
    notices: list[str] = field(default_factory=list)
    pending_connections: list[str] = field(default_factory=list)
    demo: bool = False
    bundle_roots: list[Path | str] = field(default_factory=list)
    bundle_service: object | None = None
    health_api_urls: list[str] = field(default_factory=list)
    health_view: object | None = None

    def __post_init__(self) -> None:
        if self.service is None:
            self.service = DispatchService(
                journal_dir=self.settings.journal_dir,
                read_only=self.settings.read_only,
                confirm_threshold=self.settings.fanout_confirm_threshold,
            )
        if self.catalog is None:
            self.catalog = TargetCatalog(connections_file=self.settings.connections_file, extra=self.targets)
        if self.options is None:
            self.options = DispatchOptions(src=default_src(self.hostname))
