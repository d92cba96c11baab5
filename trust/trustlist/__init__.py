"""Signed trust lists: what a region's verifiers trust, and the TUF rules for taking one.

By module (all pure: bytes, parsed objects and ``now`` in; no I/O):

- ``document``: the signed, versioned :class:`TrustList` and :func:`verify_trust_list`.
- ``entry``: one issuing key, what it may issue, and its life.
- ``credential_types``: the names and field labels of the types a list's issuers may issue.
- ``fields``: the bounded JSON field reader the list's parts are read with.
- ``root``: the root metadata that says which keys may sign a list, and its rotation (TUF §5.3).
- ``delta``: the changes from one list version to the next, signed.
- ``bundle``: everything an offline kiosk needs in one file.
- ``compiler``: what a gateway's next list holds, from verified chains and the previous list.
- ``errors``: what goes wrong with a list, as verifiers tell it apart.

Which of these a verifier holds at a time, and the rules for replacing it, is
:mod:`trust.trusted_state`'s to say.
"""
