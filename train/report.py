"""The model report: one self-contained HTML page per version, for the validators who sign
a model off.

Drawn at training time from the held-out rows (never fitted), with matplotlib writing
SVG whose text is drawn as paths, so the page needs no font, script or file from anywhere:
it opens the same in a closed network, from the store or from `GET /models/{v}/report`.
"""

import html
import io
from datetime import datetime
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from model_store.manifest import HeldOutMetrics, MasterScale
from model_store.scoring import decide
from schemas.features import FEATURE_NAMES
from schemas.reasons import REASONS, reason_columns, sum_by_reason

COLUMN: Final = {name: i for i, name in enumerate(FEATURE_NAMES)}
RELIABILITY_BINS: Final = 10
SEX: Final = {1: "male", 2: "female"}
MARRIAGE: Final = {1: "married", 2: "single", 3: "others", 0: "undocumented (0)"}
AGE_BANDS: Final = ((0, 25, "under 25"), (25, 35, "25-34"), (35, 45, "35-44"), (45, 55, "45-54"))
HEADLINE: Final = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "precision", "recall", "f1")

plt.rcParams.update({"svg.fonttype": "path", "figure.dpi": 96, "font.size": 9})


def _svg(figure: plt.Figure) -> str:
    buffer = io.StringIO()
    # no creation date or tool metadata: the same model and rows draw the same bytes
    metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=metadata)
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _curves(y: np.ndarray, p: np.ndarray) -> str:
    figure, (roc, pr) = plt.subplots(1, 2, figsize=(8, 3.4))
    fpr, tpr, _ = roc_curve(y, p)
    roc.plot(fpr, tpr, color="#1f4e79")
    roc.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=0.8)
    roc.set(
        title=f"ROC (AUC {roc_auc_score(y, p):.4f})",
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    precision, recall, _ = precision_recall_curve(y, p)
    pr.plot(recall, precision, color="#1f4e79")
    pr.axhline(y.mean(), color="#999", linestyle="--", linewidth=0.8)
    pr.set(title="Precision-recall", xlabel="recall", ylabel="precision")
    return _svg(figure)


def _reliability(y: np.ndarray, p: np.ndarray) -> tuple[str, list[list[str]]]:
    edges = np.linspace(0, 1, RELIABILITY_BINS + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, RELIABILITY_BINS - 1)
    rows, predicted, observed, counts = [], [], [], []
    for b in range(RELIABILITY_BINS):
        members = which == b
        count = int(members.sum())
        if count:
            predicted.append(p[members].mean())
            observed.append(y[members].mean())
            counts.append(count)
        rows.append(
            [
                f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                count,
                f"{p[members].mean():.3f}" if count else "-",
                f"{y[members].mean():.3f}" if count else "-",
            ]
        )
    figure, axis = plt.subplots(figsize=(4.2, 3.6))
    axis.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=0.8)
    axis.plot(predicted, observed, marker="o", color="#1f4e79")
    for x, yy, n in zip(predicted, observed, counts, strict=True):
        axis.annotate(str(n), (x, yy), textcoords="offset points", xytext=(4, -10), fontsize=7)
    axis.set(
        title="Reliability (rows per bin)",
        xlabel="mean predicted probability",
        ylabel="observed default rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    return _svg(figure), rows


def _distributions(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[str, float]:
    defaulted, repaid = np.sort(p[y == 1]), np.sort(p[y == 0])
    grid = np.sort(p)
    ks = float(
        np.max(
            np.abs(
                np.searchsorted(repaid, grid, side="right") / len(repaid)
                - np.searchsorted(defaulted, grid, side="right") / len(defaulted)
            )
        )
    )
    figure, axis = plt.subplots(figsize=(5.5, 3.4))
    bins = np.linspace(0, 1, 41)
    axis.hist(repaid, bins=bins, alpha=0.6, density=True, label="repaid", color="#4a90d9")
    axis.hist(defaulted, bins=bins, alpha=0.6, density=True, label="defaulted", color="#d9534f")
    axis.axvline(threshold, color="#333", linewidth=1, label=f"threshold {threshold:.3f}")
    axis.set(
        title=f"Scores by outcome (KS {ks:.3f})", xlabel="probability of default", ylabel="density"
    )
    axis.legend()
    return _svg(figure), ks


def _grades(scale: MasterScale | None) -> tuple[str, list[list[str]]]:
    """The master scale's table, and observed against predicted default rate per grade
    with each observed rate's 95% Jeffreys interval."""
    if scale is None:
        return "", []
    rows = [
        [
            str(g.grade),
            f"{g.lower_pd:.4f}-{g.upper_pd:.4f}",
            str(g.held_out_customers),
            "-" if g.mean_pd is None else f"{g.mean_pd:.4f}",
            "-" if g.observed_default_rate is None else f"{g.observed_default_rate:.4f}",
            "-"
            if g.jeffreys_interval is None
            else f"{g.jeffreys_interval[0]:.4f}-{g.jeffreys_interval[1]:.4f}",
        ]
        for g in scale.grades
    ]
    shown = [g for g in scale.grades if g.observed_default_rate is not None]
    figure, axis = plt.subplots(figsize=(4.6, 3.6))
    axis.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=0.8)
    predicted = [g.mean_pd for g in shown]
    observed = [g.observed_default_rate for g in shown]
    # A grade with no default has an interval above its observed rate of 0: no bar below.
    below = [max(o - g.jeffreys_interval[0], 0.0) for o, g in zip(observed, shown, strict=True)]
    above = [max(g.jeffreys_interval[1] - o, 0.0) for o, g in zip(observed, shown, strict=True)]
    axis.errorbar(predicted, observed, yerr=[below, above], fmt="o", color="#1f4e79", capsize=3)
    for x, y, g in zip(predicted, observed, shown, strict=True):
        axis.annotate(str(g.grade), (x, y), textcoords="offset points", xytext=(5, -10), fontsize=7)
    axis.set(
        title="Per grade: observed vs predicted (95% Jeffreys)",
        xlabel="mean predicted PD",
        ylabel="observed default rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    return _svg(figure), rows


def _importance(held_out) -> tuple[str, list[list[str]]]:
    columns = reason_columns(held_out.model_inputs)
    by_reason = sum_by_reason(held_out.contributions, columns)
    mean_abs = np.abs(by_reason).mean(axis=0)
    # reasons with no input in this model (e.g. the protected entry by default) are left out
    order = np.array([i for i in np.argsort(mean_abs, kind="stable") if columns[i]])
    figure, axis = plt.subplots(figsize=(6, 3.6))
    axis.barh([REASONS[i].code for i in order], mean_abs[order], color="#1f4e79")
    axis.set(
        title="Global importance: mean |contribution| per reason",
        xlabel="mean absolute contribution to the probability",
    )
    rows = [
        [REASONS[i].code, REASONS[i].text, f"{mean_abs[i]:.5f}", f"{by_reason[:, i].mean():+.5f}"]
        for i in order[::-1]
    ]
    return _svg(figure), rows


def _group_rows(held_out, threshold: float) -> list[list[str]]:
    X, y, p = held_out.X, held_out.y, held_out.probabilities
    age = X[:, COLUMN["age"]]
    groups: list[tuple[str, str, np.ndarray]] = []
    for code, label in SEX.items():
        groups.append(("sex", label, X[:, COLUMN["sex"]] == code))
    for code, label in MARRIAGE.items():
        groups.append(("marital status", label, X[:, COLUMN["marriage"]] == code))
    for low, high, label in AGE_BANDS:
        groups.append(("age band", label, (age >= low) & (age < high)))
    groups.append(("age band", "55 and over", age >= 55))
    rows = []
    for attribute, label, members in groups:
        n = int(members.sum())
        if n == 0:
            continue
        both = 0 < y[members].sum() < n
        rows.append(
            [
                attribute,
                label,
                n,
                f"{y[members].mean():.3f}",
                f"{p[members].mean():.3f}",
                f"{decide(p[members], threshold).mean():.3f}",
                f"{roc_auc_score(y[members], p[members]):.4f}" if both else "n/a",
            ]
        )
    return rows


def _metric_rows(columns: dict[str, HeldOutMetrics]) -> list[list[str]]:
    return [[name, *(f"{getattr(m, name):.4f}" for m in columns.values())] for name in HEADLINE]


STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1a1a1a;
line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;
text-align:right}td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9rem}
svg{max-width:100%;height:auto}
"""


def render_report(fields: dict[str, Any], held_out, created_at: datetime) -> bytes:
    """The report's HTML bytes, from the manifest fields and the held-out rows."""
    y, p = held_out.y.astype(int), held_out.probabilities
    threshold = fields["threshold"].value
    metrics, baseline = fields["metrics"], fields["baseline"]
    columns = {"this model": metrics, "original project's forest": baseline.metrics}
    protected = fields["protected_attributes"]
    columns["with sex, marriage, age"] = protected.held_out_with
    columns["without them"] = protected.held_out_without
    flagged = decide(p, threshold)
    reliability_svg, reliability_rows = _reliability(y, p)
    distribution_svg, ks = _distributions(y, p, threshold)
    data = fields["data"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>credit-default model report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>credit-default model report</h1>",
        f"<p class='note'>Trained {created_at:%Y-%m-%d %H:%M} UTC on {html.escape(data.file_name)} "
        f"(SHA-256 {data.sha256[:16]}..., {data.rows_used} rows used). All figures are on "
        f"{len(y)} held-out rows that no fit saw.</p>",
        "<h2>Headline metrics</h2>",
        _table(["metric", *columns], _metric_rows(columns)),
        f"<p class='note'>Sex, marital status and age are "
        f"{'model inputs' if protected.in_model else 'not model inputs'} of this model; the "
        "last two columns show the same forest fitted with and without them.</p>",
        "<h2>ROC and precision-recall</h2>",
        _curves(y, p),
        "<h2>Reliability</h2>",
        reliability_svg,
        _table(["probability bin", "rows", "mean predicted", "observed rate"], reliability_rows),
        "<h2>Score distributions</h2>",
        distribution_svg,
        "<h2>The threshold and what it means</h2>",
        _table(
            ["threshold", "share flagged", "default rate if flagged", "default rate if not"],
            [
                [
                    f"{threshold:.4f}",
                    f"{flagged.mean():.3f}",
                    f"{y[flagged].mean():.3f}" if flagged.any() else "-",
                    f"{y[~flagged].mean():.3f}" if (~flagged).any() else "-",
                ]
            ],
        ),
        f"<p class='note'>{html.escape(fields['threshold'].rule)}. KS {ks:.3f}.</p>",
    ]
    scale, scaling = fields.get("master_scale"), fields.get("score_scaling")
    monotonicity = fields.get("monotonicity")
    if monotonicity is not None:
        delay = held_out.delay
        kind = (
            "constrained: its probability never falls when a repayment status moves one month "
            "later (0 revolving to 1, k to k + 1), whatever the other inputs"
            if monotonicity.constrained
            else "NOT constrained (trained with --no-monotone)"
        )
        parts += [
            "<h2>Monotone in delay</h2>",
            f"<p>This model is {html.escape(kind)}.</p>",
            _table(
                ["metric", "monotone in delay", "unconstrained"],
                [
                    [
                        name,
                        f"{getattr(monotonicity.held_out_constrained, name):.4f}",
                        f"{getattr(monotonicity.held_out_unconstrained, name):.4f}",
                    ]
                    for name in HEADLINE
                ],
            ),
            _table(
                ["rows", "moves", "moves lowering the risk", "largest fall", "largest rise"],
                [
                    [
                        f"held-out ({len(y)})",
                        str(delay.moves),
                        str(delay.lowered),
                        f"{delay.largest_fall:.4f}",
                        f"{delay.largest_rise:.4f}",
                    ],
                    [
                        "every row of the data set",
                        str(monotonicity.moves_checked),
                        str(monotonicity.moves_lowering_risk),
                        f"{monotonicity.largest_fall:.4f}",
                        f"{monotonicity.largest_rise:.4f}",
                    ],
                ],
            ),
            "<p class='note'>Each row's statuses in 0..8 moved one month later, one at a time, "
            "and scored by the compiled model that serves.</p>",
        ]
    grades_svg, grade_rows = _grades(scale)
    if scale is not None:
        parts += [
            "<h2>Master scale</h2>",
            grades_svg,
            _table(
                ["grade", "PD range", "rows", "mean PD", "observed rate", "95% Jeffreys"],
                grade_rows,
            ),
            f"<p class='note'>{html.escape(scale.chosen_by)}. Held-out check: "
            f"{html.escape(scale.held_out_check)}.</p>",
        ]
    if scaling is not None:
        parts.append(
            f"<p class='note'>Score points: {scaling.base_score:g} points at odds of "
            f"{scaling.base_odds:g}:1, {scaling.pdo:g} points to double the odds; from "
            f"{scaling.min_score} (probability 1) to {scaling.max_score} (probability 0).</p>"
        )
    importance_svg, importance_rows = _importance(held_out)
    parts += [
        "<h2>Global importance per reason</h2>",
        importance_svg,
        _table(["code", "text", "mean |contribution|", "mean contribution"], importance_rows),
    ]
    parts += [
        "<h2>Groups</h2>",
        _table(
            ["attribute", "group", "rows", "default rate", "mean score", "share flagged", "AUC"],
            _group_rows(held_out, threshold),
        ),
        "</body></html>",
    ]
    return "\n".join(parts).encode()
