"""Entry point of ``ecert``: one-line errors, ``--verbose`` for the trace, usage errors exit 2.

Each command's module is imported only when that command runs (or when ``--help`` lists them
all), so ``ecert verify --gateway URL`` starts without loading SQLAlchemy, FastAPI or the
gateway: a scanner script may call it once a scan. ``ecert verify --offline`` (a kiosk's scan)
loads not even typer (:mod:`cli.kiosk`); ``ecert --version`` reads the installed package's
metadata and loads nothing else; every other command goes to the typer app (:mod:`cli.app`).
"""

from __future__ import annotations

import sys

# name → (module, attribute): a command function or a typer group. The order is ``--help``'s.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("cli.admin", "init"),
    "city": ("cli.city_cmd", "city_app"),
    "serve": ("cli.serve", "serve"),
    "demo": ("cli.serve", "demo_cmd"),
    "demo-federation": ("cli.federation_demo", "demo_federation"),
    "demo-cluster": ("cli.cluster_demo", "demo_cluster"),
    "publish": ("cli.publish_cmd", "publish"),
    "issue": ("cli.credentials", "issue"),
    "issue-batch": ("cli.issue_batch", "issue_batch"),
    "suspend": ("cli.credentials", "suspend"),
    "reinstate": ("cli.credentials", "reinstate"),
    "revoke": ("cli.credentials", "revoke"),
    "paper-reference": ("cli.credentials", "paper_reference"),
    "credentials": ("cli.credentials_cmd", "credentials_app"),
    "types": ("cli.types_cmd", "types"),
    "verify": ("cli.verify_cmd", "verify"),
    # apikey_cmd adds the API-key commands (agency key …), operator_cmd the console operators.
    "agency": ("cli.operator_cmd", "agency_app"),
    "key": ("cli.admin", "key_app"),
    # trust_fetch_cmd adds ``trust fetch`` (a kiosk updating its bundle) to trust_cmd's group.
    "trust": ("cli.trust_fetch_cmd", "trust_app"),
    # federation_ops adds its commands (sync, rotate-key) to federation_cmd's group, and
    # federation_join_cmd the anchor's join queue (pending, reject, purge).
    "federation": ("cli.federation_join_cmd", "federation_app"),
    "region": ("cli.region_cmd", "region_app"),
    # wallet_present adds its commands (present, history) to wallet_cmd's group, wallet_code
    # (code, uses) and wallet_delegate (delegate, delegations, revoke-delegation) to the same.
    "wallet": ("cli.wallet_delegate", "wallet_app"),
    "verifier": ("cli.verifier_cmd", "verifier_app"),
    "counter": ("cli.counter_cmd", "counter_app"),
    # audit_witness_cmd adds its commands (alarms, ack) to audit_cmd's group (verify, checkpoint).
    "audit": ("cli.audit_witness_cmd", "audit_app"),
    "backup": ("cli.backup_cmd", "backup"),
    "restore": ("cli.backup_cmd", "restore"),
}


PACKAGE = "ecert-gateway"


def version_line() -> str:
    """``ecert-gateway 0.1.0``: the version of the installed distribution (its metadata), not a
    constant kept by hand."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{PACKAGE} {version(PACKAGE)}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return f"{PACKAGE} (未安装，版本未知 · not installed, version unknown)"


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args
    args = [a for a in args if a != "--verbose"]
    if args[:1] == ["--version"]:  # before typer, SQLAlchemy or the gateway load
        sys.stdout.write(version_line() + "\n")
        sys.exit(0)
    from cli import kiosk

    if kiosk.wanted(args):
        sys.exit(kiosk.run(args[1:]))
    from cli.app import run

    run(args, verbose=verbose)


if __name__ == "__main__":
    main()
