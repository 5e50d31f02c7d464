"""The HTTP servers: ``pixelthink serve`` (:mod:`.openai_server`, an OpenAI-compatible chat server) and
``pixelthink app`` (:mod:`.webapp`), both on :mod:`.httpsafety` (what every server exposed to untrusted
clients holds). They need the ``ml`` extra (fastapi, uvicorn); :mod:`.limits` (the limits and their
defaults, which the command line reads) imports neither."""
