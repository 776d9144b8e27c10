"""nginx (the distribution's package) serving one folder on a free loopback port, started and stopped here."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from ._child import stop_child, wait_until_answering
from .latency import free_port

__all__ = ["NginxServer", "nginx_available"]

# /slides/      the folder, with byte ranges and ETags (nginx's static module)
# /norange/     the same files without range support (whole file, status 200)
# /forbidden/   403 for everything;  /loop/  redirects to itself
_CONFIG = """
{user}
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    types {{ }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port};
        location /slides/ {{ alias {root}/; }}
        location /norange/ {{ alias {root}/; max_ranges 0; }}
        location /forbidden/ {{ return 403; }}
        location /loop/ {{ return 302 $uri; }}
    }}
}}
"""


def nginx_available() -> str | None:
    """The nginx binary, or None."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


class NginxServer:
    """``with NginxServer(folder) as server: server.url + "/slides/name.svs"``."""

    def __init__(self, root: str | os.PathLike, start_timeout: float = 10.0) -> None:
        self.root = Path(root).resolve()
        self.start_timeout = start_timeout
        self.port = 0
        self._proc: subprocess.Popen | None = None
        self._prefix = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> NginxServer:
        binary = nginx_available()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        self._prefix = tempfile.mkdtemp(prefix="wsi-nginx-")
        os.mkdir(os.path.join(self._prefix, "tmp"))
        self.port = free_port()
        # As root, nginx's workers would switch to "nobody", who cannot read a private temporary folder.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = os.path.join(self._prefix, "nginx.conf")
        Path(conf).write_text(_CONFIG.format(user=user, prefix=self._prefix, port=self.port, root=self.root))
        self._proc = subprocess.Popen(
            [binary, "-p", self._prefix, "-c", conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        def answered() -> bool:
            try:
                urllib.request.urlopen(f"{self.url}/forbidden/", timeout=1)
            except urllib.error.HTTPError:
                return True  # the 403 answers: it is up
            return False

        def exited() -> str:
            return f"nginx exited: {self._proc.stderr.read().decode(errors='replace')[-500:]}"

        if not wait_until_answering(self._proc, answered, self.start_timeout, 0.05, exited):
            self.__exit__()
            raise RuntimeError(f"nginx did not answer on port {self.port} within {self.start_timeout} s")

    def __exit__(self, *exc) -> None:
        stop_child(self._proc, signal.SIGQUIT)  # graceful: the master stops its workers
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        shutil.rmtree(self._prefix, ignore_errors=True)
