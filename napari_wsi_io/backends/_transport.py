"""Ranged GETs of one remote object with obstore: HTTP(S), S3 and what else obstore reads (gs://, az://).

Chosen by measurement (``benchmarks/remote_transport.py``, nginx behind 40 ms RTT): obstore matched
urllib3 and fsspec/aiohttp on the open and the view, read bulk ranges at twice fsspec's speed with the
least CPU, and reads S3, GCS and Azure with the same code.  Its async API runs on one event-loop thread
shared by every remote slide; a semaphore per object bounds the requests in flight.

Credentials come from where AWS tools look (environment, ``AWS_PROFILE`` and ~/.aws through boto3,
anonymous when there are none); ``AWS_ENDPOINT_URL`` (or ``_S3``) points at an S3-compatible server, plain
http allowed.  Messages name the URL without user, password or query (``redact``) and never quote
obstore's own text, which can carry request headers.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import urllib.parse
from collections.abc import Sequence
from datetime import timedelta

from .._errors import SlideFetchError, SlideReadError

__all__ = ["REMOTE_SCHEMES", "Transport", "is_url", "make_store", "redact"]

REMOTE_SCHEMES = ("http", "https", "s3", "s3a", "gs", "az", "abfs", "abfss")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)


def is_url(path: object) -> bool:
    """True for a string naming a remote object (``https://``, ``s3://``, ...)."""
    if not isinstance(path, str) or "://" not in path:
        return False
    return path.split("://", 1)[0].lower() in REMOTE_SCHEMES


def redact(url: str) -> str:
    """The URL as messages show it: no user or password, no query (signatures), no fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The event loop every remote source's requests run on (a daemon thread, started on first use)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="napari-wsi-io-remote", daemon=True).start()
            _loop = loop
        return _loop


def _s3_auth() -> dict:
    """Keyword arguments for S3Store: credentials from the usual places, else unsigned (public buckets)."""
    env = os.environ
    if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return {}  # object_store reads these itself
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return {}
    shared = [env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"), env.get("AWS_CONFIG_FILE", "~/.aws/config")]
    if env.get("AWS_PROFILE") or any(os.path.exists(os.path.expanduser(p)) for p in shared):
        try:
            import boto3
            from obstore.auth.boto3 import Boto3CredentialProvider

            session = boto3.Session()
            if session.get_credentials() is not None:
                return {"credential_provider": Boto3CredentialProvider(session)}
        except Exception:  # no boto3, a broken profile: anonymous below, and the server says what it allows
            pass
    return {"config": {"skip_signature": True}}


def make_store(url: str, timeout: float):
    """(store, key) for ``url``: a store for its bucket or folder, and the object's path in it."""
    try:
        from obstore import store as stores
    except ImportError:
        raise SlideReadError(redact(url), "reading URLs needs obstore (pip install obstore)") from None

    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    seconds = max(1.0, float(timeout))
    client = {
        "timeout": timedelta(seconds=seconds),
        "connect_timeout": timedelta(seconds=min(seconds, 10.0)),
        "pool_idle_timeout": timedelta(seconds=60),
    }
    # A dropped connection is retried twice, quickly, and never past the timeout: then the view reports it.
    retry = {
        "max_retries": 2,
        "retry_timeout": timedelta(seconds=seconds),
        "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=1), "base": 2},
    }
    if scheme in ("http", "https"):
        folder, _, name = parts.path.rpartition("/")
        base = urllib.parse.urlunsplit((scheme, parts.netloc, folder, "", ""))
        store = stores.HTTPStore.from_url(base, client_options={**client, "allow_http": True}, retry_config=retry)
        return store, urllib.parse.unquote(name)
    key = urllib.parse.unquote(parts.path.lstrip("/"))
    if scheme in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        auth = _s3_auth()
        config = {**auth.pop("config", {})}
        if endpoint:
            config["endpoint"] = endpoint
            client["allow_http"] = endpoint.startswith("http://")  # an S3-compatible server on a LAN
        store = stores.S3Store(parts.netloc, config=config, client_options=client, retry_config=retry, **auth)
        return store, key
    store = stores.from_url(f"{scheme}://{parts.netloc}", client_options=client, retry_config=retry)
    return store, key


def _error(name: str, exc: BaseException, timeout: float) -> SlideReadError:
    """The error to raise for a failed request: ``SlideFetchError`` where trying again may work."""
    reason = _reason(exc, timeout)
    transient = reason.startswith(("no answer", "the connection")) or re.search(r"answered 5\d\d", reason)
    return (SlideFetchError if transient else SlideReadError)(name, reason)


def _reason(exc: BaseException, timeout: float) -> str:
    """A short, credential-free reason for a failed request."""
    from obstore import exceptions as ox

    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, FileNotFoundError):
        return "not found (404)"
    if isinstance(exc, ox.PermissionDeniedError):
        return "access denied (403)"
    if isinstance(exc, ox.UnauthenticatedError):
        return "not authorised (401): credentials are missing or wrong"
    if isinstance(exc, ox.NotSupportedError):
        return "the server does not support byte ranges (it sends whole files only)"
    if isinstance(exc, ox.PreconditionError):
        return "the file changed on the server since it was opened (its ETag differs)"
    text = str(exc)
    if "redirect" in text:
        return "too many redirects (a redirect loop?)"
    # obstore's text also prints its settings ("retry_timeout: 3s"): look for the error itself.
    if re.search(r"timed out|TimedOut|(?<!retry_)timeout(?!:)", text, re.IGNORECASE):
        return f"no answer within {timeout:g} s"
    if re.search(r"error sending request|IncompleteMessage|connect|connection|reset|broken pipe", text, re.IGNORECASE):
        return "the connection failed or dropped"
    status = re.search(r"status code: (\d{3}[^:\n]*)", text)
    if status:
        return f"the server answered {status.group(1).strip()}"
    return f"{type(exc).__name__} from the transport"


class Transport:
    """One remote object: its size and ETag, and ranged GETs of it, ``in_flight`` at most at once."""

    def __init__(self, url: str, timeout: float, in_flight: int) -> None:
        self.url, self.name, self.timeout = url, redact(url), float(timeout)
        self._in_flight = max(1, int(in_flight))
        self._semaphore: asyncio.Semaphore | None = None
        self.requests = 0  # sent so far (the benchmark counts them)
        try:
            self._store, self._key = make_store(url, self.timeout)
        except SlideReadError:
            raise
        except Exception as exc:
            raise SlideReadError(self.name, f"cannot reach it ({_reason(exc, self.timeout)})") from None
        #: The last failed request's error (tifffile logs some read errors and goes on: the layout asks).
        self.failure: SlideReadError | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self._in_flight, self._semaphore = max(1, int(value)), None

    def _run(self, coro):
        """Run ``coro`` on the shared loop; an error names the URL, and nothing waits past the timeout."""
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, self.timeout + 1.0), _event_loop())
        try:
            return future.result()
        except SlideReadError as exc:
            self.failure = exc
            raise
        except Exception as exc:
            self.failure = _error(self.name, exc, self.timeout)
            raise self.failure from None

    def stat(self) -> tuple[int, str | None]:
        """(size, ETag) of the object."""
        import obstore

        self.requests += 1
        meta = self._run(obstore.head_async(self._store, self._key))
        return int(meta["size"]), meta.get("e_tag")

    def open_head(self, count: int) -> tuple[int, str | None, bytes]:
        """(size, ETag, first ``count`` bytes) in one request: the open's first round trip."""
        return self._run(self._head(count))

    async def _head(self, count: int) -> tuple[int, str | None, bytes]:
        import obstore

        self.requests += 1
        try:
            result = await obstore.get_async(self._store, self._key, options={"range": (0, count)})
            data = bytes(await result.bytes_async())
        except Exception as exc:
            if type(exc).__name__ not in ("GenericError", "InvalidInputError"):  # 404, 403, no ranges: as they are
                raise
            self.requests += 1  # an empty file has no byte 0 to ask for (416): its HEAD says so
            meta = await obstore.head_async(self._store, self._key)
            if int(meta["size"]):
                raise
            return 0, meta.get("e_tag"), b""
        size = int(result.meta["size"])
        if len(data) != min(count, size):
            raise SlideReadError(self.name, f"the server sent {len(data)} bytes for a range of {min(count, size)}")
        return size, result.meta.get("e_tag"), data

    def fetch(self, ranges: Sequence[tuple[int, int]], etag: str | None, size: int) -> list[bytes]:
        """The bytes of each (start, end) range, fetched in parallel; an object that changed raises."""
        return self._run(self._fetch_all(list(ranges), etag, size))

    async def _fetch_all(self, ranges: list[tuple[int, int]], etag: str | None, size: int) -> list[bytes]:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._in_flight)
        return list(await asyncio.gather(*(self._fetch_one(start, end, etag, size) for start, end in ranges)))

    async def _fetch_one(self, start: int, end: int, etag: str | None, size: int) -> bytes:
        import obstore

        options: dict = {"range": (start, end)}
        if etag:
            options["if_match"] = etag
        async with self._semaphore:
            self.requests += 1
            result = await obstore.get_async(self._store, self._key, options=options)
            data = await result.bytes_async()
        meta = result.meta
        if int(meta["size"]) != size or (etag and meta.get("e_tag") and meta["e_tag"] != etag):
            raise SlideReadError(self.name, "the file changed on the server since it was opened (size or ETag)")
        if len(data) != end - start:
            raise SlideReadError(self.name, f"the server sent {len(data)} bytes for a range of {end - start}")
        return bytes(data)
