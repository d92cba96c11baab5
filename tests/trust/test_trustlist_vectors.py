"""Deterministic trust list samples, and the test vectors they regenerate.

Every key here is derived from a fixed seed, so the samples are the same on every run. The other
``test_trustlist*`` modules import them. EdDSA signatures are deterministic (RFC 8032), so the
signed root and trust list vectors in ``vectors/trustlist/`` are compared byte for byte:
regenerate them, after an intended format change, with

    .venv/bin/python -m tests.trust.test_trustlist_vectors
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from trust.claims import CREDENTIAL_TYP
from trust.jws import sign_compact
from trust.keys import PublicKey, SigningKey
from trust.snapshot import ChainLink, FieldLabel, TypeInfo
from trust.statuslist import StatusList, sign_status_list_token
from trust.trustlist.document import TrustList, sign_trust_list, verify_trust_list
from trust.trustlist.entry import (
    ACTIVE,
    COMPROMISED,
    ROTATED,
    KeyEvent,
    TrustListEntry,
)
from trust.trustlist.root import Role, RootMetadata, SignedRoot, load_initial_root

VECTORS = Path(__file__).parent / "vectors" / "trustlist"
NOW = 1_790_000_000  # 2026-09-21, the project's fixed test 'now'
DAY = 86_400
REGION = "cn-yrd"
GATEWAY = "https://ecert.suzhou.gov.cn"
AMR_USCC = "11330100MB19581230"  # shape only: the verifier does not re-check agency codes
BJ_USCC = "11110000MB0123456X"
AMR_STATUS = "https://ecert.hangzhou.gov.cn/statuslists/1"
BJ_STATUS = "https://ecert.beijing.gov.cn/statuslists/7"
POLICY = "长三角 accepts 京津冀: business licences only"


def ed_key(label: str) -> SigningKey:
    seed = hashlib.sha256(f"ecert-test-{label}".encode()).digest()
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    return SigningKey(private=private, public=PublicKey.from_object(private.public_key()))


def es_key(label: str) -> SigningKey:
    scalar = int.from_bytes(hashlib.sha256(f"ecert-test-{label}".encode()).digest(), "big")
    private = ec.derive_private_key(scalar % (2**255), ec.SECP256R1())
    return SigningKey(private=private, public=PublicKey.from_object(private.public_key()))


ROOT_KEYS = [ed_key(f"root-{i}") for i in range(4)]
LIST_KEY = ed_key("trust-list-1")
LIST_KEY_2 = es_key("trust-list-2")
STRANGER = es_key("stranger")
AMR_KEY = es_key("amr-active")
AMR_OLD = ed_key("amr-rotated")
AMR_LOST = es_key("amr-compromised")
BJ_KEY = es_key("bj-active")

BL = TypeInfo(
    code="business-licence",
    qr_code="BL",
    type_code="11100000000013338W032",
    name_zh="营业执照",
    name_en="Business licence",
    labels=(FieldLabel("name", "名称", "Name"),),
)
EID = TypeInfo(
    code="resident-eid",
    qr_code="EID",
    type_code="11100000000013338W099",
    name_zh="居民身份证",
    name_en="Resident ID",
    labels=(),
)
TYPES = (BL, EID)


def root_v(
    version: int, *, keys: range | list[int], threshold: int = 1, **over: Any
) -> RootMetadata:
    """Root ``version`` whose root role is ``ROOT_KEYS[i] for i in keys``."""
    chosen = [ROOT_KEYS[i].public for i in keys]
    signers = [LIST_KEY.public, LIST_KEY_2.public]
    fields: dict[str, Any] = {
        "version": version,
        "expires": NOW + 365 * DAY,
        "region_id": REGION,
        "region_name": "长三角",
        "keys": {k.kid: k for k in (*chosen, *signers)},
        "root_role": Role(keyids=frozenset(k.kid for k in chosen), threshold=threshold),
        "trust_list_role": Role(keyids=frozenset(k.kid for k in signers), threshold=1),
    }
    fields.update(over)
    return RootMetadata(**fields)


ROOT_V1 = root_v(1, keys=[0])
SIGNED_V1 = SignedRoot.sign(ROOT_V1, [ROOT_KEYS[0]])
ROOT_V2 = root_v(2, keys=[1])  # root key 0 rotated to key 1
SIGNED_V2 = SignedRoot.sign(ROOT_V2, [ROOT_KEYS[0], ROOT_KEYS[1]])


def entry(key: SigningKey, **over: Any) -> TrustListEntry:
    """An entry of 杭州市市场监督管理局, active since 400 days ago; ``over`` replaces fields."""
    not_before = over.pop("not_before", NOW - 400 * DAY)
    fields: dict[str, Any] = {
        "issuer": "ag-amr",
        "name": "杭州市市场监督管理局",
        "uscc": AMR_USCC,
        "region_code": "330100",
        "chain": (
            ChainLink("杭州市市场监督管理局", "agency", "ag-amr"),
            ChainLink("杭州市", "city", "330100"),
            ChainLink("长三角", "region", REGION),
        ),
        "key": key.public,
        "types": frozenset({"business-licence"}),
        "accepted": None,
        "policy": "",
        "status_lists": (AMR_STATUS,),
        "not_before": not_before,
        "retired_at": None,
        "compromised_at": None,
        "history": (KeyEvent(ACTIVE, not_before),),
        "chain_exp": NOW + 30 * DAY,
    }
    fields.update(over)
    return TrustListEntry(**fields)


def bj_entry() -> TrustListEntry:
    """北京市市场监督管理局: authorised for licences and e-IDs, accepted here for licences only."""
    return entry(
        BJ_KEY,
        issuer="ag-bj-amr",
        name="北京市市场监督管理局",
        uscc=BJ_USCC,
        region_code="110000",
        chain=(
            ChainLink("北京市市场监督管理局", "agency", "ag-bj-amr"),
            ChainLink("北京市", "city", "110000"),
            ChainLink("京津冀", "region", "cn-jjj"),
        ),
        types=frozenset({"business-licence", "resident-eid"}),
        accepted=frozenset({"business-licence"}),
        policy=POLICY,
        status_lists=(BJ_STATUS,),
    )


def entries() -> list[TrustListEntry]:
    rotated_at, lost_at = NOW - 100 * DAY, NOW - 5 * DAY
    return [
        entry(AMR_KEY, not_before=NOW - 100 * DAY),
        entry(
            AMR_OLD,
            retired_at=rotated_at,
            history=(KeyEvent(ACTIVE, NOW - 400 * DAY), KeyEvent(ROTATED, rotated_at)),
        ),
        entry(
            AMR_LOST,
            compromised_at=lost_at,
            history=(KeyEvent(ACTIVE, NOW - 400 * DAY), KeyEvent(COMPROMISED, lost_at)),
        ),
        bj_entry(),
    ]


def trust_list(version: int = 1, **over: Any) -> TrustList:
    fields: dict[str, Any] = {
        "version": version,
        "iat": NOW - 3600,
        "exp": NOW + DAY,
        "next_update": NOW + 3600,
        "issuer": GATEWAY,
        "region": REGION,
        "entries": entries(),
    }
    fields.update(over)
    return TrustList.build(**fields)


def credential(
    key: SigningKey, *, t: str = "BL", idx: int = 3, uri: str = AMR_STATUS, **over: Any
) -> str:
    """A credential token as an agency issues it (compare tests/verify/test_verifier.py)."""
    claims: dict[str, Any] = {
        "t": t,
        "jti": "20260000001.001",
        "iat": NOW - DAY,
        "exp": NOW + 365 * DAY,
        "status": {"status_list": {"idx": idx, "uri": uri}},
        "c": {"name": "杭州西湖龙井茶业有限公司"},
        **over,
    }
    return sign_compact(claims, key, typ=CREDENTIAL_TYP, kid=key.public.short_kid)


def status_token(uri: str, key: SigningKey, revoked: tuple[int, ...] = (), **over: Any) -> str:
    lst = StatusList(bits=2, size=1024)
    for idx in revoked:
        lst.set(idx, 1)
    fields: dict[str, Any] = {"iat": NOW - 60, "exp": NOW + DAY, "ttl": 300}
    fields.update(over)
    return sign_status_list_token(uri=uri, status_list=lst, key=key, **fields)


# --- the vectors -------------------------------------------------------------------------------


def _vectors() -> dict[str, bytes]:
    tl = trust_list()
    typed = trust_list(types=TYPES)
    token = sign_trust_list(tl, LIST_KEY)
    summary = {
        "about": "trust list v1 signed with LIST_KEY (EdDSA, deterministic); see "
        "tests/trust/test_trustlist_vectors.py",
        "version": tl.version,
        "content_hash": tl.content_hash(),
        "etag": tl.etag(),
        "entries": [[e.issuer, e.kid] for e in tl.entries],
    }
    return {
        "root_v1.json": json.dumps(SIGNED_V1.to_json(), ensure_ascii=False, indent=2).encode()
        + b"\n",
        "root_v2.json": json.dumps(SIGNED_V2.to_json(), ensure_ascii=False, indent=2).encode()
        + b"\n",
        "trustlist_v1.jwt": token.encode() + b"\n",
        "trustlist_v1.json": json.dumps(summary, ensure_ascii=False, indent=2).encode() + b"\n",
        "trustlist_v1.canonical.json": tl.canonical_bytes() + b"\n",
        # the same list describing its types (trust/trustlist_types.py); the files above are
        # a list from before lists described types, which must keep verifying byte for byte
        "trustlist_v1_typed.jwt": sign_trust_list(typed, LIST_KEY).encode() + b"\n",
        "trustlist_v1_typed.canonical.json": typed.canonical_bytes() + b"\n",
    }


@pytest.mark.parametrize("name", sorted(_vectors()))
def test_vector_file_matches_what_the_samples_generate(name: str) -> None:
    assert (VECTORS / name).read_bytes() == _vectors()[name], f"regenerate: {__doc__}"


def test_stored_root_vectors_verify() -> None:
    v1 = load_initial_root((VECTORS / "root_v1.json").read_bytes())
    assert v1 == ROOT_V1


def test_stored_trust_list_vector_verifies_and_hashes_as_recorded() -> None:
    token = (VECTORS / "trustlist_v1.jwt").read_text().strip()
    summary = json.loads((VECTORS / "trustlist_v1.json").read_text(encoding="utf-8"))
    tl = verify_trust_list(token, keys=ROOT_V1.trust_list_keys, now=NOW, previous=None)
    assert tl.content_hash() == summary["content_hash"]
    assert tl.etag() == summary["etag"]
    expected = (VECTORS / "trustlist_v1.canonical.json").read_bytes().rstrip(b"\n")
    assert tl.canonical_bytes() == expected
    assert hashlib.sha256(expected).hexdigest() == summary["content_hash"]


def test_stored_typed_trust_list_vector_verifies_with_its_types() -> None:
    token = (VECTORS / "trustlist_v1_typed.jwt").read_text().strip()
    tl = verify_trust_list(token, keys=ROOT_V1.trust_list_keys, now=NOW, previous=None)
    assert tl.types == TYPES
    expected = (VECTORS / "trustlist_v1_typed.canonical.json").read_bytes().rstrip(b"\n")
    assert tl.canonical_bytes() == expected


def main() -> None:
    VECTORS.mkdir(parents=True, exist_ok=True)
    for name, data in _vectors().items():
        (VECTORS / name).write_bytes(data)
        sys.stdout.write(f"wrote {VECTORS / name}\n")


if __name__ == "__main__":
    main()
