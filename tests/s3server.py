"""A throwaway S3-compatible server for the object-storage tests: moto's ThreadedMotoServer on 127.0.0.1
and a free port, in this process (its state is gone when it stops). It answers S3's REST API as AWS
does, conditional PUTs (If-Match, If-None-Match: 412 Precondition Failed) included, so the store's s3fs
client talks to it exactly as to a bucket; nothing reaches the network.

Test support, like pgserver.py: the tests import it as `s3server`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Self


class S3Unavailable(RuntimeError):
    """moto's server or s3fs is not installed (both come with `make setup`: the dev and deploy extras)."""


@dataclass
class S3Server:
    endpoint: str
    _server: object

    @classmethod
    def start(cls) -> Self:
        try:
            import s3fs  # noqa: F401
            from moto.server import ThreadedMotoServer
        except ImportError as missing:
            raise S3Unavailable(f"{missing.name} is not installed: `make setup` installs moto[server] and s3fs "
                                "(the dev and deploy extras)") from None
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        return cls(f"http://{host}:{port}", server)

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict[str, str]:
        """What a process (the store's s3fs, a `make run`) needs in its environment to use this server."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_S3": self.endpoint, "AWS_ENDPOINT_URL": self.endpoint}

    def storage_options(self) -> dict[str, object]:
        return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": self.endpoint}}

    def bucket(self, prefix: str = "warehouse") -> str:
        """A new, empty bucket; its URL with `prefix`."""
        import s3fs

        name = f"ci-{uuid.uuid4().hex[:12]}"
        s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options()).call_s3("create_bucket", Bucket=name)
        return f"s3://{name}/{prefix}" if prefix else f"s3://{name}"
