"""Driving the admin in a real browser: headless Chromium from Debian's packages through
selenium (tests marked `browser`). Where Chromium or its driver is missing the test is skipped
with the command that installs them; `.ci/run` installs them, so CI always runs these.

Each flow saves screenshots under `artifacts/screenshots/` (SCREENSHOT_DIR): CI keeps them as
artefacts, and the README shows two of them (copied to docs/screenshots/).
"""

import os
import shutil
from pathlib import Path

import pytest

SCREENSHOT_DIR = Path(
    os.environ.get(
        "SCREENSHOT_DIR", Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
    )
)
WAIT_SECONDS = 10


def _binaries() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


class Browser:
    """A thin layer over selenium's driver for the admin: sign in, open a path, find, click,
    type, wait for text, save a screenshot."""

    def __init__(self, driver, base_url: str):
        self.driver = driver
        self.base_url = base_url

    def get(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def login(self, username: str, password: str) -> None:
        from selenium.webdriver.common.by import By

        self.get("/admin/login/")
        self.driver.find_element(By.NAME, "username").send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        self.wait_for_css("#user-tools")

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all_css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def wait_for_css(self, selector: str, timeout: float = WAIT_SECONDS):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, selector))
        )

    def wait_for_text(self, text: str, timeout: float = WAIT_SECONDS) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(
            ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text)
        )

    def click_text(self, text: str, tag: str = "*") -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(
            By.XPATH, f"//{tag}[normalize-space()={_xpath_literal(text)}]"
        ).click()

    def fill(self, selector: str, value: str) -> None:
        element = self.css(selector)
        element.clear()
        element.send_keys(value)

    @property
    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def screenshot(self, name: str) -> Path:
        """Save the whole page (not only the viewport) as SCREENSHOT_DIR/<name>.png."""
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1400, max(900, min(int(height), 4000)))
        path = SCREENSHOT_DIR / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1400, 900)
        return path


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    return "concat('" + "', \"'\", '".join(text.split("'")) + "')"


@pytest.fixture
def browser(live_server):
    """A headless Chromium on the live server (skipped, saying how to install it, if absent)."""
    found = _binaries()
    if found is None:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail("REQUIRE_BROWSER is set and Chromium or chromedriver is missing")
        pytest.skip("Chromium is not installed: apt-get install chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed: pip install -e '.[dev]'")
    chromium, chromedriver = found
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,900",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield Browser(driver, live_server.url)
    finally:
        driver.quit()
