"""search.beside: two pieces of work at once, results and errors as if one after the other."""

from __future__ import annotations

import threading

import pytest

from search.beside import beside


def test_both_results_come_back_and_the_aside_ran_on_another_thread() -> None:
    here_began = threading.Event()
    threads = []

    def aside() -> str:
        threads.append(threading.get_ident())
        assert here_began.wait(10)  # run at the same time as ``here``
        return "words"

    def here() -> str:
        here_began.set()
        return "pictures"

    assert beside(aside, here) == ("words", "pictures")
    assert threads and threads[0] != threading.get_ident()
    order = []
    assert beside(lambda: order.append("a"), lambda: order.append("h"), parallel=False) == (
        None,
        None,
    )
    assert order == ["a", "h"]


def test_an_error_aside_is_raised_here() -> None:
    def aside() -> None:
        raise LookupError("no such table")

    with pytest.raises(LookupError, match="no such table"):
        beside(aside, lambda: 1)


def test_an_error_here_is_raised_once_the_aside_is_done() -> None:
    done = threading.Event()
    release = threading.Event()

    def aside() -> None:
        release.wait(10)
        done.set()

    def here() -> None:
        release.set()
        raise ValueError("bad query")

    with pytest.raises(ValueError, match="bad query"):
        beside(aside, here)
    assert done.is_set()
