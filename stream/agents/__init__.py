"""The worker's stages, one verb-named Faust agent per module, wired in stream/worker.py."""
