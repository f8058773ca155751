"""`distillguard run` under cProfile; the stats are written to $DG_PROFILE_OUT when the worker
stops (SIGTERM). For finding where the worker's time goes:

    DG_PROFILE_OUT=/tmp/worker.prof python -m tests.bench.profiled_worker
"""

from __future__ import annotations

import atexit
import cProfile
import os

from distillguard.stream.config import Settings
from distillguard.stream.worker import run_worker


def main() -> None:
    profile = cProfile.Profile()
    atexit.register(lambda: (profile.disable(), profile.dump_stats(os.environ["DG_PROFILE_OUT"])))
    profile.enable()
    run_worker(Settings.load())


if __name__ == "__main__":
    main()
