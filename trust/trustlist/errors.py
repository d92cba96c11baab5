"""Errors of the trust list, root metadata, delta and offline bundle (``trust.trustlist``).

All are :class:`trust.errors.DataError`: the data is bad and retrying the same bytes will not help.
Callers act on the subclasses:

- :class:`RollbackError`: an older version than one already trusted (TUF §5.4.3, §5.3.5), or the
  same version with different content. Keep the data you have.
- :class:`TrustListExpired`: past ``exp`` (TUF §5.4.4, freeze attack). A verifier answers
  TRUST_LIST_STALE instead of guessing. :class:`RootExpired` is one too: an expired root makes
  everything it vouches for stale.
- :class:`RootError`: root metadata that is malformed, under-signed or out of sequence.
- :class:`DeltaError`: a delta that does not apply to the list held, or does not reproduce the
  list it claims to.
- :class:`BundleError`: an offline bundle file that is malformed or oversized.

Signature problems of compact JWS (trust lists, deltas) keep their :mod:`trust.jws` classes
(``BadSignature``, ``UnknownKey`` …), which are ``DataError`` too.
"""

from __future__ import annotations

from trust.errors import DataError


class TrustListError(DataError):
    """A trust list, its root, a delta or a bundle is malformed or breaks a rule."""


class RollbackError(TrustListError):
    """A lower version than the one trusted, or the same version with other content."""


class TrustListExpired(TrustListError):
    """Past its ``exp``: the verifier answers TRUST_LIST_STALE (TUF §5.4.4, freeze attack)."""


class RootError(TrustListError):
    """Root metadata is malformed, not signed by a threshold, or not the next version."""


class RootExpired(RootError, TrustListExpired):
    """The newest trusted root is past ``expires`` (TUF §5.3.10, freeze attack)."""


class DeltaError(TrustListError):
    """A delta does not apply to the base held or does not reproduce its target list."""


class BundleError(TrustListError):
    """An offline trust bundle file is malformed or oversized."""
