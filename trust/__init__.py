"""Keys, JWS primitives, status lists and (later) federation statements and trust lists.

Pure: no network, no database. Everything takes bytes, parsed objects and ``now``.
"""
