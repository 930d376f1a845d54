"""Every key binding of the console, each with a stable id users can remap in ``keymap:``.

Ids are ``<where>.<what>``; the config file maps an id to new keys, e.g. ``dispatch.run: f5``.
Focus never starts in a text field: the editor is entered with ``i`` and left with ``escape``, so
single keys (``1``/``2``/``3``, ``?``, ``:``, ``/``) act on what has focus and never type by
accident. Ctrl-keys work from the editor too; ``ctrl+b`` (tmux prefix) and ``ctrl+s`` (XOFF) are
avoided. ``SECTIONS`` groups the bindings for the help overlay and the README's key table.
"""

from __future__ import annotations

from textual.binding import Binding

APP = [
    Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    Binding("question_mark", "help", "Help", id="app.help"),
    Binding("colon", "jump", "Jump", id="app.jump", show=False),
    Binding("1,f1", "show_pane('dispatch')", "Dispatch", id="app.pane.dispatch", show=False),
    Binding("2,f2", "show_pane('bundles')", "Bundles", id="app.pane.bundles", show=False),
    Binding("3,f3", "show_pane('health')", "Health", id="app.pane.health", show=False),
]

DISPATCH = [
    Binding("ctrl+r,f5", "run", "Run", id="dispatch.run"),
    Binding("ctrl+g", "cancel", "Cancel", id="dispatch.cancel"),
    Binding("i", "focus_editor", "Edit", id="dispatch.editor"),
    Binding("t", "pick_targets", "Targets", id="dispatch.targets"),
    Binding("h", "history", "History", id="dispatch.history", show=False),
    Binding("g", "toggle_grouped", "Fold", id="dispatch.grouped"),
    Binding("slash", "filter", "Filter", id="dispatch.filter", show=False),
    Binding("escape", "leave_field", "Back to the rows", id="dispatch.back", show=False),
]

EDITOR = [
    Binding("escape", "leave", "Leave editor", id="editor.leave"),
]

FILTER = [
    Binding("escape", "clear", "Clear filter", id="filter.clear"),
]

RESULTS = [
    Binding("enter", "open_output", "Full view", id="results.open"),
    Binding("up,k", "cursor_up", "Up", id="results.up", show=False),
    Binding("down,j", "cursor_down", "Down", id="results.down", show=False),
    Binding("pageup", "page_up", "Page up", id="results.page_up", show=False),
    Binding("pagedown", "page_down", "Page down", id="results.page_down", show=False),
    Binding("home", "first", "First", id="results.first", show=False),
    Binding("end", "last", "Last", id="results.last", show=False),
    Binding("y", "copy", "Copy", id="results.copy"),
    Binding("s", "save", "Save", id="results.save", show=False),
    Binding("e", "export", "Export", id="results.export", show=False),
]

FANOUT = [
    Binding("enter", "open_output", "Full view", id="fanout.open"),
    Binding("space,right,l", "toggle", "Expand", id="fanout.toggle"),
    Binding("left", "collapse", "Collapse", id="fanout.collapse", show=False),
    Binding("up,k", "cursor_up", "Up", id="fanout.up", show=False),
    Binding("down,j", "cursor_down", "Down", id="fanout.down", show=False),
    Binding("pageup", "page_up", "Page up", id="fanout.page_up", show=False),
    Binding("pagedown", "page_down", "Page down", id="fanout.page_down", show=False),
    Binding("home", "first", "First", id="fanout.first", show=False),
    Binding("end", "last", "Last", id="fanout.last", show=False),
    Binding("y", "copy", "Copy", id="fanout.copy"),
    Binding("s", "save", "Save", id="fanout.save", show=False),
]

OUTPUT = [
    Binding("escape,q", "back", "Back", id="output.back"),
    Binding("f", "toggle_follow", "Follow", id="output.follow"),
    Binding("slash", "search", "Search", id="output.search"),
    Binding("n", "next_match", "Next", id="output.next", show=False),
    Binding("N", "previous_match", "Prev", id="output.previous", show=False),
    Binding("y", "copy", "Copy", id="output.copy"),
    Binding("s", "save", "Save", id="output.save"),
    Binding("up,k", "scroll_up", "Up", id="output.up", show=False),
    Binding("down,j", "scroll_down", "Down", id="output.down", show=False),
    Binding("left,h", "scroll_left", "Left", id="output.left", show=False),
    Binding("right,l", "scroll_right", "Right", id="output.right", show=False),
    Binding("pageup", "page_up", "Page up", id="output.page_up", show=False),
    Binding("pagedown,space", "page_down", "Page down", id="output.page_down", show=False),
    Binding("home,g", "top", "Top", id="output.top"),
    Binding("end,G", "bottom", "End", id="output.bottom"),
]

OUTPUT_SEARCH = [
    Binding("escape", "close_search", "Close search", id="output_search.close"),
]

HELP = [
    Binding("escape,question_mark,q", "close", "Close", id="help.close"),
]

JUMP = [
    Binding("escape", "close", "Cancel", id="jump.cancel"),
]

QUIT = [
    Binding("c", "cancel_and_quit", "Cancel dispatch and quit", id="quit.cancel"),
    Binding("w", "wait_and_quit", "Quit when it ends", id="quit.wait"),
    Binding("escape,n", "stay", "Stay", id="quit.stay"),
]

CONFIRM = [
    Binding("y", "confirm", "Yes", id="confirm.yes"),
    Binding("n,escape", "decline", "No", id="confirm.no"),
]

PICKER = [
    Binding("ctrl+r", "apply", "Use selection", id="targets.apply"),
    Binding("escape", "dismiss_picker", "Cancel", id="targets.cancel"),
    # Priority: the glob field would take ctrl+a as "home", and the footer promises "Select all".
    Binding("ctrl+a", "select_all", "Select all", id="targets.all", priority=True),
    Binding("ctrl+n", "select_none", "Select none", id="targets.none"),
    Binding("ctrl+l", "list_airflow", "List Airflow DB", id="targets.airflow"),
]

HISTORY = [
    Binding("r", "rerun", "Re-run (into editor)", id="history.rerun"),
    Binding("e", "export", "Export JSON", id="history.export"),
    Binding("escape", "close", "Close", id="history.close"),
]

ERROR = [
    Binding("escape,enter", "close", "Close", id="error.close"),
]

BUNDLES = [
    Binding("slash", "focus_filter", "Filter", id="bundles.filter"),
    Binding("r", "rescan", "Rescan", id="bundles.rescan"),
    Binding("d", "resolve", "Resolve dag_id", id="bundles.resolve"),
    Binding("x", "toggle_rejected", "Rejected only", id="bundles.rejected_only"),
    Binding("right_square_bracket", "step_tab(1)", "Next tab", id="bundles.next_tab"),
    Binding("left_square_bracket", "step_tab(-1)", "Previous tab", id="bundles.previous_tab", show=False),
    Binding("c", "cancel_scan", "Cancel scan", id="bundles.cancel_scan", show=False),
    Binding("escape", "leave_filter", "Back to tree", id="bundles.tree", show=False),
]

BUNDLE_RESOLVE = [Binding("escape", "close", "Close", id="bundle_resolve.close")]

HEALTH = [
    Binding("s", "program('start')", "Start", id="health.program_start"),
    Binding("t", "program('stop')", "Stop", id="health.program_stop"),
    Binding("R", "program('restart')", "Restart", id="health.program_restart"),
    Binding("l", "program_log", "Log", id="health.program_log"),
    Binding("r", "poll_now", "Poll now", id="health.poll_now"),
    Binding("o", "poll_selected", "Poll this", id="health.poll_selected"),
    Binding("p", "toggle_pause", "Pause/resume", id="health.pause"),
    Binding("a", "add_endpoint", "Add endpoint", id="health.add_endpoint"),
    Binding("delete,x", "remove_endpoint", "Remove", id="health.remove_endpoint"),
]

HEALTH_ADD = [Binding("escape", "close", "Cancel", id="health_add.cancel")]

SUPERVISOR_LOG = [
    Binding("f", "toggle_follow", "Follow", id="supervisor_log.follow"),
    Binding("e", "switch_stream", "stdout/stderr", id="supervisor_log.stream"),
    Binding("home", "scroll_home", "Top", id="supervisor_log.top", show=False),
    Binding("end", "scroll_end", "Bottom", id="supervisor_log.bottom", show=False),
    Binding("escape", "close", "Back", id="supervisor_log.close"),
]

ALL = [*APP, *DISPATCH, *EDITOR, *FILTER, *RESULTS, *FANOUT, *OUTPUT, *OUTPUT_SEARCH, *HELP, *JUMP, *QUIT, *CONFIRM,
       *PICKER, *HISTORY, *ERROR, *BUNDLES, *BUNDLE_RESOLVE, *HEALTH, *HEALTH_ADD, *SUPERVISOR_LOG]

# What the help overlay and the README's key table show, by pane and then by dialog.
SECTIONS = [
    ("Anywhere", APP),
    ("Dispatch", DISPATCH),
    ("Dispatch · editor", EDITOR),
    ("Dispatch · filter", FILTER),
    ("Dispatch · results", RESULTS),
    ("Dispatch · fan-out groups", FANOUT),
    ("Output view", [*OUTPUT, *OUTPUT_SEARCH]),
    ("Bundles", BUNDLES),
    ("Bundles · resolve", BUNDLE_RESOLVE),
    ("Health", HEALTH),
    ("Health · add endpoint", HEALTH_ADD),
    ("Health · program log", SUPERVISOR_LOG),
    ("Targets picker", PICKER),
    ("History", HISTORY),
    ("Quit with a dispatch running", QUIT),
    ("Confirm", CONFIRM),
    ("Help and jump", [*HELP, *JUMP]),
    ("Error", ERROR),
]


def binding_ids() -> set[str]:
    return {b.id for b in ALL if b.id}


def unknown_keymap_ids(keymap: dict[str, str]) -> list[str]:
    """Ids in a user's keymap that name no binding: almost always a typo worth reporting."""
    known = binding_ids()
    return sorted(k for k in keymap if k not in known)


_KEY_NAMES = {
    "question_mark": "?", "colon": ":", "slash": "/", "left_square_bracket": "[", "right_square_bracket": "]",
}


def key_label(key: str) -> str:
    """One key as people type it: ``?`` rather than ``question_mark``."""
    return _KEY_NAMES.get(key, key)


def keys_of(binding: Binding, keymap: dict[str, str] | None = None) -> list[str]:
    """Every key bound to ``binding`` (the user's keymap wins), as labels."""
    keys = (keymap or {}).get(binding.id, binding.key) if binding.id else binding.key
    return [key_label(k.strip()) for k in keys.split(",") if k.strip()]


def key_table_markdown() -> str:
    """The README's key table: one row per binding, grouped as in the help overlay."""
    rows = ["| where | keys | does | id |", "|---|---|---|---|"]
    for title, section in SECTIONS:
        for binding in section:
            keys = " ".join(f"`{k}`" for k in keys_of(binding))
            rows.append(f"| {title} | {keys} | {binding.description} | `{binding.id}` |")
    return "\n".join(rows)


def key_for(app, binding_id: str) -> str:
    """How the key currently bound to ``binding_id`` is shown (the user's keymap wins)."""
    binding = next((b for b in ALL if b.id == binding_id), None)
    if binding is None:
        return binding_id
    keys = app._keymap.get(binding_id, binding.key) if hasattr(app, "_keymap") else binding.key
    first = keys.split(",")[0].strip()
    return app.get_key_display(Binding(first, binding.action))
