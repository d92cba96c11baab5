"""Issuing certificates: schemas, identifiers, signing, status changes and QR codes."""
