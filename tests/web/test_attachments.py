"""Attachments in the page: pick an image and a PDF, see a preview and a link elsewhere."""

from __future__ import annotations

import base64
import re
import urllib.request

import pytest
from playwright.sync_api import Browser, expect

from harness.relay import RelayProcess
from tests.support.browser import open_chat

pytestmark = pytest.mark.browser

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.mark.parametrize("viewport", [None, {"width": 390, "height": 740}], ids=["wide", "phone"])
def test_an_image_and_a_pdf_reach_another_page(
    relay: RelayProcess, browser: Browser, viewport: dict[str, int] | None
) -> None:
    room = "files-phone" if viewport else "files"
    url = f"{relay.http}/?room={room}"
    alice = open_chat(browser, url, viewport=viewport)
    bob = open_chat(browser, url, viewport=viewport)

    expect(alice.page.locator("#attach")).to_be_visible()
    alice.page.set_input_files(
        "#file",
        [
            {"name": "dot.png", "mimeType": "image/png", "buffer": PNG},
            {"name": "paper.pdf", "mimeType": "application/pdf", "buffer": PDF},
        ],
    )
    chips = bob.page.locator("#messages li.message .attachment")
    expect(chips).to_have_count(2)
    image_chip = bob.page.locator('.attachment:has-text("dot.png")')
    pdf_chip = bob.page.locator('.attachment:has-text("paper.pdf")')
    preview = image_chip.locator("img.preview")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth") == 1
    expect(pdf_chip.locator("img")).to_have_count(0)
    expect(pdf_chip.locator("a.file-link")).to_be_visible()
    for chip in (image_chip, pdf_chip):
        expect(chip.locator(".file-state")).to_have_text(re.compile("not scanned"))
    href = pdf_chip.locator("a.file-link").get_attribute("href")
    assert href is not None
    with urllib.request.urlopen(relay.http + href, timeout=10) as response:
        assert response.read() == PDF
        assert response.headers["content-disposition"].startswith("attachment;")
    expect(alice.page.locator("#uploads li")).to_have_count(0)  # progress rows gone
    assert alice.problems() == [] and bob.problems() == []
