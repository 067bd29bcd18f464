"""Real files, crafted here, for the screening and upload tests: what a lesson may carry
and what the campus must refuse."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime

import pikepdf
from fpdf import FPDF
from PIL import Image


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 92, 64)).save(out, format="PNG")
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return out.getvalue()


def pdf() -> bytes:
    """A plain one-page PDF, as fpdf2 makes it."""
    doc = FPDF()
    doc.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))
    doc.add_page()
    doc.set_font("Helvetica", size=14)
    doc.cell(text="Reading a payslip")
    return bytes(doc.output())


def _saved(doc: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def pdf_with_javascript() -> bytes:
    """Opening it runs a script (/OpenAction of type /JavaScript)."""
    doc = pikepdf.open(io.BytesIO(pdf()))
    doc.Root.OpenAction = doc.make_indirect(
        pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('hi')"))
    )
    return _saved(doc)


def pdf_with_document_javascript() -> bytes:
    """A named document-level script (/Names /JavaScript), nothing in /OpenAction."""
    doc = pikepdf.open(io.BytesIO(pdf()))
    action = doc.make_indirect(
        pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("this.print()"))
    )
    doc.Root.Names = pikepdf.Dictionary(
        JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("x"), action]))
    )
    return _saved(doc)


def pdf_with_launch() -> bytes:
    doc = pikepdf.open(io.BytesIO(pdf()))
    doc.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))
    return _saved(doc)


def pdf_with_link() -> bytes:
    """A link annotation to another site."""
    doc = pikepdf.open(io.BytesIO(pdf()))
    link = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.Link,
        Rect=pikepdf.Array([0, 0, 100, 100]),
        A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("https://example.com/")),
    )
    doc.pages[0].Annots = doc.make_indirect(pikepdf.Array([link]))
    return _saved(doc)


def pdf_with_embedded_file() -> bytes:
    doc = pikepdf.open(io.BytesIO(pdf()))
    doc.attachments["notes.txt"] = pikepdf.AttachedFileSpec(doc, b"carried inside")
    return _saved(doc)


def pdf_encrypted() -> bytes:
    doc = pikepdf.open(io.BytesIO(pdf()))
    out = io.BytesIO()
    doc.save(out, encryption=pikepdf.Encryption(owner="o", user="u"))
    return out.getvalue()
