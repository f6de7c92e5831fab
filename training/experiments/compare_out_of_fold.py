"""Issue 31's last criterion, "AUC and real at `high` no worse than clip-v4, by codec": is a
difference between two models' out-of-fold scores larger than what the choice of sources alone
moves? Each side is either a leave-source-out JSON (`leave_source_out.py --out FILE`, a recipe
inside it after a colon) or the name of a grid model whose trainer kept its out-of-fold crop
logits (~/.cache/synthcheck/experiments/NAME-out-of-fold.pkl; pooled by the model's card, each
fold at a temperature fitted on the other folds, as its card does). The images must be the same.

Per condition: both AUCs and b minus a with a 95% interval from a paired bootstrap over whole
groups (synthcheck.training.evaluate.paired_group_bootstrap: a generator, repository or camera
make is resampled as a unit, so the interval is the spread over which sources happen to be in
the data); the same for real and generated images whose classifier evidence alone reaches `high`
under `default` and `kyc`.

    python training/experiments/compare_out_of_fold.py --a /work/runs/v4_oof.json:"centre+global, one head" \\
        --b synthcheck-clip-v7 [--resamples 1000]

Results: training/experiments/README.md ("clip-v7 against clip-v4 with intervals")."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np

from synthcheck.cache import cache_root
from synthcheck.models.card import ModelCard
from synthcheck.models.registry import MODELS_DIR
from synthcheck.training.evaluate import paired_group_bootstrap, real_at_level_high
from synthcheck.training.grid_folds import pooled
from synthcheck.training.metrics import auc
from synthcheck.training.source_folds import CONDITIONS, held_out_probabilities

POLICIES = ("default", "kyc")
RETIRED_DIR = Path(__file__).resolve().parent / "retired"


def load_side(spec: str) -> tuple[list[str], np.ndarray, list[str], dict[str, np.ndarray]]:
    """(paths, labels, groups, held-out probabilities per condition) of one side."""
    if spec.endswith(".json") or ".json:" in spec:
        file, _, recipe = spec.partition(".json")
        data = json.loads(Path(file + ".json").read_text())
        recipes = data["p"]
        recipe = recipe.removeprefix(":") or next(iter(recipes))
        p = {c: np.array(v) for c, v in recipes[recipe].items()}
        return data["paths"], np.array(data["labels"]), data["groups"], p
    kept = cache_root() / "experiments" / f"{spec}-out-of-fold.pkl"
    if not kept.is_file():
        raise SystemExit(f"{kept} not found: `synthcheck train` on {spec}'s config writes it")
    card_dir = next((d / spec for d in (MODELS_DIR, RETIRED_DIR) if (d / spec / "card.json").is_file()), None)
    if card_dir is None:
        raise SystemExit(f"no card for {spec} in {MODELS_DIR} or {RETIRED_DIR}")
    rule = ModelCard.load(card_dir / "card.json").pooling
    material = pickle.loads(kept.read_bytes())
    y, groups, fold = material["y"], list(material["groups"]), material["fold"]
    logits = {c: pooled(rule, material["scored"][c]) for c in CONDITIONS}
    paths = [str(getattr(r, "path", r)) for r in material["records"]]
    return paths, y, groups, held_out_probabilities(logits, y, groups, fold)


def interval(values: np.ndarray, percent: bool = False) -> str:
    """The central 95% of the resampled differences (in percentage points for shares)."""
    lo, hi = np.nanpercentile(values * (100 if percent else 1), [2.5, 97.5])
    return f"[{lo:+.2f}, {hi:+.2f}] pts" if percent else f"[{lo:+.4f}, {hi:+.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, help="the reference: FILE.json[:recipe] or a grid model's name")
    parser.add_argument("--b", required=True, help="the candidate, the same way")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    paths_a, y, groups, pa = load_side(args.a)
    paths_b, y_b, _, pb = load_side(args.b)
    if paths_a != paths_b or not np.array_equal(y, y_b):
        raise SystemExit("the two sides score different images (or in another order): compare like with like")
    real, generated = y == 0, y == 1
    print(f"{len(y)} images ({int(real.sum())} real), {len(set(groups))} groups; b = {args.b} minus a = {args.a}; "
          f"95% intervals over {args.resamples} resamples of whole groups\n")
    print("| condition | AUC a | AUC b | b - a [95%] | " + " | ".join(
        f"real at `high` {pol}: a / b, b - a [95%] | generated at `high` {pol}: b - a [95%]" for pol in POLICIES)
        + " |")
    print("| --- " * (4 + 2 * len(POLICIES)) + "|")
    for c in CONDITIONS:
        d = paired_group_bootstrap(y, groups, pa[c], pb[c], args.resamples, POLICIES)
        cells = [c, f"{auc(y, pa[c]):.4f}", f"{auc(y, pb[c]):.4f}",
                 f"{auc(y, pb[c]) - auc(y, pa[c]):+.4f} {interval(d['auc'])}"]
        for pol in POLICIES:
            ra, rb = real_at_level_high(pa[c], y, pol), real_at_level_high(pb[c], y, pol)
            ga = real_at_level_high(pa[c][generated], np.zeros(int(generated.sum())), pol)
            gb = real_at_level_high(pb[c][generated], np.zeros(int(generated.sum())), pol)
            cells += [f"{ra:.2%} / {rb:.2%}, {rb - ra:+.2%} {interval(d[f'real_high_{pol}'], True)}",
                      f"{gb - ga:+.1%} {interval(d[f'generated_high_{pol}'], True)}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
