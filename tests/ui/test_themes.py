"""Shipped themes: data files that load, stay distinct in 16 colours, and are the only colour source."""

from __future__ import annotations

import re
from pathlib import Path

from rich.color import Color as RichColor
from rich.color import ColorSystem

import console.ui
from console.ui.themes import load_themes, theme_dirs

REPO = Path(__file__).resolve().parents[2]


def test_shipped_themes_load_from_the_source_tree():
    assert REPO / "themes" in theme_dirs()
    loaded = load_themes([REPO / "themes"])
    assert loaded.problems == []
    names = {t.name: t for t in loaded.themes}
    assert {"dark", "light", "high-contrast"} <= set(names)
    assert names["light"].dark is False and names["dark"].dark is True


def test_a_broken_theme_file_is_reported_and_skipped(tmp_path):
    (tmp_path / "good.yaml").write_text("name: good\nprimary: '#112233'\n")
    (tmp_path / "typo.yaml").write_text("name: typo\nprimray: '#112233'\n")
    (tmp_path / "colour.yaml").write_text("name: colour\nprimary: 'not-a-colour'\n")
    (tmp_path / "yaml.yaml").write_text("name: [\n")
    loaded = load_themes([tmp_path])
    assert [t.name for t in loaded.themes] == ["good"]
    joined = "\n".join(loaded.problems)
    assert "unknown key 'primray'" in joined
    assert "'not-a-colour' is not a colour" in joined
    assert "yaml.yaml: cannot load theme" in joined


def test_state_colours_stay_distinct_in_a_16_colour_terminal():
    for theme in load_themes([REPO / "themes"]).themes:
        colours = {name: getattr(theme, name) for name in ("success", "error", "warning", "accent")}
        downgraded = {name: RichColor.parse(value).downgrade(ColorSystem.STANDARD).number for name, value in colours.items()}
        assert len(set(downgraded.values())) == 4, f"{theme.name}: {downgraded}"
        background = RichColor.parse(theme.background).downgrade(ColorSystem.STANDARD).number
        assert background not in downgraded.values(), f"{theme.name}: a state colour vanishes into the background"


def test_app_css_uses_theme_variables_only():
    css = (Path(console.ui.__file__).parent / "styles" / "app.tcss").read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    for prop, value in re.findall(r"(color|background|border[a-z-]*)\s*:\s*([^;]+);", css):
        value = re.sub(r"\$[a-z-]+", "", value)
        for word in re.findall(r"#[0-9a-fA-F]{3,8}|rgb\(|hsl\(|\b[a-z]+\b", value):
            assert not word.startswith(("#", "rgb(", "hsl(")), f"{prop}: {value}"
            assert word in {"tall", "thick", "solid", "none", "round", "heavy", "wide"}, f"{prop}: {value} uses a literal colour"
