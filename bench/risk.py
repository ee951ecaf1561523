"""The risk model against the rule baseline on held-out SYNTHETIC cohorts.

    .venv/bin/python -m bench.risk [--users 400] [--days 180] [--seeds 3] [--holdout 30]

For each seed: a synthetic cohort (services/risk/model/cohort.py, a known drift signal), its
feature table and labels computed directly (synthetic_features.py), then `fit`: train on the
oldest days, calibrate on the next slice, judge on the newest `--holdout` days, every boundary
purged by the horizon. Printed per seed and as the mean over seeds: ROC AUC, PR AUC and Brier
score of the calibrated model and of the rule baseline ("rules-1") on the same held-out rows,
with the model's figure as a ratio to the baseline's (ROC AUC above 1 and Brier below 1 is a
model that earns its place), and the Brier skill score against always guessing the held-out
positive rate. No database, no lake: the same `fit` the training run calls.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from services.risk.model.cohort import CohortSpec, simulate
from services.risk.model.fit import fit
from services.risk.model.synthetic_features import features_and_labels

END = date(2026, 11, 1)  # a fixed end: the same seed draws the same cohort on every run
METRICS = ("roc_auc", "pr_auc", "brier")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--holdout", type=int, default=30, help="held-out days")
    parser.add_argument("--horizon", type=int, default=14, help="label horizon in days")
    parser.add_argument("--threshold-high", type=float, default=0.6)
    args = parser.parse_args()

    rows: list[dict[str, float]] = []
    print(f"{args.users} synthetic users x {args.days} days, {args.seeds} seeds")
    head = "seed  held-out rows/pos  " + "  ".join(f"{m:>22}" for m in METRICS) + "  brier skill"
    print(head + "\n" + " " * 25 + "  ".join(f"{'model/rules = ratio':>22}" for _ in METRICS))
    for seed in range(args.seeds):
        started = time.perf_counter()
        spec = CohortSpec(users=args.users, days=args.days, end=END, seed=seed)
        table, labels = features_and_labels(simulate(spec), args.horizon)
        report = fit(
            table,
            labels,
            version=f"bench-{seed}",
            holdout_days=args.holdout,
            horizon=args.horizon,
            threshold_high=args.threshold_high,
        ).report
        model, rules = report["candidate"], report["baseline"]
        row = {m: model[m] for m in METRICS} | {f"rules_{m}": rules[m] for m in METRICS}
        row["skill"] = 1 - model["brier"] / model["brier_no_skill"]
        rows.append(row)
        cells = "  ".join(
            f"{model[m]:.3f}/{rules[m]:.3f} = {model[m] / rules[m]:5.2f}".rjust(22) for m in METRICS
        )
        held = f"{model['rows']:.0f}/{model['positives']:.0f}"
        elapsed = time.perf_counter() - started
        print(f"{seed:>4}  {held:>17}  {cells}  {row['skill']:11.2f}   ({elapsed:.0f} s)")
    means = {k: mean(r[k] for r in rows) for k in rows[0]}
    cells = "  ".join(
        f"{means[m]:.3f}/{means[f'rules_{m}']:.3f} = {means[m] / means[f'rules_{m}']:5.2f}".rjust(
            22
        )
        for m in METRICS
    )
    print(f"{'mean':>4}  {'':>17}  {cells}  {means['skill']:11.2f}")
    wins = sum(r["roc_auc"] > r["rules_roc_auc"] and r["brier"] < r["rules_brier"] for r in rows)
    print(f"the model beat the rules on ROC AUC and Brier in {wins} of {len(rows)} cohorts")


if __name__ == "__main__":
    main()
