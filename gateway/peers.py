"""Fetching from peers over HTTP: the one-method ``Fetcher`` the pure layer resolves through.

Every foreign error (connection refused, timeout, HTTP status, oversized body) becomes a
``trust.errors.FetchError`` naming the URL, so callers fall back to the last good data.
"""

from __future__ import annotations

import httpx

from trust.errors import FetchError

MAX_DOCUMENT = 8 * 1024 * 1024
TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class HttpFetcher:
    """GET with bounded time and size; ``client`` may be injected (tests route it in-process)."""

    def __init__(
        self, client: httpx.Client | None = None, *, max_bytes: int = MAX_DOCUMENT
    ) -> None:
        self.client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        self.max_bytes = max_bytes

    def fetch(self, url: str) -> bytes:
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FetchError(f"GET {url} answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FetchError(f"GET {url}: body over {self.max_bytes} bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise FetchError(f"GET {url} failed: {exc}") from exc

    def post_text(self, url: str, content: str, *, content_type: str) -> str:
        try:
            response = self.client.post(
                url, content=content, headers={"Content-Type": content_type}
            )
        except httpx.HTTPError as exc:
            raise FetchError(f"POST {url} failed: {exc}") from exc
        if response.status_code >= 400:
            raise FetchError(
                f"POST {url} answered HTTP {response.status_code}: {response.text[:300]}"
            )
        return response.text

    def close(self) -> None:
        self.client.close()
