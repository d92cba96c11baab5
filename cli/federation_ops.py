"""``ecert federation sync`` and ``ecert federation rotate-key``: operating a federated gateway.

Registered on the ``federation`` command group of :mod:`cli.federation_cmd`.
"""

from __future__ import annotations

from typing import Any

from cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    JsonOut,
    emit_json,
    gateway_at,
    open_gateway,
    say,
)
from cli.federation_cmd import federation_app
from cli.federation_common import actor
from gateway import trustexport, trustsync
from gateway.clock import iso
from gateway.peers import HttpFetcher


@federation_app.command("sync")
def sync(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """Refresh peers now: trust list and status lists (a served gateway does this itself). 同步"""
    gw = open_gateway(data_dir)
    fetcher = HttpFetcher()
    try:
        trustexport.prepare(gw)  # keys not made yet, a root due for renewal: as serve's tick
        report = trustsync.sync_once(
            gw,
            fetcher,
            lifetime=gw.settings.trust_list_lifetime,
            refresh=max(1, int(gw.settings.federation_refresh)),
        )
        changed_lists = trustsync.refresh_status_lists(gw, fetcher)
    finally:
        fetcher.close()
        gw.close()
    out: dict[str, Any] = {
        "trust_list_version": report.version,
        "new_version": report.changed,
        "issuers": report.leaves,
        "kept_from_last_good": report.carried,
        "stale": report.stale,
        "failures": report.failures,
        "status_lists_changed": changed_lists,
    }
    if as_json:
        emit_json(out)
        return
    say(
        f"trust list v{report.version} ({'new' if report.changed else 'unchanged'}): "
        f"{len(report.leaves)} issuer(s), {changed_lists} status list(s) changed · 已同步"
    )
    for entity, reason in report.failures.items():
        say(f"  failed {entity}: {reason}")


@federation_app.command("rotate-key")
def rotate_key(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """New federation key; root n+1 signed by old and new keys (TUF). 轮换联邦密钥"""
    with gateway_at(data_dir) as gw:
        signed = trustexport.rotate(gw, actor=actor())
    root = signed.root
    out = {"root_version": root.version, "kids": sorted(root.keys), "expires": iso(root.expires)}
    if as_json:
        emit_json(out)
    else:
        say(f"federation key rotated: root v{root.version}, keys {', '.join(sorted(root.keys))}")
