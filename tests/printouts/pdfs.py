"""Reading PDFs as a person checks them: text per page, barcodes."""

import io

import pypdf
import pypdfium2
import zxingcpp


def page_texts(data: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [page.extract_text() or "" for page in reader.pages]


def barcodes(data: bytes, page_number: int, *, dpi: int = 200) -> set[str]:
    """Texts of the barcodes that decode on one page (1-based), as a scanner
    reads the printed sheet."""
    document = pypdfium2.PdfDocument(data)
    try:
        image = document[page_number - 1].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    return {
        result.text
        for result in zxingcpp.read_barcodes(
            image, formats=zxingcpp.BarcodeFormat.Code128
        )
    }


def keep_png(data: bytes, page_number: int, name: str) -> None:
    """One page (1-based) as a PNG in var/test-artifacts/, to look at."""
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(data)
    try:
        document[page_number - 1].render(scale=1.5).to_pil().save(ARTIFACTS / name)
    finally:
        document.close()
