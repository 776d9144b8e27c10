"""moto's standalone S3 server (``moto[server]``) in a child process on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from ._child import stop_child, wait_until_answering
from .latency import free_port

__all__ = ["MotoServer"]


class MotoServer:
    """``with MotoServer() as s3: s3.endpoint`` — an S3 endpoint for ``AWS_ENDPOINT_URL``.

    ``client()`` is a boto3 client on it (test credentials) for creating buckets and uploading.
    """

    def __init__(self, start_timeout: float = 30.0) -> None:
        self.start_timeout = start_timeout
        self.port = 0
        self._proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MotoServer:
        self.port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )

        def answered() -> bool:
            urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
            return True

        def exited() -> str:
            return "moto's server exited (is moto[server] installed?)"

        if wait_until_answering(self._proc, answered, self.start_timeout, 0.1, exited):
            return self
        self.__exit__()
        raise RuntimeError(f"moto's server did not answer within {self.start_timeout} s")

    def __exit__(self, *exc) -> None:
        stop_child(self._proc)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
