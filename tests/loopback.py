"""HTTP clients for the servers the tests start on the loopback.

httpx builds an SSL context from the system's certificates for every client it makes (about 20 ms
of CPU), and gradio_client makes a client for every request it sends: config, upload, join,
stream, heartbeat. Over a run that was some 1,300 contexts (25-30 s of a worker's time, sampled)
for servers that speak plain HTTP. The tests' clients share one context instead, made once as
httpx makes its default one; plain HTTP never uses it.
"""

from __future__ import annotations

from typing import Any

import httpx
from gradio_client import Client

TLS = httpx.create_ssl_context()


def api(url: str, **httpx_kwargs: Any) -> Client:
    """gradio_client's Client for ``url`` (quiet), its requests sharing :data:`TLS`.

    gradio_client passes ``ssl_verify`` as httpx's ``verify`` to every request it makes, and
    httpx takes an SSL context there.
    """
    return Client(url, verbose=False, ssl_verify=TLS, httpx_kwargs=httpx_kwargs or None)


def client(local_address: str | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client sharing :data:`TLS`, standing on ``local_address`` when given."""
    if local_address is not None:
        kwargs["transport"] = httpx.HTTPTransport(verify=TLS, local_address=local_address)
    return httpx.Client(verify=TLS, **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.get`` sharing :data:`TLS`."""
    return httpx.get(url, verify=TLS, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.post`` sharing :data:`TLS`."""
    return httpx.post(url, verify=TLS, **kwargs)
