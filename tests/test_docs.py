"""The README is a front page whose links and commands are real.

Every relative link in README.md and docs/*.md names an existing file (and, with ``#anchor``,
a heading of that file, slugged as GitHub slugs them); every ``clipdex ...`` command in a code
block of the README is a registered command given only that command's options; the README stays
short.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from clipdex.cli import build_cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SEPARATORS = {"&&", "||", "|", ";"}


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks and inline code (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def _relative_links(path: Path) -> list[str]:
    links = LINK.findall(_prose(path.read_text()))
    return [link for link in links if not re.match(r"^[a-z]+:", link)]


def test_the_pages_exist_and_link_to_each_other():
    names = {p.name for p in PAGES}
    assert {"commands.md", "http-api.md", "watching.md", "duplicates.md", "library.md"} <= names
    assert {"speed.md", "quality.md", "security.md"} <= names
    readme_links = {link.split("#")[0] for link in _relative_links(README)}
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme_links, f"README.md does not link {page.name}"


def _broken_links(page: Path) -> list[str]:
    broken = []
    for link in _relative_links(page):
        target, _, anchor = link.partition("#")
        file = (page.parent / target).resolve() if target else page
        if not file.exists():
            broken.append(f"{link}: no such file")
        elif anchor and anchor not in _anchors(file):
            broken.append(f"{link}: no heading #{anchor} in {file.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_points_at_a_file_and_anchor(page: Path):
    assert not _broken_links(page), f"{page.name}: {_broken_links(page)}"


def test_the_link_checker_catches_a_broken_link(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Other page\n\n## The `serve` part: details\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#the-serve-part-details) [gone](missing.md) [bad](other.md#nowhere)\n"
        "[web](https://example.org/x) `[code](missing.md)`\n```\n[block](missing.md)\n```\n"
    )
    assert _broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading #nowhere in other.md",
    ]


def _clipdex_commands(text: str) -> list[list[str]]:
    """The argument lists of the ``clipdex`` invocations in the code blocks of ``text``."""
    found = []
    for block in _code_blocks(text):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:
                continue  # output, not a command line
            segment: list[str] = []
            for token in [*tokens, ";"]:
                if token not in SEPARATORS:
                    segment.append(token)
                    continue
                while segment and re.match(r"^[A-Z_]+=", segment[0]):  # VAR=value clipdex ...
                    segment.pop(0)
                if segment and (segment[0] == "clipdex" or segment[0].endswith("/clipdex")):
                    found.append(segment[1:])
                segment = []
    return found


def _check(args: list[str]) -> list[str]:
    """What is wrong with ``clipdex ARGS``: an unknown command or an option it does not take."""
    group = build_cli()
    group_options = {o: p for p in group.params for o in p.opts}
    while args and args[0].startswith("-"):
        option = group_options.get(args[0].split("=")[0])
        if option is None:
            return [f"unknown option {args[0]} before the command"]
        args = args[1 + (not option.is_flag and "=" not in args[0]) :]
    if not args:
        return []
    command = group.commands.get(args[0])
    if command is None:
        return [f"no command {args[0]!r}"]
    known = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
    known.add("--help")
    return [
        f"{args[0]} has no option {a}"
        for a in args[1:]
        if a.startswith("-") and a != "-" and a.split("=")[0] not in known
    ]


def test_every_command_in_the_readme_exists():
    commands = _clipdex_commands(README.read_text())
    used = {args[0] for args in commands if args}
    # The front page shows the main commands; check that it still does.
    assert {"index", "search", "similar", "watch", "serve", "eval"} <= used
    problems = [f"clipdex {' '.join(args)}: {p}" for args in commands for p in _check(args)]
    assert not problems, problems


def test_the_checker_catches_a_wrong_command():
    assert _check(["search", "x", "--no-such-option"]) == ["search has no option --no-such-option"]
    assert _check(["serach", "x"]) == ["no command 'serach'"]
    assert _check(["--library", "/x", "index", "/v", "--min-clip", "2"]) == []
    assert _clipdex_commands("```sh\nA=1 clipdex search 'a' -k 3 | xargs mpv  # c\n```\n") == [
        ["search", "a", "-k", "3"]
    ]


def test_the_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 260, f"README.md has {len(lines)} lines; move reference text to docs/"
    text = README.read_text()
    # The two commands, verbatim.
    assert (
        "python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install "
        "-e . && .venv/bin/clipdex index ~/Videos" in text
    )
    assert (
        "python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install "
        "-e '.[test]' && .venv/bin/python -m pytest -q" in text
    )
    assert "](docs/serve.png)" in text
