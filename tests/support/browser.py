"""Real Chromium for the web tests: Debian's /usr/bin/chromium driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    expect,
    sync_playwright,
)

from harness.paths import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
AXE_SCRIPT = REPO / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# No background traffic: the machine has no network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            "Chromium not found at /usr/bin/chromium; `make test` installs it (apt chromium)"
        )
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


class ChatPage:
    """One person's tab: the page, and every console line and page error it produced."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.response: Response | None = None  # of the page itself
        self.console: list[ConsoleMessage] = []
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", self._on_error)

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(message)

    def _on_error(self, error: Exception) -> None:
        self.errors.append(str(error))

    def problems(self) -> list[str]:
        """Console errors and warnings (CSP violations are reported there) and page errors."""
        lines = [
            f"{m.type}: {m.text} ({m.location.get('url', '')})"
            for m in self.console
            if m.type in ("error", "warning")
        ]
        return lines + self.errors

    def say(self, text: str) -> None:
        self.page.fill("#text", text)
        self.page.press("#text", "Enter")

    def texts(self) -> list[str]:
        return self.page.locator("#messages li.message .text").all_inner_texts()


def open_chat(
    browser: Browser,
    url: str,
    viewport: dict[str, int] | None = None,
    controlled_clock: bool = False,
) -> ChatPage:
    """A new browser profile (its own localStorage: another person) on the chat at url.

    With controlled_clock the page's clock runs naturally but a test can jump it
    (``page.clock.fast_forward``) instead of waiting in real time.
    """
    context = browser.new_context(viewport=viewport or {"width": 900, "height": 600})
    chat = ChatPage(context.new_page())
    chat.page.set_default_timeout(15_000)
    if controlled_clock:
        chat.page.clock.install()
    chat.response = chat.page.goto(url)
    expect(chat.page.locator("#status")).to_have_text("online")
    return chat
