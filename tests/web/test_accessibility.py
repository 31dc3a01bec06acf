"""An axe-core scan of the page in Chromium, and the page working under its own CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from harness.relay import RelayProcess
from tests.support.browser import AXE_SCRIPT, DESKTOP, PHONE, open_chat

pytestmark = pytest.mark.browser

BLOCKING_IMPACTS = ("serious", "critical")


def axe_violations(page: Page) -> list[dict]:
    if not AXE_SCRIPT.exists():
        pytest.fail(f"{AXE_SCRIPT} missing: `make test` installs it (axe-core in package.json)")
    # Evaluated through the DevTools protocol, so the page's CSP (no inline script) still
    # holds for everything else: a <script> tag with this content would be refused.
    page.evaluate(AXE_SCRIPT.read_text() + "\n;undefined")
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [v for v in result if v["impact"] in BLOCKING_IMPACTS]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in violations
    )


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_serious_or_critical_violations(
    relay: RelayProcess, browser: Browser, viewport: dict
) -> None:
    url = f"{relay.http}/?room=a11y"
    other = open_chat(browser, url)
    other.say("a message from someone else")
    chat = open_chat(browser, url, viewport=viewport)
    chat.say("one of mine")
    chat.say("and another, grouped with it")
    expect(chat.page.locator("#messages li.message")).to_have_count(3)
    expect(chat.page.locator("#messages li.pending")).to_have_count(0)
    expect(chat.page.locator("#messages li.continued")).to_have_count(1)
    if viewport is PHONE:
        chat.page.click("#members-toggle")  # scan the open panel too
        expect(chat.page.locator("#members-panel")).to_be_visible()
    violations = axe_violations(chat.page)
    assert violations == [], describe(violations)


def test_the_empty_room_scans_clean_too(relay: RelayProcess, browser: Browser) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=a11y-empty")
    expect(chat.page.locator("#empty")).to_be_visible()
    violations = axe_violations(chat.page)
    assert violations == [], describe(violations)


def test_the_page_runs_under_its_csp_without_violations(
    relay: RelayProcess, browser: Browser
) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=csp")
    page = chat.page
    assert chat.response is not None
    headers = chat.response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    chat.say("works under the policy")
    expect(page.locator("#messages li.message .text")).to_have_text(["works under the policy"])
    expect(page.locator("#messages img").first).to_have_js_property("complete", True)

    # The policy is enforced, not just sent: an inline script is refused, and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.inlineRan = true'; document.head.append(s); }"
    )
    assert page.evaluate("() => window.inlineRan === undefined")
    refused = [p for p in chat.problems() if "Content Security Policy" in p]
    assert len(refused) == 1, chat.problems()
    # Nothing the page does itself broke the policy.
    assert [p for p in chat.problems() if p not in refused] == []
