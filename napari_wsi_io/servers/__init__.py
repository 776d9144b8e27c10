"""Real servers on free loopback ports, for the remote-reading tests and ``benchmarks/remote.py``.

``nginx`` serves a folder over HTTP (with endpoints that fail the ways real servers do), ``latency``
adds round-trip time in front of any TCP server, and ``s3`` runs moto's standalone S3 server.  Every
server binds 127.0.0.1 only and stops with its context manager.  Nothing here is used to read slides.
"""

from .latency import LatencyProxy, SilentServer, free_port
from .nginx import NginxServer, nginx_available
from .s3 import MotoServer

__all__ = ["LatencyProxy", "MotoServer", "NginxServer", "SilentServer", "free_port", "nginx_available"]
