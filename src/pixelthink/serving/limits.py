"""The limits of a pixelthink server and their defaults (:class:`ServerLimits`): plain values, no web
framework, so that the command line can read them while it builds its parser without the servers' ``ml``
extra. :mod:`pixelthink.serving.httpsafety` enforces them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pixelthink.images import DEFAULT_MAX_PIXELS

__all__ = [
    "DEFAULT_APP_MAX_QUEUE",
    "DEFAULT_BODY_TIMEOUT_S",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_TOKENS_CAP",
    "ServerLimits",
]

#: Default request-body limit: 25 MiB (a 40 MP PNG rarely exceeds it; base64 adds a third).
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
#: Default cap on the ``max_tokens`` a request to ``pixelthink serve`` may ask for.
DEFAULT_MAX_TOKENS_CAP = 4096
#: Default number of requests admitted at once (running + waiting); one more gets 429. Equal to
#: ``pixelthink predict``'s default ``--concurrency`` (:data:`pixelthink.pipeline.streaming.DEFAULT_CONCURRENCY`),
#: so that a default ``predict`` against a default ``serve`` is not refused.
DEFAULT_MAX_QUEUE = 64
#: ``pixelthink app``'s default: its requests hold decoded uploads (up to 40 MP, 120 MB each) while they
#: wait, so 32 of them bound that memory to 3.8 GB (nothing sends it 64 requests at once by default).
DEFAULT_APP_MAX_QUEUE = 32
#: Default seconds a client has to send its whole request body (408 and the connection closed after).
DEFAULT_BODY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ServerLimits:
    """Limits of a server; every field is a command-line flag of ``serve`` and ``app``.

    Attributes:
        max_body_bytes: largest request body accepted (413 above).
        max_pixels: largest decoded image, width x height (413 above; None/0 = no limit).
        max_queue: requests admitted at once, running or waiting (429 above).
        body_timeout_s: seconds to receive the whole request body (408 after).
        api_key: the token every request must carry, or None (no authentication).
        query_token: also accept the token as ``?token=`` in the URL (pages, image links).
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_queue: int = DEFAULT_MAX_QUEUE
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    api_key: str | None = None
    query_token: bool = False

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError(f"max body size must be >= 1 byte, got {self.max_body_bytes}")
        if self.max_queue < 1:
            raise ValueError(f"max queue must be >= 1, got {self.max_queue}")
        if not self.body_timeout_s > 0:
            raise ValueError(f"body timeout must be > 0 seconds, got {self.body_timeout_s}")
        if self.max_pixels is not None and self.max_pixels < 0:
            raise ValueError(f"max pixels must be >= 0, got {self.max_pixels}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("the API token must not be empty")
