"""The leaderboard as one HTML page that needs no network: self-contained, or (the committed page, written
beside the records) with each run's plots linked instead of embedded, so the repository keeps each PNG once.

Tables per metric, one per family of the other scorers' metrics (OOD detection per OOD set, a linear probe,
...) and the data/cost table (columns sort on click, by a small inline script), an accuracy-vs-cost scatter
with its Pareto front per protocol and each run's plots, all images embedded as PNG data URIs (figures drawn
with matplotlib's object API, Agg, no pyplot state). Every name that comes from records is HTML-escaped. The
page is a pure function of the board (no dates), so the committed page can be checked against the committed
records.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import Callable

import pandas as pd
from matplotlib.figure import Figure

from osrbench.stats import METHOD_NOTE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RUN_FOLDER = re.compile(r"split\d+-seed\d+")
SCATTER_METRIC = "osr.auroc"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; white-space: nowrap; }
tfoot td { white-space: normal; border: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
figure { display: inline-block; margin: 0.3rem; }
.split-plots { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 0.3rem; }
figure img { max-width: 22rem; border: 1px solid #ddd; }
img.scatter { max-width: 40rem; }
figcaption, .note { font-size: 0.85rem; color: #555; }
code { background: #f5f5f5; padding: 0 0.2rem; }
"""

# Records the first script error in the DOM (checked by the browser test).
ERROR_HOOK = """window.addEventListener("error", function (e) {
  document.documentElement.setAttribute("data-script-error", String(e.message));
});"""

# Click a header to sort by it (numbers before text, so "-" stays last); #sort=TABLE:COLUMN:asc|desc in the
# address opens the page sorted. The last line marks the DOM once everything ran without an error.
SORT_SCRIPT = """(function () {
  "use strict";
  var NUMBER = /^-?\\d+(\\.\\d+)?(e[-+]?\\d+)?(?=\\s|$)/i;
  function key(cell) {
    var text = cell.textContent.trim(), m = NUMBER.exec(text);
    return m ? parseFloat(m[0]) : text;
  }
  function sortTable(table, column, descending) {
    var body = table.tBodies[0], sign = descending ? -1 : 1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var a = key(r.cells[column]), b = key(s.cells[column]);
      if (typeof a !== typeof b) { return typeof a === "number" ? -1 : 1; }
      return sign * (typeof a === "number" ? a - b : a.localeCompare(b));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute("aria-sort", i === column ? (descending ? "descending" : "ascending") : "none");
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.addEventListener("click", function () {
        sortTable(table, column, th.getAttribute("aria-sort") === "ascending");
      });
    });
  });
  var wanted = /^#sort=([A-Za-z0-9_.-]+):(\\d+):(asc|desc)$/.exec(window.location.hash);
  if (wanted && document.getElementById(wanted[1])) {
    sortTable(document.getElementById(wanted[1]), parseInt(wanted[2], 10), wanted[3] === "desc");
  }
  document.documentElement.setAttribute("data-osrbench-script", "ran");
})();"""


def _e(value: object) -> str:
    return html.escape(str(value))


def table_id(name: str) -> str:
    """An element id for a table (usable in ``#sort=ID:COLUMN:desc``)."""
    return "table-" + re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def _cell(value: object) -> str:
    numeric = isinstance(value, (int, float)) or bool(re.match(r"-?\d", str(value)))
    return f'<td class="num">{_e(value)}</td>' if numeric else f"<td>{_e(value)}</td>"


def _table(frame: pd.DataFrame, name: str, footer: str) -> str:
    head = "".join(f'<th scope="col" aria-sort="none">{_e(c)}</th>' for c in frame.columns)
    rows = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in frame.itertuples(index=False))
    foot = f'<tfoot><tr><td colspan="{len(frame.columns)}" class="note">{_e(footer)}</td></tr></tfoot>'
    return (f'<table class="sortable" id="{_e(table_id(name))}">\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{rows}\n</tbody>\n{foot}\n</table>")


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def pareto_front(seconds: pd.Series, score: pd.Series) -> pd.Series:
    """True for the points that no other point beats on both cost (fewer seconds) and score (higher)."""
    order = pd.DataFrame({"s": seconds, "y": score}).sort_values(["s", "y"], ascending=[True, False])
    best_before = order["y"].cummax().shift(fill_value=float("-inf"))
    return (order["y"] > best_before).reindex(seconds.index)


def front_label(points: int, on_front: int) -> str:
    """The legend of the Pareto front, saying when it is trivial."""
    if points == 1:
        return "one row only: no trade-off to show"
    if on_front == 1:
        return "Pareto front: one row, cheapest and best (a trivial front)"
    return "Pareto front (no row is cheaper and better)"


def scatter_figure(points: pd.DataFrame, protocol: str, metric: str) -> Figure:
    """``metric`` against mean training seconds per run for each row of one protocol, Pareto front drawn. The
    seconds axis starts at zero (log-scaled, with its range, where the seconds span more than ten times), and
    the legend sits outside the axes, clear of the data."""
    front = pareto_front(points["seconds"], points["mean"])
    fig = Figure(figsize=(7, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    half = (points["ci_high"] - points["ci_low"]).fillna(0) / 2
    ax.errorbar(points["seconds"], points["mean"], yerr=half, fmt="o", color="tab:blue", ecolor="0.6", capsize=3)
    on_front = points[front].sort_values("seconds")
    ax.plot(on_front["seconds"], on_front["mean"], drawstyle="steps-post", color="tab:red", marker="o",
            markersize=11, markerfacecolor="none", label=front_label(len(points), int(front.sum())))
    for x, y, name in zip(points["seconds"], points["mean"], points["method"]):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.margins(x=0.15, y=0.1)
    seconds = points["seconds"]
    if seconds.max() > 10 * seconds.min():
        ax.set_xscale("log")
        ax.set_xlabel(f"training seconds per run, log scale, {seconds.min():.3g}–{seconds.max():.3g} s "
                      "(device: see the cost table)")
    else:
        ax.set_xlim(left=0, right=seconds.max() * 1.25)  # from zero: equal costs look equal
        ax.set_xlabel("training seconds per run (device: see the cost table)")
    ax.set_ylabel(f"{metric} (mean, 95% CI)")
    ax.set_title(f"{metric} vs training cost on {protocol}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)  # below the axes' labels
    return fig


def _scatter(points: pd.DataFrame, protocol: str, metric: str) -> str:
    fig = scatter_figure(points, protocol, metric)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    alt = f"{metric} against training seconds per run on {protocol}, with the Pareto front"
    return f'<img class="scatter" alt="{_e(alt)}" src="{_png_uri(buffer.getvalue())}">'


def _scatters(board: dict) -> str:
    long = board["long"]
    metric = SCATTER_METRIC if SCATTER_METRIC in board["wide"] else next(iter(board["wide"]))
    parts = []
    for protocol, rows in long.groupby("protocol", sort=True):
        points = pd.DataFrame({
            "method": rows["method"], "seconds": rows["train_seconds"] / rows["runs"],
            "mean": rows[f"{metric}_mean"], "ci_low": rows[f"{metric}_ci_low"], "ci_high": rows[f"{metric}_ci_high"],
        }).dropna(subset=["mean"])
        points = points[points["seconds"] > 0]
        if not points.empty:
            parts.append(f"<h3>{_e(protocol)}</h3>\n" + _scatter(points, protocol, metric))
    return "\n".join(parts) or '<p class="note">no runs with a metric and training time</p>'


def embeddable_png(path: Path) -> bytes | None:
    """The bytes of a run's plot if it is a PNG file inside a run folder or its postprocessor's folder in it (no
    links out, no other files): plot names come from records, which are untrusted, and must not pull other files
    into a shared page."""
    path = Path(path)
    run_folder = path.parent if RUN_FOLDER.fullmatch(path.parent.name) else path.parent.parent
    if path.suffix != ".png" or not RUN_FOLDER.fullmatch(run_folder.name):
        return None
    try:
        if path.resolve() != run_folder.resolve() / path.relative_to(run_folder) or not path.is_file():
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(PNG_MAGIC) else None


def _plot_figure(path: Path, split: int, plot_url: Callable[[Path], str] | None) -> str:
    caption = f"{Path(path).stem}, split {split}"
    data = embeddable_png(path)
    if data is None:
        return f'<p class="note">{_e(caption)}: not embedded (missing, or not a PNG file in its run folder)</p>'
    src = _png_uri(data) if plot_url is None else plot_url(Path(path))
    return f'<figure><img alt="{_e(caption)}" src="{_e(src)}"><figcaption>{_e(caption)}</figcaption></figure>'


def _run_plots(board: dict, plot_url: Callable[[Path], str] | None) -> str:
    parts = []
    for (row, protocol), group in board["plots"].groupby(["row", "protocol"], sort=False):
        splits = [[_plot_figure(path, split, plot_url) for path in paths]
                  for split, paths in zip(group["split"], group["plots"])]
        rows = "\n".join('<div class="split-plots">' + "".join(figures) + "</div>" for figures in splits)  # side by side
        parts.append(f"<details><summary>{_e(row)} on {_e(protocol)} ({sum(map(len, splits))} plots)</summary>\n"
                     + rows + "\n</details>")
    return "\n".join(parts) or '<p class="note">no plots in these records</p>'


def _data_summary(cost: pd.DataFrame) -> str:
    items = []
    for protocol, rows in cost.groupby("protocol", sort=True):
        families = ", ".join(sorted(set(rows["split_family"])))
        prints = ", ".join(sorted(set(rows["fingerprint"])))
        items.append(f"<li><b>{_e(protocol)}</b>: split family {_e(families)}; data fingerprint {_e(prints)}</li>")
    return "<ul>\n" + "\n".join(items) + "\n</ul>"


def render_html(board: dict, plot_url: Callable[[Path], str] | None = None) -> str:
    """The whole page as a string; each run's plot embedded, or linked at ``plot_url(path)`` where given (the
    same checks decide which plots are shown)."""
    tables = {**board["wide"], **board["families"]}  # a table per headline metric, then one per family
    metric_tables = "\n".join(f"<h3>{_e(name)}</h3>\n" + _table(table, name, f"{METHOD_NOTE}.")
                              for name, table in tables.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>osrbench leaderboard</title>
<style>{STYLE}</style>
<script>{ERROR_HOOK}</script>
</head>
<body>
<h1>osrbench leaderboard</h1>
<p class="note">Generated by <code>osrbench leaderboard</code> from the records alone. Click a column header to sort.</p>
<h2>Data</h2>
{_data_summary(board["cost"])}
<h2>Metrics</h2>
<p class="note">Compare two rows run by run (paired by split and seed) with <code>osrbench compare A B</code>.</p>
{metric_tables}
<h2>Data and cost</h2>
{_table(board["cost"], "cost", "train_seconds: training time summed over the runs, on the device named.")}
<h2>Cost and accuracy</h2>
{_scatters(board)}
<h2>Plots of each run</h2>
{_run_plots(board, plot_url)}
<script>{SORT_SCRIPT}</script>
</body>
</html>
"""
