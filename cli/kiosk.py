"""``ecert verify --offline``: a kiosk verifies a scanned QR from one trust bundle file.

A kiosk calls it once a scan, with no network and no data directory, and ships without the
gateway: so this path loads only this module, ``trust/`` and ``verify/`` (and Pillow and the QR
reader for ``--image``). Not typer: typer coerces every parameter through pydantic, and loading
the two costs more than the verify itself. ``cli.main`` sends an ``ecert verify`` whose
arguments include ``--offline`` here (``--help`` stays typer's, as for every other command), and
``cli.verify_cmd`` shares what it verifies and shows with it, so both answer alike.

Exit codes: 0 valid, 1 not valid, 2 usage error or unreadable input (as ``ecert verify``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from trust.errors import DataError

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
MAX_IMAGE = 10 * 1024 * 1024

UNDESCRIBED_TYPES = (
    "提示：此信任列表未附证照类型说明（由旧版网关签发），其证照将答复不支持；"
    "请用新版网关重新导出 · "
    "note: this trust list describes no credential types (a gateway signed it before lists did), "
    "so its credentials answer UNSUPPORTED: export the bundle again from an up-to-date gateway"
)


class UsageProblem(DataError):
    """Bad arguments or unreadable input: exit 2. The message is Chinese, then English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} · {en}")


def read_image(image: Path) -> bytes:
    """The bytes of a photo or screenshot, at most :data:`MAX_IMAGE`."""
    try:
        with image.open("rb") as f:
            data = f.read(MAX_IMAGE + 1)
    except OSError as exc:
        raise UsageProblem(
            f"无法读取 {image}：{exc.strerror}", f"cannot read {image}: {exc.strerror}"
        ) from exc
    if len(data) > MAX_IMAGE:
        mib = MAX_IMAGE // 1048576
        raise UsageProblem(f"{image} 超过 {mib} MiB", f"{image} is over {mib} MiB")
    return data


def first_code(data: bytes, image: Path) -> str:
    """The text of the first QR code found in an image."""
    from verify.scan import decode_image

    try:
        texts = decode_image(data)
    except DataError as exc:
        raise UsageProblem(
            f"无法从 {image} 读取二维码：{exc}", f"cannot read a QR code from {image}: {exc}"
        ) from exc
    if not texts:
        raise UsageProblem(f"{image} 中未找到二维码", f"no QR code found in {image}")
    return texts[0]


def verify_offline(
    trust_file: Path, root_file: Path | None, qr_text: str, *, now: int
) -> dict[str, Any]:
    """Verify from a trust bundle alone: no network, no data directory, and nothing beyond
    trust/ and verify/. What a credential type and its fields are called comes from the signed
    trust list. A bundle whose list has expired answers TRUST_LIST_STALE; one that cannot be
    used at all is a :class:`UsageProblem`."""
    from trust.trustlist.bundle import load_bundle
    from trust.trustlist.errors import TrustListExpired
    from trust.trustlist.root import SignedRoot, load_initial_root
    from verify.reasons import Reason
    from verify.result import VerificationResult
    from verify.result_json import verification_json
    from verify.verifier import verify_scanned

    try:
        data = trust_file.read_bytes()
        root_bytes = root_file.read_bytes() if root_file is not None else None
    except OSError as exc:
        raise UsageProblem(
            f"无法读取 {exc.filename}：{exc.strerror}",
            f"cannot read {exc.filename}: {exc.strerror}",
        ) from exc
    try:
        pinned = load_initial_root(SignedRoot.from_bytes(root_bytes)) if root_bytes else None
        loaded = load_bundle(data, pinned_root=pinned, now=now, trust_on_first_use=pinned is None)
    except TrustListExpired as exc:
        stale = VerificationResult(reason=Reason.TRUST_LIST_STALE, detail=str(exc), checked_at=now)
        return verification_json(stale)
    except DataError as exc:
        raise UsageProblem(
            f"信任文件 {trust_file} 无法使用：{exc}", f"unusable trust file {trust_file}: {exc}"
        ) from exc
    if loaded.trust_list.types is None:
        print(UNDESCRIBED_TYPES, file=sys.stderr)
    result = verify_scanned(qr_text, trust=loaded.snapshot, statuses=loaded.statuses, now=now)
    return verification_json(result)


def show_lines(result: dict[str, Any]) -> list[str]:
    """A verification as people at the counter read it: Chinese first, English beside it."""
    mark = "✓" if result["valid"] else "✗"
    lines = [f"{mark} {result['message']['zh']} · {result['message']['en']} [{result['reason']}]"]
    cred = result.get("credential")
    if cred:
        name = cred["type_name"]
        lines.append(f"  {name['zh']} {name['en']}  {cred.get('identifier') or ''}")
        lines.extend(
            f"  {f['label']['zh']} {f['label']['en']}: {f['value']}" for f in cred["fields"]
        )
        lines.append(
            f"  有效期 valid: {cred['valid_from']} → {cred['valid_until'] or '长期 no expiry'}"
        )
    issuer = result.get("issuer")
    if issuer:
        lines.append("  签发 issuer: " + " → ".join(c["name"] for c in issuer["chain"]))
    fresh = result.get("freshness") or {}
    if fresh.get("status_age_seconds") is not None:
        lines.append(status_age_line(fresh))
    return lines


def status_age_line(fresh: dict[str, Any]) -> str:
    """How old the status data behind the answer was, and the bound it was held to."""
    age, bound = fresh["status_age_seconds"], fresh.get("status_max_age_seconds")
    limit = f"，时效上限 {bound} 秒" if bound is not None else ""
    limit_en = f", relied on for at most {bound} s" if bound is not None else ""
    return (
        f"  状态数据 status data: {fresh.get('status')}（{age} 秒前{limit}）"
        f" · {age} s old{limit_en}"
    )


def answer(result: dict[str, Any], *, as_json: bool) -> int:
    """Print a verification (JSON, or lines for people) and return its exit code."""
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write("".join(line + "\n" for line in show_lines(result)))
    return EXIT_VALID if result["valid"] else EXIT_INVALID


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageProblem(f"参数有误：{message}", f"bad arguments: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ecert verify", add_help=False, allow_abbrev=False)
    parser.add_argument("--offline", action="store_true", required=True)
    parser.add_argument("--trust-file", type=Path)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--qr-text")
    parser.add_argument("--image", type=Path)
    parser.add_argument("--json", dest="as_json", action="store_true")
    parser.add_argument("--gateway")
    parser.add_argument("--data-dir", type=Path)  # accepted as ``ecert verify`` does; unused
    return parser


def run(args: list[str], *, now: int | None = None) -> int:
    """``ecert verify --offline …`` (``args`` without ``verify``): its exit code."""
    try:
        opts = _parser().parse_args(args)
        if opts.gateway is not None or opts.trust_file is None:
            raise UsageProblem(
                "--offline 需要 --trust-file，且不能与 --gateway 同用",
                "--offline needs --trust-file and no --gateway",
            )
        if (opts.qr_text is None) == (opts.image is None):
            raise UsageProblem(
                "请只给出 --qr-text 或 --image 之一", "give exactly one of --qr-text or --image"
            )
        qr_text = opts.qr_text or first_code(read_image(opts.image), opts.image)
        checked_at = int(time.time()) if now is None else now
        result = verify_offline(opts.trust_file, opts.root, qr_text, now=checked_at)
    except UsageProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return answer(result, as_json=opts.as_json)


def wanted(args: list[str]) -> bool:
    """Whether ``ecert`` ``args`` ask for this path: ``verify … --offline …``, not its help."""
    return (
        len(args) > 1
        and args[0] == "verify"
        and "--offline" in args
        and not {"--help", "-h"} & set(args)
    )
