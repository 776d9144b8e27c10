"""Real servers for the remote-reading tests, each on a free 127.0.0.1 port, started once per session.

nginx (the distribution's package, installed by ``make test``) serves a folder of test slides; a proxy in
front of it adds round-trip time and can cut connections; moto's standalone server is the S3 endpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from napari_wsi_io.servers import LatencyProxy, MotoServer, NginxServer, nginx_available
from napari_wsi_io.synthetic import write_synthetic_slide
from napari_wsi_io.synthetic.bif import write_bif
from napari_wsi_io.synthetic.ndpi import write_ndpi
from napari_wsi_io.synthetic.ome import write_ome_tiff
from napari_wsi_io.synthetic.philips import write_philips
from napari_wsi_io.synthetic.qptiff import write_qptiff
from napari_wsi_io.synthetic.scn import write_scn

TEST_RTT = 0.010
# The kinds of TIFF the reader supports, served under these names.
SERVED_KINDS = ("svs", "jpeg", "deflate", "lzw", "raw", "striped", "gray16", "subifds")
BUCKET = "slides-bucket"


@pytest.fixture(scope="session")
def served(tmp_path_factory, slides) -> dict[str, Path]:
    """Local files that the servers serve, by kind: the conftest's slides and one of each vendor layout."""
    d = tmp_path_factory.mktemp("served")
    files = {kind: Path(shutil.copy(slides[kind], d / f"{kind}{Path(slides[kind]).suffix}")) for kind in SERVED_KINDS}
    files["ndpi"] = write_ndpi(d / "ndpi.ndpi", (1536, 2048), tile_width=256, min_level_side=192)
    files["ndpi-scanned"] = write_ndpi(
        d / "old.ndpi", (1536, 2048), tile_width=256, min_level_side=768, mcu_starts=False
    )
    files["scn"] = write_scn(d / "leica.scn")
    files["bif"] = write_bif(d / "ventana.bif")
    files["philips"] = write_philips(d / "philips.tiff")
    files["ome-channels"] = write_ome_tiff(d / "channels.ome.tif", (600, 800), levels=2)  # 6 channels, SubIFDs
    files["qptiff"] = write_qptiff(d / "vectra.qptiff", (500, 700), levels=2)
    # Larger than what the open fetches (the first 2 MB, then 512 kB per IFD): its tiles come by view.
    files["big"] = write_synthetic_slide(d / "big.svs", (12000, 16000), aperio=True)
    return files


@pytest.fixture(scope="session")
def nginx(served):
    if nginx_available() is None:
        pytest.skip("nginx is not installed (make test installs it)")
    with NginxServer(next(iter(served.values())).parent) as server:
        yield server


@pytest.fixture(scope="session")
def proxy(nginx):
    """nginx behind TEST_RTT of round-trip time; ``proxy.broken = True`` drops every connection."""
    with LatencyProxy(nginx.port, rtt=TEST_RTT) as latency:
        yield latency


@pytest.fixture
def url(proxy, served):
    """``url("svs")``: where the proxy serves that kind."""

    def make(kind: str, base: str | None = None) -> str:
        return f"{base or proxy.url}/slides/{served[kind].name}"

    return make


@pytest.fixture(scope="session")
def s3_server(served):
    """moto's S3 server holding the SVS and the NDPI slide in ``BUCKET``."""
    pytest.importorskip("moto")
    with MotoServer() as server:
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        for kind in ("svs", "ndpi"):
            client.upload_file(str(served[kind]), BUCKET, f"folder/{served[kind].name}")
        yield server


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The environment an S3-compatible server on a LAN is reached through."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-never-shown")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return s3_server


@pytest.fixture
def s3_url(s3_env, served):
    """``s3_url("svs")``: where moto holds that kind (``s3_env`` set)."""

    def make(kind: str) -> str:
        return f"s3://{BUCKET}/folder/{served[kind].name}"

    return make
