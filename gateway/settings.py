"""Settings from the environment (``ECERT_*``), built by a factory, never at import time."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from issuers.qr import check_public_url
from trust.errors import DataError, EcertError

DEMO_PASSPHRASE = "ecert-demo-passphrase-not-for-production"  # noqa: S105 - refused outside demo
MIN_PASSPHRASE = 12


class SettingsError(EcertError):
    """The configuration is unusable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECERT_", extra="ignore")

    data_dir: Path = Field(default=Path(".ecert"))
    database_url: str | None = None
    public_url: str | None = None
    key_passphrase: str | None = None
    demo: bool = False
    status_ttl: int = Field(default=300, ge=1, le=86_400)
    status_list_validity: int = Field(default=86_400, ge=60, le=31 * 86_400)
    status_list_size: int = Field(default=131_072, ge=1024, le=1 << 22)
    # this gateway's own bound on how old status data behind a VALID may be, seconds (unset:
    # the credential types' and verifier roles' bounds only; the strictest of all applies)
    status_max_age: int | None = Field(default=None, ge=1, le=31 * 86_400)
    uscc_allowlist: str = ""  # comma-separated pilot codes that fail the GB 32100 check
    refresh_interval: float = Field(default=2.0, gt=0, le=3600)
    # how often peers' statements and trust data are refreshed (keys, compromises, new cities)
    federation_refresh: float = Field(default=300.0, gt=0, le=86_400)
    # whether this process runs the background federation sync (off: it only serves what another
    # process of the city, or `ecert federation sync`, keeps fresh in the shared database)
    federation_sync: bool = True
    trust_list_lifetime: int = Field(default=86_400, ge=60, le=31 * 86_400)
    # /v?kiosk=1 (issue 12): seconds without a touch or a scan before a shared kiosk clears the
    # answer and returns to Chinese; a kiosk's URL may set its own (?kiosk_idle=N, same bounds)
    kiosk_idle: int = Field(default=60, ge=2, le=3600)
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # how long a holder's reference code (亮证码) lives, seconds (paper codes live days)
    reference_ttl: int = Field(default=300, ge=5, le=3600)
    # how often undelivered use reports (presentations of other cities' credentials) are retried
    use_report_retry: float = Field(default=30.0, gt=0, le=86_400)
    # how old a peer's newest audit log head may be before its witnesses raise "stale", seconds
    audit_head_max_age: int = Field(default=7 * 86_400, ge=60, le=366 * 86_400)
    # whether the federation sync witnesses peers' audit logs (co-signs, raises alarms)
    audit_witness: bool = True
    # Rate limits (gateway.ratelimit, issue 11), in the `limits` notation ("50/second;1200/minute"):
    # sized so that honest use never meets them. Redis shares them between a city's processes.
    redis_url: str | None = None
    redis_prefix: str = Field(default="ecert", min_length=1, max_length=64)
    rate_limits: bool = True  # off only to measure the gateway itself (make bench)
    rate_limit_verify: str = "50/second;1200/minute"  # per client address
    # QRs in POST /api/v1/verify/batch, per client address: a 256-QR batch fits each item
    rate_limit_verify_batch: str = "1024/second;30000/minute"
    rate_limit_image: str = "10/second;300/minute"  # photo uploads, per client address
    rate_limit_issue_address: str = "200/second"  # POST /api/v1/credentials, per address
    rate_limit_issue: str = "100/second"  # issuance, per API key
    rate_limit_api_key: str = "100/second"  # every agency API call, per API key
    rate_limit_verifier: str = "10/second;600/minute"  # a counter's calls, per counter
    rate_limit_peer: str = "20/second;1200/minute"  # per peer gateway and address
    rate_limit_peer_address: str = "50/second"  # federation posts, per address
    rate_limit_auth_failures: str = "10/5minutes"  # failed keys, per key id: then locked out
    rate_limit_auth_failures_address: str = "30/5minutes"  # failed keys, per client address
    # the Chinese TrueType font printed certificates embed (gateway.print_font; unset: Debian's
    # fonts-wqy-microhei where installed)
    pdf_font: Path | None = None
    # The access log (gateway.observe): one JSON line a request, or off; unset, the face decides
    # (`ecert serve` and `ecert demo`: json; an app built in tests or a script: off). Written to
    # stderr, or appended to access_log_file.
    access_log: Literal["json", "off"] | None = None
    access_log_file: Path | None = None
    # The agency console (/console, gateway.console_auth): a session ends after this many
    # seconds without a request (idle) and this many after sign-in (absolute), whichever first.
    console_session_idle: int = Field(default=15 * 60, ge=60, le=86_400)
    console_session_max: int = Field(default=8 * 3600, ge=300, le=7 * 86_400)

    @field_validator("public_url")
    @classmethod
    def _usable_public_url(cls, value: str | None) -> str | None:
        # Checked where it enters (issue 8): a URL a QR code and a status list URI can start with.
        if value is None:
            return None
        try:
            return check_public_url(value)
        except DataError as exc:
            raise ValueError(str(exc)) from None

    @field_validator(
        "rate_limit_verify", "rate_limit_verify_batch", "rate_limit_image",
        "rate_limit_issue_address", "rate_limit_issue", "rate_limit_api_key", "rate_limit_verifier",
        "rate_limit_peer", "rate_limit_peer_address",
        "rate_limit_auth_failures", "rate_limit_auth_failures_address",
    )  # fmt: skip
    @classmethod
    def _usable_rate_limit(cls, value: str) -> str:
        from gateway.ratelimit import parse_limits  # loads `limits` only for a limit set

        parse_limits(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _usable_redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://host:port/db URL, found {value!r}")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.key_passphrase is None:
            return self
        if not self.demo and self.key_passphrase == DEMO_PASSPHRASE:
            raise ValueError(
                "ECERT_KEY_PASSPHRASE is the built-in demo passphrase; set a real one "
                "(or ECERT_DEMO=1 for a throw-away demo)"
            )
        if len(self.key_passphrase) < MIN_PASSPHRASE:
            raise ValueError(
                f"ECERT_KEY_PASSPHRASE must be at least {MIN_PASSPHRASE} characters, "
                f"found {len(self.key_passphrase)}"
            )
        return self

    @property
    def passphrase_file(self) -> Path:
        return self.data_dir / "key-passphrase"

    @property
    def passphrase(self) -> str:
        """The key passphrase: ``ECERT_KEY_PASSPHRASE``, else the data dir's generated one,
        else (demo only) the built-in demo passphrase."""
        if self.key_passphrase is not None:
            return self.key_passphrase
        if self.passphrase_file.exists():
            text = self.passphrase_file.read_text(encoding="utf-8").strip()
            if len(text) < MIN_PASSPHRASE:
                raise SettingsError(f"{self.passphrase_file} holds no usable passphrase")
            return text
        if self.demo:
            return DEMO_PASSPHRASE
        raise SettingsError(
            "no key passphrase: set ECERT_KEY_PASSPHRASE (or run `ecert init` to generate one "
            f"in {self.passphrase_file})"
        )

    def ensure_passphrase(self) -> bool:
        """Generate a random passphrase file when none is configured; True if one was made."""
        if self.key_passphrase is not None or self.demo or self.passphrase_file.exists():
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        return True

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @property
    def allowlist(self) -> frozenset[str]:
        return frozenset(c.strip().upper() for c in self.uscc_allowlist.split(",") if c.strip())


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus explicit overrides (CLI flags)."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'ECERT_' + '.'.join(str(p) for p in e['loc']).upper() if e['loc'] else 'settings'}: "
            f"{_message(e)}"
            for e in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc


def _message(error: Any) -> str:
    """A validator's own message (pydantic prefixes it with "Value error, "), else pydantic's."""
    raised = (error.get("ctx") or {}).get("error")
    return str(raised) if isinstance(raised, ValueError) else str(error["msg"])
