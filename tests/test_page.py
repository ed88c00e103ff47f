"""The customer form in a real browser: Debian's headless Chromium driven by Playwright,
against a real uvicorn server on 127.0.0.1. Screenshots go to test-output/browser/."""

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from model_store import ModelStore
from schemas import FEATURE_NAMES
from schemas.features import HIGH_RISK_CUSTOMER, LOW_RISK_CUSTOMER
from tests.support import PROJECT_ROOT
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.data import customers_from_data
from tests.support.models import store_without_reasons, synthetic_customers
from tests.support.servers import running_server

pytestmark = pytest.mark.slow

SCREENSHOTS = PROJECT_ROOT / "test-output" / "browser"


@pytest.fixture(scope="module")
def base_url(real_store: Path) -> Iterator[str]:
    with running_server(real_store) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_form(browser: Browser, base_url: str) -> tuple[BrowserContext, Page, list, list]:
    """The form in a fresh context that records every request and every script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    errors: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base_url}/")
    page.wait_for_selector("#submit:not([disabled])")
    return context, page, requested, errors


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh form page; afterwards, it must have asked nothing of another host."""
    context, page, requested, errors = open_form(browser, base_url)
    yield page
    context.close()
    service = urlsplit(base_url).netloc
    foreign = [
        url
        for url in requested
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != service
    ]
    assert requested, "the page made no requests at all"
    assert foreign == [], f"the page contacted hosts other than the service: {foreign}"
    assert all(url.startswith((base_url, "blob:", "data:")) for url in requested), requested
    assert errors == []


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def api_prediction(base_url: str, customer: dict) -> dict:
    response = httpx.post(f"{base_url}/predict?explain=true", json=customer, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_the_form_is_built_from_the_apis_contract(page: Page) -> None:
    names = page.eval_on_selector_all("#customer-form [name]", "nodes => nodes.map(n => n.name)")
    assert sorted(names) == sorted(FEATURE_NAMES)  # bills and payments sit side by side
    for name in FEATURE_NAMES:  # every input has a visible or screen-reader label
        assert page.locator(f'label[for="{name}"]').count() == 1, name
    options = page.eval_on_selector_all("#pay_0 option", "nodes => nodes.map(n => n.textContent)")
    assert options[1:4] == [
        "no consumption (-2)",
        "paid duly (in full) (-1)",
        "revolving credit (minimum paid) (0)",
    ]
    assert options[4] == "1 month late (1)"
    assert len(options) == 1 + 12
    assert page.get_attribute("#age", "min") == "18"
    assert page.get_attribute("#age", "max") == "120"
    assert page.inner_text('label[for="pay_6"]') == "April 2005"
    assert page.get_attribute('a[href="/docs"]', "href") == "/docs"


def test_high_risk_example_shows_the_probability_the_api_returns(page: Page, base_url: str) -> None:
    page.click("#fill-high")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    expected = api_prediction(base_url, HIGH_RISK_CUSTOMER)
    shown = float(page.get_attribute("#probability", "data-probability"))
    assert shown == expected["probability"]
    assert page.inner_text("#probability") == f"{expected['probability'] * 100:.1f}%"
    assert expected["default"] is True
    assert page.inner_text("#decision").startswith("Likely to default")
    # score points and the grade, named so that they read as neither probability
    assert page.get_attribute("#score", "data-score") == str(expected["score"])
    assert page.get_attribute("#grade", "data-grade") == str(expected["grade"])
    assert f"{expected['score']} score points" in page.inner_text(".rating")
    assert page.inner_text("#result-version") == expected["model_version"]
    assert page.get_attribute("#result-version", "href") == f"/models/{expected['model_version']}"
    # the reasons the API gave, in its order, and a bar per reason that moved the risk
    listed = page.eval_on_selector_all("#reason-list li", "nodes => nodes.map(n => n.dataset.code)")
    assert listed == [r["code"] for r in expected["reasons"]]
    assert len(listed) >= 1
    assert page.inner_text("#reason-list li:first-child").startswith(expected["reasons"][0]["text"])
    bars = page.eval_on_selector_all(
        "#reason-bars rect",
        """nodes => nodes.map(n => [n.dataset.code, Number(n.dataset.contribution),
                                    n.getAttribute('class'), n.getBBox().width])""",
    )
    moved = {c: v for c, v in expected["explanation"]["contributions"].items() if v != 0}
    assert {code: value for code, value, _, _ in bars} == moved
    assert all((kind == "raise") == (value > 0) and width > 0 for _, value, kind, width in bars)
    assert max(width for *_, width in bars) == pytest.approx(66)  # the largest fills its half
    assert page.get_attribute("#report-link", "href") == (
        f"/models/{expected['model_version']}/report"
    )
    screenshot(page, "1-high-risk-result")


def test_low_risk_example_is_not_flagged(page: Page, base_url: str) -> None:
    page.click("#fill-low")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    expected = api_prediction(base_url, LOW_RISK_CUSTOMER)
    assert float(page.get_attribute("#probability", "data-probability")) == expected["probability"]
    assert page.inner_text("#decision").startswith("Not likely to default")


def test_an_invalid_age_shows_the_apis_error_next_to_the_field(page: Page) -> None:
    page.click("#fill-high")
    page.fill("#age", "150")
    page.click("#submit")
    page.wait_for_selector("#err-age:not(:empty)")
    assert page.inner_text("#err-age") == "Input should be less than or equal to 120"
    assert page.get_attribute("#age", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "age"
    assert page.is_hidden("#result")
    screenshot(page, "2-invalid-age")


def test_a_missing_field_is_named_by_the_api(page: Page) -> None:
    page.click("#fill-low")
    page.fill("#bill_amt3", "")
    page.click("#submit")
    page.wait_for_selector("#err-bill_amt3:not(:empty)")
    assert page.inner_text("#err-bill_amt3") == "Field required"


def test_clear_empties_every_field(page: Page) -> None:
    page.click("#fill-high")
    page.click("#clear")
    values = page.eval_on_selector_all("#customer-form [name]", "nodes => nodes.map(n => n.value)")
    assert set(values) == {""}


def _write_sample_csv(
    source: Path, target: Path, rows: int, change: dict[int, dict[str, str]] | None = None
) -> None:
    with source.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        lines = [next(reader) for _ in range(rows)]
    for index, updates in (change or {}).items():
        for column, value in updates.items():
            lines[index][header.index(column)] = value
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(lines)


def test_a_csv_upload_is_scored_and_summarised(
    page: Page, base_url: str, data_path: Path, tmp_path: Path
) -> None:
    """2,500 rows: the page sends them in parts of 1,000 (reasons cost milliseconds a row)
    and puts the answers back together in file order."""
    sample = tmp_path / "portfolio.csv"
    _write_sample_csv(data_path, sample, rows=2_500)
    page.click("#tab-batch")
    page.set_input_files("#batch-file", str(sample))
    page.click("#batch-submit")
    page.wait_for_selector("#batch-summary:not([hidden])", timeout=120_000)

    with sample.open(newline="") as handle:
        customers = [
            {name: json.loads(row[name.upper()]) for name in FEATURE_NAMES}
            for row in csv.DictReader(handle)
        ]
    expected = httpx.post(
        f"{base_url}/predict/batch?explain=true", json={"customers": customers}, timeout=120
    ).json()
    defaults = sum(p["default"] for p in expected["predictions"])
    assert page.inner_text("#batch-count") == "2,500"
    assert page.inner_text("#batch-share") == f"{defaults / 2_500 * 100:.1f}%"
    assert page.inner_text("#batch-status") == ""
    assert page.inner_text("#batch-version") == expected["model_version"]
    bars = page.eval_on_selector_all(
        "#histogram rect.bar",
        "nodes => nodes.map(n => n instanceof SVGRectElement ? n.getBBox().height : -1)",
    )
    assert len(bars) == 10
    assert min(bars) >= 0  # real SVG shapes, drawn
    assert max(bars) == 100  # the tallest bin fills the chart
    screenshot(page, "3-batch-summary")

    with page.expect_download() as download_info:
        page.click("#batch-download")
    with Path(download_info.value.path()).open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert len(scored) == 2_500
    assert [float(row["probability"]) for row in scored] == [
        p["probability"] for p in expected["predictions"]
    ]
    assert scored[0]["ID"] == "1"
    assert {row["model_version"] for row in scored} == {expected["model_version"]}
    for row, prediction in zip(scored, expected["predictions"], strict=True):
        codes = [row[f"reason_{k}"] for k in range(1, 5)]
        given = [r["code"] for r in prediction["reasons"]]
        assert codes == given + [""] * (4 - len(given))


def test_a_bad_row_in_the_csv_is_reported_by_row_and_column(
    page: Page, data_path: Path, tmp_path: Path
) -> None:
    sample = tmp_path / "bad.csv"
    _write_sample_csv(data_path, sample, rows=1_300, change={1_202: {"AGE": "7"}})
    page.click("#tab-batch")
    page.set_input_files("#batch-file", str(sample))
    page.click("#batch-submit")
    page.wait_for_selector("#batch-error:not([hidden])", timeout=120_000)
    # in the file's numbering, though the row came in the second part
    assert "row 1203, AGE: Input should be greater than or equal to 18" in page.inner_text(
        "#batch-error"
    )
    assert page.is_hidden("#batch-summary")


def test_tabs_work_from_the_keyboard(page: Page) -> None:
    page.focus("#tab-one")
    page.keyboard.press("ArrowRight")
    assert page.is_visible("#panel-batch")
    assert page.is_hidden("#panel-one")
    assert page.evaluate("document.activeElement.id") == "tab-batch"


def test_the_page_fits_a_phone_screen(browser: Browser, base_url: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{base_url}/")
    page.wait_for_selector("#submit:not([disabled])")
    page.click("#fill-high")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "4-phone")
    context.close()


@pytest.mark.parametrize(
    ("path", "rendered", "name"),
    [
        ("/docs", ".opblock", "docs-swagger"),
        ("/redoc", "[data-section-id^='operation']", "docs-redoc"),
    ],
)
def test_the_api_docs_render_offline_from_the_service_alone(
    browser: Browser, base_url: str, path: str, rendered: str, name: str
) -> None:
    """Swagger UI and ReDoc with every asset from the service: each operation renders, and
    no request leaves for any other host. (ReDoc's bundle always tries to show Redocly's
    logo from its CDN; the page's Content-Security-Policy stops that inside the browser,
    which this test checks too.)"""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    blocked: dict[str, str] = {}
    errors: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    context.on("requestfailed", lambda request: blocked.update({request.url: request.failure}))
    docs = context.new_page()
    docs.on("pageerror", lambda error: errors.append(str(error)))
    docs.goto(f"{base_url}{path}")
    docs.wait_for_selector(rendered, timeout=30_000)
    operations = docs.locator(rendered).count()
    text = docs.inner_text("body")
    screenshot(docs, name)
    context.close()
    assert operations >= 7  # predict, predictBatch, listModels, getModel, reload, 2 health
    for summary in ("Score one customer", "Score up to 10,000 customers", "One version's manifest"):
        assert summary in text
    service = urlsplit(base_url).netloc
    foreign = [
        url
        for url in requested
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != service
    ]
    assert {url: blocked.get(url) for url in foreign} == dict.fromkeys(foreign, "csp"), (
        "a request to another host was not stopped by the page's own policy"
    )
    assert errors == []


def test_the_model_report_opens_with_nothing_from_anywhere_else(
    browser: Browser, base_url: str
) -> None:
    """The validators' report, opened from the page's link: every plot drawn, and the only
    request the browser makes is for the report itself."""
    context, page, requested, errors = open_form(browser, base_url)
    link = page.get_attribute("#report-link", "href")
    requested.clear()
    page.goto(f"{base_url}{link}")
    page.wait_for_selector("h1")
    plots = page.eval_on_selector_all(
        "svg", "nodes => nodes.map(n => [n.getBBox().width, n.getBBox().height])"
    )
    headings = page.eval_on_selector_all("h2", "nodes => nodes.map(n => n.textContent)")
    screenshot(page, "5-model-report")
    context.close()
    assert requested == [f"{base_url}{link}"]
    assert errors == []
    assert len(plots) == 5  # curves, reliability, distributions, grades, importance
    assert all(width > 100 and height > 100 for width, height in plots)
    assert "Global importance per reason" in headings
    assert "Groups" in headings


def test_a_version_without_reasons_still_scores_on_the_page(
    browser: Browser, real_store: Path, tmp_path: Path
) -> None:
    """The page asks for reasons; a version trained before them answers 409 and the page
    asks again without, showing the probability and no reason section."""
    store = store_without_reasons(real_store, tmp_path / "store")
    with running_server(store.root) as base:
        context, page, _, errors = open_form(browser, base)
        page.click("#fill-high")
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden])")
        shown = float(page.get_attribute("#probability", "data-probability"))
        hidden = page.is_hidden("#reasons")
        context.close()
        expected = httpx.post(f"{base}/predict", json=HIGH_RISK_CUSTOMER, timeout=10).json()
    assert shown == expected["probability"]
    assert hidden
    assert errors == []


def test_the_monitoring_tab_plots_drift_as_the_api_measures_it(page: Page, base_url: str) -> None:
    _, bodies = customers_from_data(1_000, seed=31)
    scored = httpx.post(f"{base_url}/predict/batch", json={"customers": bodies}, timeout=60)
    assert scored.status_code == 200
    page.click("#tab-monitoring")
    page.wait_for_selector("#drift:not([hidden])", timeout=60_000)
    expected = httpx.get(f"{base_url}/monitoring/drift", timeout=30).json()
    bars = page.eval_on_selector_all(
        "#psi-bars rect",
        "nodes => nodes.map(n => [n.getAttribute('class'), n.getBBox().width])",
    )
    entries = [*expected["inputs"].values(), expected["score"]]
    assert [kind for kind, _ in bars] == [f"psi-{d['status']}" for d in entries]
    assert min(width for _, width in bars) >= 1  # drawn
    assert len(page.query_selector_all("#psi-bars line.psi-band")) == 2  # 0.1 and 0.25
    plots = page.query_selector_all("#drift-plots figure")
    assert len(plots) == 24  # the 23 inputs and the score
    caption = plots[0].query_selector("figcaption").inner_text()
    limit = expected["inputs"]["limit_bal"]
    assert caption == f"limit_bal: PSI {limit['psi']:.3f}, {limit['status']}"
    assert expected["model_version"] in page.inner_text("#drift-status")
    screenshot(page, "6-monitoring")


def test_the_performance_tab_draws_what_the_api_measures(page: Page, base_url: str) -> None:
    """Real customers of the data set scored through the API and outcomes posted for them;
    the tab's figures, grades and curves are the API's."""
    _, bodies = customers_from_data(2_000, seed=41)
    scored = httpx.post(
        f"{base_url}/predict/batch",
        json={"customers": bodies},
        headers={"X-Request-ID": "performance-tab"},
        timeout=60,
    )
    assert scored.status_code == 200
    probabilities = [p["probability"] for p in scored.json()["predictions"]]
    # Outcomes that follow the probabilities, so the grades are told apart.
    labels = (np.random.default_rng(8).random(len(bodies)) < np.array(probabilities)).tolist()
    items = [
        {"request_id": "performance-tab", "position": i, "defaulted": bool(label),
         "observed_at": "2027-01-31T00:00:00Z"}
        for i, label in enumerate(labels)
    ]  # fmt: skip
    sent = httpx.post(f"{base_url}/outcomes", json={"outcomes": items}, timeout=60)
    assert sent.status_code == 200, sent.text
    page.click("#tab-performance")
    page.wait_for_selector("#performance:not([hidden])", timeout=60_000)
    expected = httpx.get(f"{base_url}/monitoring/performance", timeout=60).json()
    assert page.inner_text('[data-figure="roc_auc"]') == f"{expected['roc_auc']:.4f}"
    assert page.inner_text('[data-figure="gini"]') == f"{expected['gini']:.4f}"
    assert page.inner_text('[data-figure="ks"]') == f"{expected['ks']:.4f}"
    shown = page.eval_on_selector_all(
        "#performance-band-table tbody tr",
        "rows => rows.map(r => [Number(r.dataset.band), r.dataset.status])",
    )
    assert shown == [[b["band"], b["status"]] for b in expected["bands"]]
    dots = page.eval_on_selector_all(
        "#performance-bands circle", "nodes => nodes.map(n => n.dataset.status)"
    )
    assert dots == [b["status"] for b in expected["bands"]]
    assert len(page.query_selector_all("#performance-bands line.interval")) == len(dots)
    points = page.get_attribute("#performance-roc polyline", "data-points")
    assert int(points) == len(expected["roc_curve"]) > 2
    months = page.eval_on_selector_all(
        "#performance-months rect.month", "nodes => nodes.map(n => Number(n.dataset.rocAuc))"
    )
    assert months == [m["roc_auc"] for m in expected["by_month"]]
    assert expected["model_version"] in page.inner_text("#performance-status")
    screenshot(page, "7-performance")


def p_value_as_shown(p: float | None) -> str:
    """The page's formatting of DeLong's p-value."""
    if p is None:
        return "\u2013"  # an en dash
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def test_the_challengers_tab_draws_the_comparison_and_the_history_the_api_holds(
    browser: Browser, challenger_store: Path, tmp_path: Path
) -> None:
    """The synthetic champion with its challenger in shadow: 300 customers scored through
    the API, outcomes posted for them and one promotion on record before the server
    starts. Every figure the tab draws is the API's; an edited history is shown as such."""
    store = tmp_path / "store"
    shutil.copytree(challenger_store, store)
    model_store = ModelStore(store)
    champion, challenger = model_store.resolve("production"), model_store.resolve("challenger")
    model_store.promote(challenger, "staging", by="tests", reason="staged for the page test")
    _, bodies = synthetic_customers(300, seed=71)
    log = f"sqlite:///{tmp_path / 'decisions.sqlite3'}"
    with running_server(store, SHADOW_MODELS="challenger", DECISION_LOG_URL=log) as base:
        scored = httpx.post(
            f"{base}/predict/batch",
            json={"customers": bodies},
            headers={"X-Request-ID": "challengers-tab"},
            timeout=60,
        )
        assert scored.status_code == 200, scored.text
        probabilities = np.array([p["probability"] for p in scored.json()["predictions"]])
        labels = np.random.default_rng(9).random(len(bodies)) < 0.1 + 0.8 * probabilities
        items = [
            {"request_id": "challengers-tab", "position": i, "defaulted": bool(label),
             "observed_at": "2027-01-31T00:00:00Z"}
            for i, label in enumerate(labels)
        ]  # fmt: skip
        sent = httpx.post(f"{base}/outcomes", json={"outcomes": items}, timeout=60)
        assert sent.status_code == 200, sent.text

        context, page, requested, errors = open_form(browser, base)
        page.click("#tab-challengers")
        page.wait_for_selector("#challengers article.comparison", timeout=60_000)
        page.wait_for_selector("#history-table:not([hidden])", timeout=60_000)
        report = httpx.get(f"{base}/monitoring/challengers", timeout=60).json()
        history = httpx.get(f"{base}/models/history", timeout=60).json()

        [expected] = report["comparisons"]
        assert (expected["champion_version"], expected["challenger_version"]) == (
            champion,
            challenger,
        )
        assert expected["customers"] == 300
        assert 0 < expected["agreement"] < 1  # the two versions disagree about someone
        outcomes = expected["outcomes"]
        assert outcomes is not None
        assert outcomes["customers"] == 300
        assert outcomes["delong_p_value"] is not None
        [card] = page.query_selector_all("#challengers article.comparison")
        assert card.get_attribute("data-champion") == champion
        assert card.get_attribute("data-challenger") == challenger
        assert page.is_hidden("#challengers-empty")

        def figure(key: str) -> str:
            return card.query_selector(f'[data-figure="{key}"]').inner_text()

        assert figure("customers") == "300"
        assert figure("agreement") == f"{expected['agreement'] * 100:.1f}%"
        value = card.query_selector('[data-figure="agreement"]').get_attribute("data-value")
        assert float(value) == expected["agreement"]
        assert figure("psi") == f"{expected['psi']:.3f} ({expected['psi_status']})"
        assert figure("spearman") == f"{expected['spearman']:.3f}"

        cells = card.eval_on_selector_all(
            ".swap-table td[data-cell]",
            """nodes => nodes.map(n => [n.dataset.cell, Number(n.dataset.count),
                n.querySelector('.count').textContent, n.querySelector('.rate').textContent])""",
        )
        # rows: the champion approves, declines; columns: the challenger approves, declines
        assert [name for name, *_ in cells] == [
            "both_approve",
            "swap_out",
            "swap_in",
            "both_decline",
        ]
        for name, count, count_text, rate_text in cells:
            assert count == expected["swap"][name]
            assert count_text == f"{expected['swap'][name]:,}"
            rate = outcomes["default_rate"][name]
            assert rate_text == (
                "no outcome yet" if rate is None else f"{rate * 100:.1f}% defaulted"
            )
        assert sum(count for _, count, *_ in cells) == 300
        assert expected["swap"]["swap_in"] + expected["swap"]["swap_out"] > 0

        metrics = card.eval_on_selector_all(
            ".metric-table tbody td",
            "nodes => nodes.map(n => [n.dataset.version, n.dataset.metric, n.textContent])",
        )
        assert metrics == [
            [role, key, f"{outcomes[role][key]:.4f}"]
            for key in ("roc_auc", "gini", "ks", "brier")
            for role in ("champion", "challenger")
        ]
        assert figure("roc_auc_difference") == f"{outcomes['roc_auc_difference']:+.4f}"
        assert figure("delong_p_value") == p_value_as_shown(outcomes["delong_p_value"])

        curves = card.eval_on_selector_all(
            "svg.roc-pair polyline",
            """nodes => nodes.map(n => [n.dataset.version, n.points.numberOfItems,
                getComputedStyle(n).stroke, getComputedStyle(n).strokeDasharray,
                n.getBBox().width, n.getBBox().height])""",
        )
        assert [version for version, *_ in curves] == ["champion", "challenger"]
        for version, points, *_, width, height in curves:
            assert points == len(outcomes[version]["roc_curve"]) > 2
            assert width > 150
            assert height > 150
        (_, _, stroke_a, dash_a, *_), (_, _, stroke_b, dash_b, *_) = curves
        assert (stroke_a, dash_a) != (stroke_b, dash_b)  # two distinguishable styles
        legend = card.eval_on_selector_all(
            "svg.roc-pair g.legend", "nodes => nodes.map(n => n.textContent)"
        )
        assert legend == [
            f"champion {champion}, AUC {outcomes['champion']['roc_auc']:.4f}",
            f"challenger {challenger}, AUC {outcomes['challenger']['roc_auc']:.4f}",
        ]

        entries = history["entries"]
        assert entries[-1]["alias"] == "staging"
        assert entries[-1]["to_version"] == challenger
        rows = page.eval_on_selector_all(
            "#history-table tbody tr",
            """rows => rows.map(r => [Number(r.dataset.sequence),
                [...r.cells].map(c => c.textContent)])""",
        )
        assert rows == [
            [
                e["sequence"],
                [
                    e["at"][:19].replace("T", " "),
                    e["action"],
                    e["alias"],
                    f"{e['from_version'] or '(not set)'} → {e['to_version']}",
                    e["actor"],
                    e["reason"],
                    e["hash"][:12],
                ],
            ]
            for e in reversed(entries)  # newest first
        ]
        assert page.is_hidden("#history-error")
        screenshot(page, "8-challengers")

        page.set_viewport_size({"width": 390, "height": 844})  # still fits a phone
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # An edited history: the service answers 409 and the page says so, showing no rows.
        path = store / "history" / "entries.jsonl"
        path.write_text(path.read_text().replace("staged for the page test", "staged, nothing"))
        page.click("#challengers-refresh")
        page.wait_for_selector("#history-error:not([hidden])", timeout=30_000)
        shown = page.inner_text("#history-error")
        assert page.get_attribute("#history-error", "data-problem").endswith("history-tampered")
        assert "Promotion history failed its check" in shown
        assert page.is_hidden("#history-table")
        assert page.query_selector_all("#history-table tbody tr") == []
        context.close()
    service = urlsplit(base).netloc
    assert all(urlsplit(url).netloc == service for url in requested), requested
    assert errors == []


def test_the_challengers_tab_says_how_to_configure_a_challenger(page: Page) -> None:
    """The real store's server runs no shadow: no comparison, and the tab says what to set."""
    page.click("#tab-challengers")
    page.wait_for_selector("#challengers-empty:not([hidden])", timeout=60_000)
    assert "SHADOW_MODELS" in page.inner_text("#challengers-empty")
    assert page.query_selector_all("#challengers article.comparison") == []
    assert page.is_visible("#panel-challengers")
    assert page.is_hidden("#panel-performance")
