"""Screening with real crafted files: the type the bytes are, not the one claimed; PDFs
that could run, launch, carry or link; and lesson HTML with script and outside links."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from campus.screening import (
    MAX_FILE_BYTES,
    Refusal,
    ScreenError,
    clean_html,
    local_href,
    screen_file,
)
from tests.campus import files


def _refused(data: bytes, claimed: str) -> Refusal:
    with pytest.raises(ScreenError) as caught:
        screen_file(data, claimed)
    return caught.value.reason


@pytest.mark.parametrize(
    ("make", "claimed", "kind", "mime"),
    [
        (files.png, "image/png", "image", "image/png"),
        (files.jpeg, "image/jpg", "image", "image/jpeg"),
        (files.wav, "audio/wav", "audio", "audio/x-wav"),
        (files.pdf, "application/pdf", "pdf", "application/pdf"),
    ],
)
def test_a_file_that_is_what_it_claims_passes_with_its_checked_type(
    make: Callable[[], bytes], claimed: str, kind: str, mime: str
) -> None:
    data = make()
    found = screen_file(data, claimed)
    assert (found.kind, found.mime, found.size) == (kind, mime, len(data))
    assert len(found.sha256) == 64


def test_a_png_renamed_pdf_is_refused_as_not_what_it_claims() -> None:
    assert _refused(files.png(), "application/pdf") == Refusal.TYPE_MISMATCH
    assert _refused(files.pdf(), "image/png") == Refusal.TYPE_MISMATCH
    assert _refused(b"<script>alert(1)</script>", "image/png") == Refusal.TYPE_MISMATCH


def test_a_type_the_campus_does_not_carry_is_refused() -> None:
    assert _refused(b"<html></html>", "text/html") == Refusal.TYPE_NOT_ALLOWED
    assert _refused(files.png(), "image/svg+xml") == Refusal.TYPE_NOT_ALLOWED
    assert _refused(files.png(), "") == Refusal.TYPE_NOT_ALLOWED


def test_an_empty_or_too_large_file_is_refused() -> None:
    assert _refused(b"", "image/png") == Refusal.EMPTY
    too_big = files.png() + b"\x00" * MAX_FILE_BYTES
    assert _refused(too_big, "image/png") == Refusal.TOO_LARGE


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (files.pdf_with_javascript, Refusal.PDF_SCRIPT),
        (files.pdf_with_document_javascript, Refusal.PDF_SCRIPT),
        (files.pdf_with_launch, Refusal.PDF_LAUNCH),
        (files.pdf_with_embedded_file, Refusal.PDF_EMBEDDED_FILE),
        (files.pdf_with_link, Refusal.PDF_EXTERNAL_LINK),
        (files.pdf_encrypted, Refusal.PDF_ENCRYPTED),
    ],
)
def test_a_pdf_that_could_run_launch_carry_or_link_is_refused(
    make: Callable[[], bytes], reason: Refusal
) -> None:
    assert _refused(make(), "application/pdf") == reason


def test_a_broken_pdf_is_refused_as_unreadable() -> None:
    assert _refused(b"%PDF-1.7\n" + b"\x00garbage" * 20, "application/pdf") in (
        Refusal.PDF_UNREADABLE,
        Refusal.TYPE_MISMATCH,
    )


def test_lesson_html_loses_script_and_outside_links_and_says_so() -> None:
    cleaned = clean_html(
        '<h2>Pay</h2><p onclick="steal()">Read <a href="https://evil.example/x">this</a> and '
        '<a href="/device/learning">that</a>.</p><script>alert(1)</script>'
        '<img src="http://tracker.example/p.gif">'
    )
    assert "script" not in cleaned.html and "onclick" not in cleaned.html
    assert "evil.example" not in cleaned.html and "tracker" not in cleaned.html
    assert '<a href="/device/learning"' in cleaned.html
    assert "<h2>Pay</h2>" in cleaned.html
    assert cleaned.removed == ("script", "external_link")


def test_plain_lesson_html_is_kept_and_nothing_is_reported() -> None:
    html = "<p>One <strong>two</strong></p><ul><li>three</li></ul>"
    assert clean_html(html) == type(clean_html(html))(html, ())


@pytest.mark.parametrize(
    ("href", "local"),
    [
        ("/device", True),
        ("#part-2", True),
        ("lesson-2", True),
        ("//evil.example/", False),
        ("https://evil.example/", False),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("\\\\evil\\share", False),
        ("mailto:x@example.com", False),
    ],
)
def test_only_links_that_stay_on_the_service_are_kept(href: str, local: bool) -> None:
    assert local_href(href) is local
