"""Keys, JWS primitives, identifiers, status lists, federation statements and trust lists.

Pure: no network, no database. Everything takes bytes, parsed objects and ``now``.
"""
