"""One headless Debian chromium for the explain tests, and the explore page on a real port."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from mlvajra.explain.commands import explore_app
from tests.topology.processes import free_port, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """Debian's chromium through chromedriver: nothing is downloaded."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("install chromium and chromium-driver (make tools)")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1600")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def explore_url(artifact_dir: Path) -> Iterator[str]:
    """`mlvajra explore`'s app under uvicorn on a free loopback port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            explore_app(artifact_dir, trust_pickle=True),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, timeout=30)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
