"""``python -m collectors``: the MOHURD collector gateway.

    python -m collectors serve [--port 8808] [--profile default] [...]   run until SIGTERM/SIGINT
    python -m collectors profiles                                        list the shipped profiles
    python -m collectors new-secret                                      a key secret for EP_COLLECTOR_KEY_SECRET
"""

from __future__ import annotations

import asyncio
import signal
import sys


def _serve(argv: list[str]) -> int:
    from collectors.service import GatewayService
    from collectors.settings import parse_args
    from storage import logs

    settings = parse_args(argv)
    logs.setup(settings.log_level)

    async def run() -> None:
        service = GatewayService(settings)
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await service.start()
        await done.wait()
        await service.stop()

    asyncio.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cmd, rest = (argv[0], argv[1:]) if argv else ("serve", [])
    if cmd == "serve":
        return _serve(rest)
    if cmd == "profiles":
        from collectors.profile import load_profile, profile_names

        for name in profile_names():
            print(f"{name}: {load_profile(name).model_dump_json()}")
        return 0
    if cmd == "new-secret":
        from registry.keys import new_secret

        print(new_secret())
        return 0
    if cmd in ("-h", "--help"):
        print(__doc__)
        return 0
    return _serve(argv)


if __name__ == "__main__":
    sys.exit(main())
