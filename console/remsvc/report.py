"""Collect a dispatch's events into per-target outcomes: the XCom shape and the exit status.

The ``run --json`` output has the shape the Airflow RemSvc operator pushes to XCom (``state``,
``results`` of ``tid rc out err hsh cmd``, ``error_msg``), with ``out``/``err`` exactly as the server
sent them (truncation marker included), so scripts written against one read the other. Where the
console differs from the provider, on purpose:

- results are in numeric tid order; the provider's XCom lists 10 or more results in text order of
  tid (1, 10, 11, 2, ...) because its trigger-event keys are strings;
- on a state other than SUCCESS the provider raises and pushes no XCom (its trigger event names the
  field ``error``), and on a denial or a stream deadline it drops the answers that had arrived; the
  console prints the same shape with every answer received;
- a phantom or repeated tid is a protocol error (state FAILED); the provider overwrites a repeated
  tid's answer with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Command, CommandResult, DispatchEvent, StreamFinished, StreamStatus

EXIT_OK = 0
EXIT_COMMAND_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECTION_CONFIG = 3
EXIT_TRANSPORT = 4
EXIT_STREAM = 5
EXIT_INTERRUPTED = 130
EXIT_HANGUP = 129
EXIT_TERMINATED = 143

# Failures that, before any command was sent, mean nothing ran: safe to retry.
_UNSENT_TRANSPORT = {StreamStatus.UNAVAILABLE, StreamStatus.NOT_RESPONDING}


@dataclass
class TargetOutcome:
    """Everything one target answered, plus how its stream ended."""

    name: str
    commands: list[Command]
    results: dict[int, CommandResult] = field(default_factory=dict)
    finished: StreamFinished | None = None

    def apply(self, event: DispatchEvent) -> None:
        if isinstance(event, CommandResult):
            self.results[event.tid] = event
        elif isinstance(event, StreamFinished):
            self.finished = event

    @property
    def state(self) -> str:
        if self.finished is not None and self.finished.status in (StreamStatus.CANCELLED, StreamStatus.DEADLINE_EXCEEDED):
            return "CANCELLED"
        if self.finished is None or not self.finished.ok:
            return "FAILED"
        if len(self.results) < len(self.commands) or any(r.rc != 0 for r in self.results.values()):
            return "FAILED"
        return "SUCCESS"

    @property
    def error_msg(self) -> str | None:
        if self.finished is not None and self.finished.error:
            return self.finished.error
        failed = sorted(t for t, r in self.results.items() if r.rc != 0)
        if failed:
            return f"{len(failed)} command(s) returned a non-zero exit code: tid {', '.join(map(str, failed))}"
        return None

    def to_xcom(self) -> dict:
        results = []
        for tid in sorted(self.results):
            index = tid - 1
            cmd = self.commands[index].cmd if 0 <= index < len(self.commands) else ""
            results.append(self.results[tid].as_xcom(cmd))
        return {"state": self.state, "results": results, "error_msg": self.error_msg}

    @property
    def exit_status(self) -> int:
        """4 only when no command can have run (nothing sent, or an authentication refusal)."""
        if self.finished is None:
            return EXIT_STREAM
        if self.finished.status is StreamStatus.UNAUTHENTICATED:
            return EXIT_TRANSPORT
        if self.finished.status in _UNSENT_TRANSPORT:
            return EXIT_STREAM if self.finished.sent_any or self.results else EXIT_TRANSPORT
        if self.finished.status is StreamStatus.CANCELLED:
            return EXIT_INTERRUPTED
        if not self.finished.ok:
            return EXIT_STREAM
        return EXIT_COMMAND_FAILED if any(r.rc != 0 for r in self.results.values()) else EXIT_OK


def combined_exit_status(outcomes: list[TargetOutcome]) -> int:
    """The most severe status across targets: interrupted > stream > transport > command failed > ok."""
    order = [EXIT_OK, EXIT_COMMAND_FAILED, EXIT_TRANSPORT, EXIT_STREAM, EXIT_INTERRUPTED]
    return max((o.exit_status for o in outcomes), key=order.index, default=EXIT_OK)
