"""PDF building blocks: HTML to PDF, barcodes, merging and page stamps.

Rendering is a pure function of its input: it reads local files only (our
stylesheet, system fonts) and fetches nothing. WeasyPrint's fetcher accepts
only the ``data:`` URLs we make ourselves (barcodes); EHR text is escaped by
the templates, so it cannot bring in a URL, and a URL that got in anyway
would still be refused.
"""

import base64
import contextlib
import gc
import io
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import barcode
import pikepdf
import weasyprint
from barcode.writer import ImageWriter
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from config.invisible import shown

STYLESHEET = Path(__file__).resolve().parent / "static" / "printouts" / "pack.css"
FONT_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)


class RenderError(Exception):
    """A document could not be made; the message says why."""


class LocalOnlyFetcher(weasyprint.URLFetcher):
    """Refuses every URL but ``data:``; remembers what it refused."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols={"data"}, allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        if not url.startswith("data:"):
            self.refused.append(url)
            raise ValueError("the pack renderer fetches nothing")
        return super().fetch(url, headers)


@cache
def _stylesheet() -> weasyprint.CSS:
    return weasyprint.CSS(string=STYLESHEET.read_text(), url_fetcher=LocalOnlyFetcher())


def html_to_pdf(html: str) -> tuple[bytes, LocalOnlyFetcher]:
    """The PDF of ``html`` and the fetcher that served it (for its refusals)."""
    fetcher = LocalOnlyFetcher()
    document = weasyprint.HTML(string=shown(html), base_url=None, url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[_stylesheet()]), fetcher


# Code 128 with a module of 4 dots at 300 dpi (0.34 mm): whole dots keep
# every bar crisp, and the size is what hospital scanners read reliably.
BARCODE_DPI = 300
MODULE_MM = 4 * 25.4 / BARCODE_DPI
BAR_HEIGHT_MM = 7.0
QUIET_ZONE_MM = 2.5


def code128(value: str) -> tuple[str, float]:
    """A Code 128 barcode of ``value``: a 1-bit PNG ``data:`` URL and its
    width in millimetres, to print at exactly that size.

    PNG rather than SVG: WeasyPrint lays out an SVG's every bar (PDF_NOTES.md).
    """
    buffer = io.BytesIO()
    dpi = BARCODE_DPI
    barcode.Code128(value, writer=ImageWriter(mode="1", dpi=dpi)).write(
        buffer,
        options={
            "write_text": False,
            "module_width": MODULE_MM,
            "module_height": BAR_HEIGHT_MM,
            "quiet_zone": QUIET_ZONE_MM,
            "margin_top": 0,
            "margin_bottom": 0,
        },
    )
    data = buffer.getvalue()
    width_px = int.from_bytes(data[16:20], "big")  # the PNG header's width
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    return url, width_px / dpi * 25.4


# The MAR's 24 hour columns, drawn as one image per row: a table of 24 empty
# cells per medication was half of a patient's layout time (bench/packs.py).
HOUR_DOTS = 62  # one hour column: 62 dots at 300 dpi = 5.25 mm
HOURS_WIDTH_MM = 24 * HOUR_DOTS * 25.4 / 300
GRID_LINE = 2  # dots: 0.17 mm, as the tables' 0.5 pt borders
DUE_GREY = 200


@cache
def hour_row(due: tuple[int, ...], start: int, height_mm: float) -> str:
    """One MAR row's hour cells (due hours shaded), as a PNG ``data:`` URL."""
    shaded = tuple(column for column in range(24) if (start + column) % 24 in due)
    return boxes_row(24, HOUR_DOTS, height_mm, shaded)


@cache
def boxes_row(
    columns: int, column_dots: int, height_mm: float, shaded: tuple[int, ...] = ()
) -> str:
    """A row of boxes to fill in by hand (the ``shaded`` ones grey), as a PNG
    ``data:`` URL: a table cell per box costs WeasyPrint a layout each."""
    height = round(height_mm / 25.4 * 300)
    width = columns * column_dots
    image = Image.new("L", (width + GRID_LINE, height), 255)
    draw = ImageDraw.Draw(image)
    for column in range(columns):
        left = column * column_dots
        if column in shaded:
            draw.rectangle((left, 0, left + column_dots, height), fill=DUE_GREY)
        draw.rectangle((left, 0, left + GRID_LINE - 1, height), fill=80)
    draw.rectangle((width, 0, width + GRID_LINE - 1, height), fill=80)
    return _png_url(image)


@cache
def hour_header(start: int, height_mm: float = 4.0) -> str:
    """The hour numbers over the MAR's columns, as a PNG ``data:`` URL."""
    height = round(height_mm / 25.4 * 300)
    image = Image.new("L", (24 * HOUR_DOTS + GRID_LINE, height), 230)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT_FILES[1]), size=round(height * 0.62))
    for column in range(24):
        left = column * HOUR_DOTS
        draw.rectangle((left, 0, left + GRID_LINE - 1, height), fill=80)
        label = f"{(start + column) % 24:02d}"
        draw.text(
            (left + HOUR_DOTS / 2 + 1, height / 2),
            label,
            fill=0,
            font=font,
            anchor="mm",
        )
    draw.rectangle((24 * HOUR_DOTS, 0, 24 * HOUR_DOTS + GRID_LINE - 1, height), fill=80)
    return _png_url(image)


def _png_url(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, dpi=(300, 300))
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def tune_gc() -> None:
    """For a process that renders document after document: what it holds by
    now (Django, WeasyPrint, fonts) leaves the garbage collector's passes.
    WeasyPrint makes many short-lived cycles, and each full pass used to walk
    all of that too. Higher thresholds were tried and measured (docs/decisions.md):
    no faster within the noise, and up to 100 MB more at the peak."""
    gc.freeze()


def page_count(pdf: bytes) -> int:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return len(document.pages)


# Where the cover leaves room for its times: 14 mm top margin + 70 mm title.
COVER_TIMES_MM = 84.0
MM = 72 / 25.4


def assemble(
    parts: Iterable[bytes],
    lines: Sequence[str] = (),
    *,
    page_label: str = "",
    top: bool = False,
    cover: Sequence[str] = (),
    banner: str = "",
    header: str = "",
) -> tuple[bytes, int]:
    """The parts as one PDF, every page stamped; returns (PDF, page count).

    ``lines`` go at the foot (or head) of every page, in the strip the
    templates leave empty. ``page_label`` is formatted with ``page`` and
    ``pages`` ("Page 3 of 73") and printed at the right. ``cover`` lines go,
    large, in the box the cover keeps for them on page 1. ``banner`` goes in
    a box at the foot of every page, above the foot ``lines``. ``header``
    goes at the right of the head of every page (its left is for "printed
    by", stamped when the pack is printed).

    qpdf (pikepdf) rather than pypdf: merging and stamping a 50-page ward
    takes a tenth of the time (docs/decisions.md).
    """
    with contextlib.ExitStack() as opened:  # qpdf reads the parts on saving
        merged = opened.enter_context(pikepdf.new())
        for part in parts:
            source = opened.enter_context(pikepdf.open(io.BytesIO(part)))
            merged.pages.extend(source.pages)
        pages = len(merged.pages)
        if lines or page_label or cover or banner or header:
            sizes = [_size(page) for page in merged.pages]
            overlay = _stamps(sizes, lines, page_label, top, cover, banner, header)
            stamps = opened.enter_context(pikepdf.open(io.BytesIO(overlay)))
            for page, stamp_page in zip(merged.pages, stamps.pages, strict=True):
                page.add_overlay(stamp_page)
        return _saved(merged), pages


def pages_of(data: bytes, ranges: Iterable[tuple[int, int]]) -> bytes:
    """A PDF of the pages of ``data`` in ``ranges`` (first and last, 1-based),
    in that order, as they are: their stamps stay."""
    with pikepdf.open(io.BytesIO(data)) as source, pikepdf.new() as chosen:
        for first, last in ranges:
            chosen.pages.extend(source.pages[first - 1 : last])
        return _saved(chosen)


def stamped(data: bytes, lines: Sequence[str], *, top: bool = False) -> bytes:
    """A copy of the PDF ``data`` with ``lines`` on every page."""
    return assemble([data], lines, top=top)[0]


def _size(page: pikepdf.Page) -> tuple[float, float]:
    left, bottom, right, top = (float(value) for value in page.mediabox)
    return right - left, top - bottom


def _saved(document: pikepdf.Pdf) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer, compress_streams=True)
    return buffer.getvalue()


def _stamps(
    sizes: Sequence[tuple[float, float]],
    lines: Sequence[str],
    page_label: str,
    top: bool,
    cover: Sequence[str],
    banner: str,
    header: str = "",
) -> bytes:
    regular, bold = _fonts()
    lines, cover = [shown(line) for line in lines], [shown(line) for line in cover]
    header = shown(header)
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pageCompression=1, invariant=1)
    total = len(sizes)
    for number, (width, height) in enumerate(sizes, 1):
        sheet.setPageSize((width, height))
        margin = 34.0  # 12 mm, as the stylesheet's page margins
        y = height - 22.0 if top else 24.0
        sheet.setFillColor(Color(0, 0, 0))
        for index, line in enumerate(lines):
            sheet.setFont(bold if index == 0 else regular, 7.5)
            sheet.drawString(margin, y - index * 9.0, line)
        if page_label:
            sheet.setFont(bold, 8.5)
            sheet.drawRightString(
                width - margin, y, page_label % {"page": number, "pages": total}
            )
        if number == 1 and cover:
            baseline = height - (COVER_TIMES_MM + 10) * MM
            for index, line in enumerate(cover):
                sheet.setFont(bold if index == 0 else regular, 16 if index == 0 else 10)
                sheet.drawString(margin + 4 * MM, baseline - index * 8 * MM, line)
        if banner:
            _banner(sheet, banner, margin, width - 2 * margin)
        if header:
            sheet.setFont(bold, 8.5)
            sheet.drawRightString(width - margin, height - 22.0, header)
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


BANNER_SIZE = 8.0
# Points from the foot: above the foot lines (at 24 and 15), below the
# stylesheet's bottom margin (18 mm, 51 points).
BANNER_BASELINE = 36.5


def _banner(sheet: canvas.Canvas, text: str, left: float, room: float) -> None:
    """``text`` in bold in a box at the foot, made smaller if a translation
    would not fit the line: it must stay whole, off the page's content."""
    _regular, bold = _fonts()
    padding = 2.5
    size = BANNER_SIZE
    width = pdfmetrics.stringWidth(text, bold, size)
    if width > room - 2 * padding:
        size *= (room - 2 * padding) / width
        width = room - 2 * padding
    below, above = 2.5, 0.75 * size + 2.5  # around the capitals
    sheet.setLineWidth(1.0)
    sheet.rect(left, BANNER_BASELINE - below, width + 2 * padding, below + above)
    sheet.setFont(bold, size)
    sheet.drawString(left + padding, BANNER_BASELINE, text)


@cache
def _fonts() -> tuple[str, str]:
    """DejaVu Sans (Debian's fonts-dejavu-core): every Latin accent prints."""
    names = ("PackSans", "PackSans-Bold")
    for name, path in zip(names, FONT_FILES, strict=True):
        if not path.exists():
            raise RenderError(
                f"{path} is missing: install the Debian package fonts-dejavu-core"
            )
        pdfmetrics.registerFont(TTFont(name, str(path)))
    return names
