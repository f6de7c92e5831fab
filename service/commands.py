"""`synthcheck serve`, `synthcheck keys …`, `synthcheck audit export`: registered on the
main parser; heavy imports happen only when one of them runs."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import textwrap
from datetime import datetime

from ..argtypes import whole_number
from ..wording import plural

SERVE_DESCRIPTION = """\
Run the HTTP API and the analyst page (uvicorn): POST /v1/analyze and /v1/analyze/batch
(the report of `synthcheck scan --format json`), GET /v1/models, GET /v1/audit (admin keys),
/healthz, /readyz, /metrics, OpenAPI at /docs, the analyst page at /.

Every request to /v1/... needs an API key in the X-API-Key header (the analyst page has a
field for it). Create one with `synthcheck keys create NAME` (--admin: may read the audit
log), or set SYNTHCHECK_API_KEYS for development; with no key at all every request is
refused (401)."""


class _ServeHelp(argparse.Action):
    """-h/--help for `serve`: the settings are listed from the Settings class when asked for,
    so the help cannot drift from them and other commands do not import it."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.epilog = _settings_help()
        parser.print_help()
        parser.exit()


def _settings_help() -> str:
    from .settings import Settings

    def shown(value) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return ",".join(value) if isinstance(value, list) else "none" if value is None else str(value)

    lines = ["settings (environment variables; a bad value is refused at start-up, exit 2):"]
    for name, field in Settings.model_fields.items():
        default = shown(field.get_default(call_default_factory=True)) or "empty"
        assert field.description is not None, f"the setting {name} has no description"  # every field has one
        lines.append(f"  SYNTHCHECK_{name.upper()}  (default: {default})")
        lines += textwrap.wrap(field.description, 88, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="run the HTTP API and the analyst page (settings: SYNTHCHECK_* env vars)",
                       description=SERVE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       add_help=False)
    s.add_argument("-h", "--help", action=_ServeHelp, help="show this help, with every setting, and exit")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    s.add_argument("--port", type=whole_number(0, 65535), default=8000,
                   help="port to listen on (default: %(default)s; 0: a free port the system picks)")
    s.add_argument("--workers", type=whole_number(1), default=None,
                   help="analysis processes (default: SYNTHCHECK_WORKERS or the CPU count)")
    s.set_defaults(handler=_serve)

    k = sub.add_parser("keys", help="manage API keys (stored hashed in SYNTHCHECK_DATABASE_URL)")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    c = ksub.add_parser("create", help="create a key and print it (shown once)")
    c.add_argument("name", help="who or what the key is for")
    c.add_argument("--admin", action="store_true", help="may read the audit log")
    c.set_defaults(handler=_keys_create)
    ksub.add_parser("list", help="list keys (ids, names, state; never the keys)").set_defaults(handler=_keys_list)
    r = ksub.add_parser("revoke", help="revoke a key by id")
    r.add_argument("key_id")
    r.set_defaults(handler=_keys_revoke)

    a = sub.add_parser("audit", help="the audit log")
    asub = a.add_subparsers(dest="audit_command", required=True)
    e = asub.add_parser("export", help="write audit records as CSV or JSON lines")
    e.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    e.add_argument("--output", "-o", default="-", help="file (default: standard output)")
    e.add_argument("--since", type=datetime.fromisoformat, default=None, help="ISO 8601, inclusive")
    e.add_argument("--until", type=datetime.fromisoformat, default=None, help="ISO 8601, exclusive")
    e.add_argument("--level", choices=("low", "medium", "high"), default=None)
    e.add_argument("--policy", default=None)
    e.add_argument("--key-id", default=None)
    e.set_defaults(handler=_audit_export)


def load_settings(**overrides):
    """The service's Settings, or a clear ConfigurationError naming each bad variable."""
    from pydantic import ValidationError

    from ..errors import ConfigurationError
    from .settings import Settings

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"SYNTHCHECK_{'_'.join(str(p) for p in e['loc']).upper()}: "
                             f"{str(e.get('ctx', {}).get('error') or e['msg']).removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ConfigurationError(f"bad settings, refusing to start: {problems}") from None
    settings.ensure_local_dirs()
    print(f"synthcheck: keys and audit log in {settings.where()} (set SYNTHCHECK_DATABASE_URL to change)",
          file=sys.stderr)
    return settings


def _sessions(settings=None):
    from .db import make_sessionmaker, open_database

    return make_sessionmaker(open_database(settings or load_settings()))


def _serve(args) -> int:
    import uvicorn

    from .app import create_app

    overrides = {"workers": args.workers} if args.workers is not None else {}
    settings = load_settings(**overrides)
    options = settings.options  # trust anchors read here: bad ones refuse start-up (exit 2)
    from .db import open_database

    # before uvicorn: an unusable database is a clear exit 2, not a failed application start-up
    engine = open_database(settings, serving=True)
    _warn_if_no_key(settings, engine)
    engine.dispose()
    settings.check_classifier()  # here too: a clear exit 2 rather than a traceback from the app's start-up
    from ..trust import stale_warnings

    # the trust lists too (bad anchors or a damaged shipped list is exit 2), and a stale one is said
    lists = options.trust_lists
    print("synthcheck: C2PA trust lists: " + (", ".join(f"{lst.name} ({lst.version})" for lst in lists) or "none"),
          file=sys.stderr)
    for warning in stale_warnings(lists):
        print(f"synthcheck: warning: {warning}", file=sys.stderr)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def _warn_if_no_key(settings, engine) -> None:
    """A server without any key refuses every request. It still starts (keys are often made
    once the database exists, and a new key works at once) but says so loudly; there is no
    open mode to fall into: a KYC deployment is never served without keys."""
    from .db import make_sessionmaker
    from .keys import list_keys

    if settings.api_keys or settings.admin_api_keys:
        return
    try:
        if any(row.revoked_at is None for row in list_keys(make_sessionmaker(engine))):
            return
        why = "no API key exists"
    except Exception:  # the database is down (SYNTHCHECK_AUDIT_FALLBACK): its keys are unknown
        why = "no API key is set and the stored keys cannot be read"
    print(f"synthcheck: WARNING: {why}, so every request will be refused (401) until one exists. Create one "
          f"with:\n    synthcheck keys create NAME\n(with the same SYNTHCHECK_DATABASE_URL; --admin for a key that "
          "may read the audit log). It works at once, without a restart.", file=sys.stderr)


def _keys_create(args) -> int:
    from .keys import create_key

    row, key = create_key(_sessions(), args.name, args.admin)
    print(f"created key {row.id} ({'admin' if row.is_admin else 'user'}) for {row.name!r}; "
          "it is shown only this once:", file=sys.stderr)
    print(key)
    return 0


def _keys_list(args) -> int:
    from .keys import list_keys

    rows = list_keys(_sessions())  # before the header: a database that cannot be read prints no table
    print(f"{'ID':<14} {'ROLE':<6} {'CREATED':<26} {'STATE':<8} NAME")
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        print(f"{row.id:<14} {'admin' if row.is_admin else 'user':<6} {row.created_at.isoformat():<26} "
              f"{state:<8} {row.name}")
    return 0


def _keys_revoke(args) -> int:
    from .keys import revoke_key

    if not revoke_key(_sessions(), args.key_id):
        print(f"synthcheck: no active key with id {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked key {args.key_id}", file=sys.stderr)
    return 0


def _audit_export(args) -> int:
    from pathlib import Path

    from .audit import AuditLog
    from .db import AUDIT_FIELDS

    settings = load_settings()
    audit = AuditLog(_sessions(settings), settings.audit_fallback_path)
    records = audit.iterate(since=args.since, until=args.until, level=args.level, policy=args.policy,
                            key_id=args.key_id)
    out = sys.stdout if args.output == "-" else Path(args.output).open("w", newline="", encoding="utf-8")
    count = 0
    try:
        if args.format == "csv":
            writer = csv.DictWriter(out, fieldnames=AUDIT_FIELDS)
            writer.writeheader()
            for record in records:
                writer.writerow({**record, "evidence_codes": " ".join(record["evidence_codes"])})
                count += 1
        else:
            for record in records:
                out.write(json.dumps(record) + "\n")
                count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"synthcheck: exported {plural(count, 'audit record')}", file=sys.stderr)
    return 0
