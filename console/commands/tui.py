"""Top-level options that start the full-screen console (the default when no subcommand is given).

Textual is imported only when the console actually starts, so ``--help`` and the headless
subcommands stay quick and work without a terminal.

SIGHUP (an SSH drop), SIGTERM and SIGINT cancel any running dispatch, wait (boundedly) for its
finish record to be journaled, then quit with 128 + the signal number, as ``run`` does. After a
hang-up Textual's output thread dies on the vanished terminal and its shutdown would wait for it
forever, so a signalled console that has not exited ``EXIT_GRACE_S`` after quitting exits anyway
(its journal is closed by then).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_DEMO = 4
SIGNAL_EXIT = {signal.SIGHUP: 129, signal.SIGINT: 130, signal.SIGTERM: 143}
SIGNAL_WHY = {signal.SIGHUP: "terminal hung up", signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
# How long a signalled console waits for cancelled dispatches to journal their end before quitting.
SIGNAL_GRACE_S = 10.0
EXIT_GRACE_S = 5.0


def epilog() -> str:
    from ..settings import describe_sources

    return (
        "Start with `remsvc-console --demo` to try the console against a local demo server.\n\n"
        + describe_sources()
        + "\nKeys are remapped by binding id under `keymap:` in the settings file."
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("console options (when no subcommand is given)")
    group.add_argument("--conn", action="append", default=[], metavar="ID",
                       help="connection id or glob to target, e.g. remsvc_web_* (repeatable)")
    group.add_argument("--demo", action="store_true", help="start an embedded RemSvc server and sample bundles, labelled DEMO")
    group.add_argument("--read-only", action="store_true", default=None, help="refuse to dispatch (browse, history, health only)")
    group.add_argument("--theme", metavar="NAME", help="dark, light, high-contrast or any Textual theme")
    group.add_argument("--config", metavar="PATH", help="settings file (default shown below)")
    group.add_argument("--connections-file", metavar="PATH", help="Airflow local-filesystem connections file (.yaml/.json/.env)")
    group.add_argument("--journal-dir", metavar="DIR", help="where the dispatch journal is written")
    group.add_argument("--bundles", action="append", default=[], metavar="DIR",
                       help="bundle root for the Bundles pane (repeatable; default: config, then Airflow's [sdk] coordinators)")
    group.add_argument("--api-url", action="append", default=[], metavar="URL",
                       help="Airflow API server base URL for the Health pane (repeatable)")
    group.add_argument("--supervisor", action="append", default=[], metavar="URL",
                       help="supervisord for the Health pane: http://[user:pass@]host:port or unix:///path.sock "
                       "(repeatable; default: health.supervisors in the config file)")
    group.add_argument("--supervisor-conf", action="append", default=[], metavar="FILE",
                       help="supervisord config file to read the Health pane's supervisord address and login from")


def _fail(message: str, status: int) -> int:
    print(f"remsvc-console: {message}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    from ..settings import SettingsError, load_settings

    try:
        settings = load_settings(
            args.config,
            overrides={
                "connections_file": args.connections_file,
                "theme": args.theme,
                "journal_dir": args.journal_dir,
                "read_only": args.read_only,
                "targets": args.conn,
            },
        )
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    from ..health.sources import HealthConfigError, load_health_config, resolve_supervisors

    try:
        supervisors = resolve_supervisors(args.supervisor, args.supervisor_conf, load_health_config(args.config))
    except HealthConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)

    from ..demo import SAMPLE_STREAM, DemoEnvironment, DemoError
    from ..dispatch_service import DispatchService, TargetCatalog, TargetLookupError

    demo = DemoEnvironment() if args.demo else None
    try:
        extra = []
        if demo is not None:
            try:
                extra.append(demo.start())
            except DemoError as exc:
                return _fail(str(exc), EXIT_DEMO)
        catalog = TargetCatalog(connections_file=settings.connections_file, extra=extra)
        patterns = list(args.conn) or list(settings.targets) or [t.name for t in extra]
        from ..airflow.conn_sources import needs_airflow

        if settings.airflow_python:
            os.environ.setdefault("REMSVC_CONSOLE_AIRFLOW_PYTHON", settings.airflow_python)
        local = {t.name for t in extra}
        pending = [p for p in needs_airflow(patterns, connections_file=settings.connections_file) if p not in local]
        try:
            known = catalog.resolve([p for p in patterns if p not in pending])
        except TargetLookupError as exc:
            return _fail(str(exc), EXIT_CONNECTION)
        notices = [f"{k.target.name}: {w}" for k in known for w in k.warnings]
        service = DispatchService(
            journal_dir=settings.journal_dir,
            read_only=settings.read_only,
            confirm_threshold=settings.fanout_confirm_threshold,
        )
        from ..ui.app import ConsoleApp
        from ..ui.context import ConsoleContext

        ctx = ConsoleContext(
            settings=settings,
            service=service,
            catalog=catalog,
            targets=[k.target for k in known],
            editor_text=SAMPLE_STREAM if demo is not None else "",
            notices=notices,
            pending_connections=pending,
            demo=demo is not None,
            bundle_roots=[*args.bundles, *([demo.bundles_dir] if demo is not None and demo.bundles_dir is not None else [])],
            health_api_urls=list(args.api_url),
            health_supervisors=supervisors,
        )
        app = ConsoleApp(ctx)
        import asyncio

        asyncio.run(run_app(app, service))
        return int(app.return_code or 0)
    finally:
        if demo is not None:
            demo.stop()


async def run_app(app, service) -> None:
    """Run the app with the signal handlers that close running dispatches in the journal first."""
    import asyncio

    loop = asyncio.get_running_loop()
    received: list[signal.Signals] = []
    pending: set[asyncio.Task] = set()

    async def stop(signum: signal.Signals) -> None:
        await service.wait_idle(SIGNAL_GRACE_S)
        code = SIGNAL_EXIT[signum]
        app.exit(return_code=code)
        fallback = threading.Timer(EXIT_GRACE_S, os._exit, args=(code,))
        fallback.daemon = True
        fallback.start()

    def on_signal(signum: signal.Signals) -> None:
        if received:
            return
        received.append(signum)
        service.cancel_all(f"{signum.name} received ({SIGNAL_WHY[signum]})")
        task = loop.create_task(stop(signum))
        pending.add(task)
        task.add_done_callback(pending.discard)

    for signum in SIGNAL_EXIT:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await app.run_async()
    finally:
        for signum in SIGNAL_EXIT:
            loop.remove_signal_handler(signum)
        # An Airflow child still answering a lookup would hold the exit for up to its timeout.
        via_airflow = sys.modules.get("console.airflow.via_airflow")
        if via_airflow is not None:
            via_airflow.stop_children()
        # A long stream still being prepared in a worker thread was journaled without streaming.
        why = f"{received[0].name} received ({SIGNAL_WHY[received[0]]})" if received else "console stopped"
        await asyncio.to_thread(service.shutdown, why)
