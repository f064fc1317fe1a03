"""The page in a real browser: headless Chromium (Debian's), driven by Playwright, shows what /info says."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from app import bench
from tests.support.app_serving import CHROMIUM, CHROMIUM_ARGS, Server, require

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} not found: apt-get install chromium")
    require(importlib.util.find_spec("playwright") is not None, "Python package playwright missing (see pins)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


class Watched:
    """A page with a record of what it requested and of every console error or uncaught exception."""

    def __init__(
        self,
        browser: Browser,
        size: tuple[int, int] = (1280, 800),
        scheme: Literal["light", "dark"] = "light",
        phone: bool = False,
    ) -> None:
        self.context = browser.new_context(
            viewport={"width": size[0], "height": size[1]}, color_scheme=scheme, is_mobile=phone, has_touch=phone
        )
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    page = Watched(browser)
    try:
        yield page
    finally:
        page.close()


def test_page_shows_the_values_of_info(server: Server, watched: Watched, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    info = json.loads(server.get("/info").body)
    page = watched.page
    response = page.goto(f"{server.url}/")
    assert response is not None and response.status == 200
    for field, value in info.items():
        expect(page.locator(f'[data-info="{field}"]')).to_have_text(value)
    expect(page.get_by_role("status")).to_contain_text("Answered by the server")
    page.screenshot(path=tmp_path / "page.png", full_page=True)

    assert watched.errors == [], "no console errors, no CSP violations"
    assert all(url.startswith(f"{server.url}/") for url in watched.requests), "nothing from elsewhere"
    loaded = {url.removeprefix(server.url) for url in watched.requests}
    assert loaded >= {"/", "/info", *bench.page_assets((Path(bench.SITE) / "index.html").read_text())}


def test_ask_again_reads_info_once_more(server: Server, watched: Watched) -> None:
    from playwright.sync_api import expect

    page = watched.page
    page.goto(f"{server.url}/")
    expect(page.get_by_role("status")).to_contain_text("Answered by the server")
    button = page.get_by_role("button", name="Ask again")
    expect(button).to_be_enabled()
    with page.expect_response(f"{server.url}/info") as answer:
        button.click()
    assert answer.value.status == 200
    expect(page.get_by_role("status")).to_contain_text("Answered by the server")
    assert watched.errors == []


def test_page_structure_is_accessible(server: Server, watched: Watched) -> None:
    from playwright.sync_api import expect

    page = watched.page
    page.goto(f"{server.url}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello from kubeport")
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("region", name="Where this page runs")).to_be_visible()
    expect(page.get_by_role("term")).to_have_count(7)
    expect(page.get_by_role("definition")).to_have_count(7)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_page_fits_a_phone_screen(
    server: Server, browser: Browser, tmp_path: Path, scheme: Literal["light", "dark"]
) -> None:
    from playwright.sync_api import expect

    phone = Watched(browser, size=(360, 740), scheme=scheme, phone=True)
    try:
        phone.page.goto(f"{server.url}/")
        expect(phone.page.locator('[data-info="image"]')).to_have_text(json.loads(server.get("/info").body)["image"])
        assert phone.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scroll"
        phone.page.screenshot(path=tmp_path / f"page-phone-{scheme}.png", full_page=True)
        assert phone.errors == []
    finally:
        phone.close()


def test_unknown_path_shows_the_404_page(server: Server, watched: Watched, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = watched.page
    response = page.goto(f"{server.url}/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    page.screenshot(path=tmp_path / "404.png")
    page.get_by_role("link", name="Go to the kubeport page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello from kubeport")
    assert [e for e in watched.errors if "404" not in e] == []
