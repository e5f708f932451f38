"""The explore page in a real headless chromium: card, prefilled form, steps, contributions."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from mlvajra.explain.card import read_reference
from mlvajra.explain.debug import Debugger
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor

SCREENSHOTS = os.environ.get("MLVAJRA_SCREENSHOTS")
"""A folder to write the README's screenshot into (docs/); a temporary one otherwise."""


def _wait_for(browser: webdriver.Chrome, css: str) -> None:
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def test_a_reference_row_explained_step_by_step(
    browser: webdriver.Chrome, explore_url: str, artifact_dir: Path, tmp_path: Path
) -> None:
    manifest = read_manifest(artifact_dir)
    reference = read_reference(artifact_dir, manifest).records[0]
    browser.get(explore_url)
    card = browser.find_element(By.ID, "card").text
    assert f"f1_macro {manifest.metrics.value:.4f} on held-out data" in card
    assert f"baseline {manifest.baseline_metrics.value:.4f}" in card
    assert len(browser.find_elements(By.CSS_SELECTOR, "#card svg.plot")) == len(manifest.inputs)
    island = Select(browser.find_element(By.NAME, "a:island"))
    assert island.first_selected_option.get_attribute("value") == reference["island"]
    length = browser.find_element(By.NAME, "a:bill_length_mm")
    assert float(length.get_attribute("value") or "nan") == reference["bill_length_mm"]
    length.clear()  # missing: the imputer fills it
    browser.find_element(By.ID, "explain").click()
    _wait_for(browser, "#contributions")

    record = dict(reference, bill_length_mm=None)
    debugger = Debugger.load(artifact_dir, manifest)
    expected = debugger.explain(Predictor(manifest, debugger.runner).columns([record]))
    prediction = browser.find_element(By.ID, "prediction").text
    assert f"prediction {expected.predictions.labels[0]}" in prediction
    step = browser.find_element(By.CSS_SELECTOR, 'table.step[data-step="preprocess"]').text
    imputed = expected.steps[0].values[0][0]
    assert f"numeric__bill_length_mm {imputed:.4g}" in step
    contributions = browser.find_element(By.ID, "contributions").text
    assert f"explains probability of {expected.predictions.labels[0]}" in contributions
    assert "exact TreeSHAP" in browser.find_element(By.CSS_SELECTOR, "p.method").text
    browser.set_window_size(1100, 1000)
    browser.execute_script("document.getElementById('try').scrollIntoView()")
    shot = Path(SCREENSHOTS or tmp_path) / "explore.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_two_records(browser: webdriver.Chrome, explore_url: str) -> None:
    browser.get(explore_url)
    Select(browser.find_element(By.NAME, "b:island")).select_by_value("Biscoe")
    browser.find_element(By.ID, "compare").click()
    _wait_for(browser, "#contributions")
    header = browser.find_element(By.CSS_SELECTOR, "#prediction thead").text
    assert header.split() == ["record", "A", "record", "B", "B", "-", "A"]
    step = browser.find_element(By.CSS_SELECTOR, 'table.step[data-step="preprocess"]').text
    assert "categorical__island_Biscoe 0 1 1" in step


def test_bad_input_is_named_not_echoed(explore_url: str, browser: webdriver.Chrome) -> None:
    hostile = "<img src=x onerror=alert(1)>" * 30
    answer = httpx.post(
        f"{explore_url}explain", json={"instances": [{"island": hostile}]}, timeout=10
    )
    assert answer.status_code == 422
    assert "<img" not in answer.text
    assert answer.json()["error"]["details"][0]["row"] == 0
    too_big = httpx.post(f"{explore_url}explain", content=b" " * 70_000, timeout=10)
    assert too_big.status_code == 413
    page = httpx.get(explore_url, timeout=10)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    browser.get(explore_url)
    browser.execute_script(
        "document.querySelector('[name=\"a:bill_depth_mm\"]').type = 'text';"
        "document.querySelector('[name=\"a:bill_depth_mm\"]').value = 'abc';"
    )
    browser.find_element(By.ID, "explain").click()
    _wait_for(browser, "#error li")
    assert "record A, bill_depth_mm: must be a number" in browser.find_element(By.ID, "error").text
