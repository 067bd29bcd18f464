"""The CLI's progress bar draws on a terminal and stays silent elsewhere."""

from __future__ import annotations

import io

from web.audit_cli import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal() -> None:
    out = Terminal()
    bar = ProgressBar(out)
    bar(50, 200)
    bar(200, 200)
    bar.close()
    assert out.getvalue() == (
        "\r[#######.......................]  25.0% 50/200"
        "\r[##############################] 100.0% 200/200\n"
    )


def test_progress_bar_is_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(out)
    bar(50, 200)
    bar.close()
    assert out.getvalue() == ""
