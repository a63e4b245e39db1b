"""Every error a user sees is one ``clipdex: error: ...`` line with exit 2: Click's usage errors
(bad option value, unknown option, missing argument, unknown command) as much as clipdex's own,
in a real process as in CliRunner; and a blank query is one of them."""

from __future__ import annotations

import pytest

from tests.support.cli import run, subprocess_run

USAGE_ERRORS = [
    (
        ["search", "x", "-k", "0"],
        "clipdex: error: invalid value for '-k': 0 is not in the range x>=1 "
        "(see clipdex search --help)",
    ),
    (
        ["search", "x", "--jsn"],
        "clipdex: error: no such option '--jsn'. (Did you mean one of: '--in', '--json', "
        "'--not'?) (see clipdex search --help)",
    ),
    (["search"], "clipdex: error: missing argument 'TEXT' (see clipdex search --help)"),
    (
        ["serch", "x"],
        "clipdex: error: no such command 'serch'. (Did you mean one of: 'search', 'serve'?) "
        "(see clipdex --help)",
    ),
    (
        ["index", "--batch", "many", "."],
        "clipdex: error: invalid value for '--batch': 'many' is not a valid integer "
        "(see clipdex index --help)",
    ),
    (
        ["search", ""],
        'clipdex: error: the query is empty: describe what to find, e.g. clipdex search "a dog '
        'on a beach" (see clipdex search --help)',
    ),
    (
        ["search", " \t "],
        'clipdex: error: the query is empty: describe what to find, e.g. clipdex search "a dog '
        'on a beach" (see clipdex search --help)',
    ),
]


@pytest.mark.parametrize(("args", "line"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_errors_are_one_line_and_exit_2(args, line):
    result = run(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", line + "\n")


def test_usage_errors_in_a_real_process():
    for args, line in USAGE_ERRORS[:4]:
        done = subprocess_run(*args, timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n"), args


def test_a_blank_query_is_refused_even_with_a_library(video_dir):
    assert run("index", video_dir).exit_code == 0
    result = run("search", "   ", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("clipdex: error: the query is empty")


def test_help_and_version_still_exit_0():
    assert run("--help").exit_code == 0
    assert "search [OPTIONS] TEXT" in run("search", "--help").stdout
    assert run("--version").exit_code == 0
