"""The HTML leaderboard: one self-contained page, escaped names, and what a real browser renders."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from osrbench.cli import main
from osrbench.html_report import embeddable_png, pareto_front, render_html
from osrbench.leaderboard import build_leaderboard
from committed_records import copy_cifar10_ce

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "leaderboards" / "records"
PAYLOAD = "<script>alert(1)</script>"
PWN_LABEL = "x<img src=y onerror=document.body.setAttribute('data-pwned','1')>"


@pytest.fixture
def results(tmp_path) -> Path:
    target = tmp_path / "results"
    copy_cifar10_ce(target, plots=True)
    return target


def hostile_copy(results: Path) -> None:
    """Two runs of ce (msp and mls) under a label with an HTML payload, its method, device and split family a
    script tag."""
    for split in range(2):
        record = json.loads((results / "cifar10" / "ce" / f"split{split}-seed0.json").read_text())
        record.update(label=PWN_LABEL, name=PAYLOAD, method=PAYLOAD, split_family=PAYLOAD)
        record["cost"]["device"] = PAYLOAD
        target = results / "cifar10" / PWN_LABEL / f"split{split}-seed0.json"
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps(record))
        shutil.copytree(results / "cifar10" / "ce" / f"split{split}-seed0", target.with_suffix(""))


def test_pareto_front_by_hand():
    import pandas as pd
    seconds = pd.Series([10.0, 20.0, 30.0, 5.0, 40.0, 20.0])
    score = pd.Series([0.80, 0.90, 0.85, 0.70, 0.95, 0.88])
    assert pareto_front(seconds, score).tolist() == [True, True, False, True, True, False]


def test_the_page_is_self_contained_with_tables_costs_data_and_every_plot(results):
    page = render_html(build_leaderboard(results))
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)  # nothing loaded from elsewhere
    assert page.count('class="scatter"') == 1 and page.count("<figure>") == 20  # 2 rows × 5 splits × 2 plots
    device = json.loads((results / "cifar10" / "ce" / "split0-seed0.json").read_text())["cost"]["device"]
    assert "5668297bd14d3177" in page and "arpl-vaze" in page and device.startswith("NVIDIA") and device in page
    for header in ("epochs", "parameters", "train_seconds", "device"):
        assert f">{header}</th>" in page
    assert "Student t" in page and 'id="table-osr.auroc"' in page


def test_plot_names_from_records_cannot_embed_other_files(tmp_path):
    run = tmp_path / "cifar10" / "mls" / "split0-seed0"
    run.mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    (run / "fake.png").write_text("not a png")
    (run / "link.png").symlink_to(tmp_path / "secret.png")
    (run / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\nplot")
    assert embeddable_png(run / "ok.png") == b"\x89PNG\r\n\x1a\nplot"
    (run / "mls").mkdir()
    (run / "mls" / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\nplot")  # a postprocessor's folder in the run folder
    assert embeddable_png(run / "mls" / "ok.png") == b"\x89PNG\r\n\x1a\nplot"
    (run / "out").symlink_to(tmp_path)
    for bad in (run / "../../../secret.png", run / "fake.png", run / "link.png", run / "missing.png",
                run / "out" / "secret.png"):
        assert embeddable_png(bad) is None


def test_format_html_and_write_tables(results, capsys, tmp_path):
    hostile_copy(results)
    assert main(["leaderboard", "--results-dir", str(results), "--format", "html", "--output", str(tmp_path / "p.html")]) == 0
    page = (tmp_path / "p.html").read_text()
    assert PAYLOAD not in page and html_escaped(PAYLOAD) in page and "<img src=y" not in page
    assert main(["leaderboard", "--results-dir", str(results), "--write-tables", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["leaderboard.csv", "leaderboard.html", "leaderboard.md"]


def html_escaped(text: str) -> str:
    import html
    return html.escape(text)


# --------------------------------------------------------------------------- a real browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        reason = "chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("OSRBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"OSRBENCH_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return found


def rendered_dom(browser: str, page: Path, profile: Path, fragment: str = "") -> str:
    """The DOM after the page's scripts ran, from headless chromium (no network, throwaway profile)."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + fragment]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


def screenshot(browser: str, page: Path, profile: Path, target: Path) -> Path:
    """A PNG of the page's first 2,400 pixels at 1,280 wide, for a person to look at."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,2400",
               f"--screenshot={target}", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and target.is_file(), done.stderr[-2000:]
    return target


def script_ran_cleanly(dom: str) -> bool:
    """The page's script marked the root element when done, and the error hook marked no error."""
    root = re.search(r"<html([^>]*)>", dom).group(1)
    return 'data-osrbench-script="ran"' in root and "data-script-error" not in root


def table_rows(dom: str, table: str) -> list[str]:
    body = re.search(rf'<table[^>]*id="{re.escape(table)}".*?<tbody>(.*?)</tbody>', dom, re.S).group(1)
    return [re.sub(r"<.*?>", "", row.split("</td>")[0]) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_page_of_the_committed_records_renders_in_chromium_and_sorts(browser, tmp_path):
    """Every committed record renders; the expected rows and sort order come from the same records, so the test
    holds as the leaderboard grows."""
    assert main(["leaderboard", "--results-dir", str(COMMITTED), "--write-tables", str(tmp_path / "board")]) == 0
    board = build_leaderboard(COMMITTED)
    auroc = board["wide"]["osr.auroc"]
    page = tmp_path / "board" / "leaderboard.html"
    dom = rendered_dom(browser, page, tmp_path / "profile")
    assert script_ran_cleanly(dom)
    assert table_rows(dom, "table-osr.auroc") == auroc["method"].tolist()
    assert table_rows(dom, "table-cost") == board["cost"]["method"].tolist()
    assert dom.count("<img") == render_html(board).count("<img") > 0
    protocol = auroc.columns[1]
    shown = auroc[auroc[protocol] != "-"]
    lowest_first = shown.assign(mean=shown[protocol].str.split(" ").str[0].astype(float)).sort_values("mean", kind="stable")
    ascending = rendered_dom(browser, page, tmp_path / "profile", "#sort=table-osr.auroc:1:asc")
    assert table_rows(ascending, "table-osr.auroc")[:len(shown)] == lowest_first["method"].tolist()
    assert 'aria-sort="ascending"' in ascending and script_ran_cleanly(ascending)
    # The screenshot is kept with the test's artifacts ($OSRBENCH_TEST_ARTIFACTS, else the test's tmp dir).
    artifacts = Path(os.environ.get("OSRBENCH_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = screenshot(browser, page, tmp_path / "profile", artifacts / "leaderboard.png")
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1280) and pixels.std() > 0.05  # a rendered page, not a blank one


def test_a_script_in_a_name_is_shown_as_text_in_chromium(browser, results, tmp_path):
    hostile_copy(results)
    page = tmp_path / "page.html"
    page.write_text(render_html(build_leaderboard(results)))
    dom = rendered_dom(browser, page, tmp_path / "profile")
    assert script_ran_cleanly(dom)
    assert 'data-pwned="1"' not in dom  # the label's onerror handler never ran
    assert dom.count("<script>") == 2  # the page's own two scripts, no third from a record
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text
    pwned = PWN_LABEL.replace("<", "&lt;").replace(">", "&gt;")
    assert table_rows(dom, "table-osr.auroc") == ["ce/mls", "ce/msp", f"{pwned}/mls", f"{pwned}/msp"]


def test_the_cost_scatter_starts_at_zero_keeps_its_legend_off_the_data_and_names_a_trivial_front():
    import pandas as pd

    from osrbench.html_report import scatter_figure

    two = pd.DataFrame({"method": ["ce/mls", "ce/msp"], "seconds": [38.8, 39.8], "mean": [0.93, 0.92],
                        "ci_low": [0.90, 0.89], "ci_high": [0.96, 0.95]})
    fig = scatter_figure(two, "cifar10", "osr.auroc")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_xlim()[0] == 0  # two equal trainings look equal
    legend = ax.get_legend()
    assert legend.get_texts()[-1].get_text() == "Pareto front: one row, cheapest and best (a trivial front)"
    fig.canvas.draw()
    box, axes = legend.get_window_extent(), ax.get_window_extent()
    assert box.y1 <= axes.y0  # below the axes: covers no point or error bar
    spread = two.assign(seconds=[5.0, 400.0], mean=[0.90, 0.95])
    wide = scatter_figure(spread, "cifar10", "osr.auroc").axes[0]
    assert wide.get_xscale() == "log" and "5–400 s" in wide.get_xlabel()
    assert wide.get_legend().get_texts()[-1].get_text() == "Pareto front (no row is cheaper and better)"


def test_each_splits_plots_sit_in_one_row(tmp_path):
    copy_cifar10_ce(tmp_path, plots=True)
    page = render_html(build_leaderboard(tmp_path))
    rows = re.findall(r'<div class="split-plots">(.*?)</div>', page, re.S)
    assert rows and all(len({re.search(r"split (\d+)", c).group(1) for c in re.findall(r"<figcaption>(.*?)</figcaption>", row)}) == 1
                        for row in rows)
    assert max(row.count("<figure>") for row in rows) >= 2  # a split's ROC and openness plots, side by side


def test_the_written_page_links_the_run_plots_and_a_standalone_page_embeds_them(results, tmp_path):
    from urllib.parse import unquote

    from osrbench.leaderboard import render, write_tables

    board = build_leaderboard(results)
    page = write_tables(board, tmp_path / "board")[2].read_text()
    links = re.findall(r'<figure><img alt="[^"]*" src="([^"]+)"', page)
    assert links and all((tmp_path / "board" / unquote(link)).resolve().is_file() for link in links)
    standalone = render(board, "html")
    assert re.findall(r'<figure><img alt="[^"]*" src="data:image/png;base64,', standalone).__len__() == len(links)
    assert len(page) * 5 < len(standalone)  # each PNG is kept once, beside its record
