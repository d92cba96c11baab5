"""Verification of scanned certificates: pure, offline-capable, never imports ``issuers``."""
