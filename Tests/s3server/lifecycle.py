"""How the test servers in this folder live: they print one JSON line saying where they listen, then
run until their parent closes their stdin (or sends SIGTERM), so a test that dies cannot leak them."""
import json
import os
import signal
import sys


def announce_and_serve(info):
    """Prints `info` as one JSON line, then blocks until stdin closes; exits the process."""
    print(json.dumps(info), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    try:
        while sys.stdin.read(4096):
            pass
    except (KeyboardInterrupt, OSError):
        pass
    os._exit(0)
