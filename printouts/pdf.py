"""PDF building blocks: HTML to PDF, barcodes, merging and page stamps.

Rendering is a pure function of its input: it reads local files only (our
stylesheet, system fonts) and fetches nothing. WeasyPrint's fetcher accepts
only the ``data:`` URLs we make ourselves (barcodes); EHR text is escaped by
the templates, so it cannot bring in a URL, and a URL that got in anyway
would still be refused.
"""

import base64
import io
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import barcode
import pypdf
import weasyprint
from barcode.writer import ImageWriter
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

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
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher)
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
    height = round(height_mm / 25.4 * 300)
    image = Image.new("L", (24 * HOUR_DOTS + GRID_LINE, height), 255)
    draw = ImageDraw.Draw(image)
    for column in range(24):
        left = column * HOUR_DOTS
        if (start + column) % 24 in due:
            draw.rectangle((left, 0, left + HOUR_DOTS, height), fill=DUE_GREY)
        draw.rectangle((left, 0, left + GRID_LINE - 1, height), fill=80)
    draw.rectangle((24 * HOUR_DOTS, 0, 24 * HOUR_DOTS + GRID_LINE - 1, height), fill=80)
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


def page_count(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def merge(parts: Iterable[bytes]) -> pypdf.PdfWriter:
    writer = pypdf.PdfWriter()
    for part in parts:
        writer.append(pypdf.PdfReader(io.BytesIO(part)))
    return writer


# Where the cover leaves room for its times: 14 mm top margin + 70 mm title.
COVER_TIMES_MM = 84.0
MM = 72 / 25.4


def stamp(
    writer: pypdf.PdfWriter,
    lines: Sequence[str],
    *,
    page_label: str = "",
    top: bool = False,
    cover: Sequence[str] = (),
) -> None:
    """Write ``lines`` on every page, at the foot (or head) of the page.

    ``page_label`` is formatted with ``page`` and ``pages`` ("Page 3 of 73")
    and printed at the right. The fragments leave this strip empty. ``cover``
    lines go, large, in the box the cover keeps for them on page 1.
    """
    pages = writer.pages
    overlay = pypdf.PdfReader(io.BytesIO(_stamps(pages, lines, page_label, top, cover)))
    for page, stamp_page in zip(pages, overlay.pages, strict=True):
        page.merge_page(stamp_page, over=True)


def reader_writer(data: bytes) -> pypdf.PdfWriter:
    """A writer holding a copy of the PDF ``data``, to stamp."""
    return pypdf.PdfWriter(clone_from=io.BytesIO(data))


def to_bytes(writer: pypdf.PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _stamps(
    pages, lines: Sequence[str], page_label: str, top: bool, cover: Sequence[str]
) -> bytes:
    regular, bold = _fonts()
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pageCompression=1, invariant=1)
    total = len(pages)
    for number, page in enumerate(pages, 1):
        width = float(page.mediabox.width)
        height = float(page.mediabox.height)
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
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


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
