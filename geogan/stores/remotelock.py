"""One writer per object-storage output: a lock object created with a conditional put.

:func:`remote_lock` creates ``<url>.lock`` with ``If-None-Match: *`` (a second writer's put
fails), refreshes it every :data:`HEARTBEAT_S` seconds while held, and deletes it at the end.
A lock is stale, and taken over, when its holder is known dead (same host, no such process:
a killed command's rerun simply takes it, as with the kernel locks of local outputs) or has
not refreshed it for :data:`STALE_AFTER_S` seconds (a client killed on another machine).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from geogan.errors import OutputExistsError
from geogan.stores.remote import Remote, public_url, sibling

#: a lock not refreshed for this long is stale (its holder was killed); holders refresh it
#: every :data:`HEARTBEAT_S` seconds. Clocks of hosts sharing a bucket may differ by a few
#: seconds, far below this.
STALE_AFTER_S = 120.0
HEARTBEAT_S = 20.0


# -- one writer per output -------------------------------------------------------------------------
def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "beat": time.time()}


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def stale_reason(held: dict | None, now: float | None = None) -> str | None:
    """Why the lock ``held`` (its JSON) is stale, or None while its holder may be alive."""
    if not isinstance(held, dict):
        return "it holds no holder's details"
    now = time.time() if now is None else now
    if held.get("host") == socket.gethostname() and not _pid_alive(held.get("pid")):
        return f"its holder, pid {held.get('pid')} on this host, has ended"
    beat = held.get("beat")
    if not isinstance(beat, (int, float)) or now - float(beat) > STALE_AFTER_S:
        return f"its holder has not refreshed it for more than {STALE_AFTER_S:.0f} s"
    return None


def _describe(held) -> str:
    if not isinstance(held, dict):
        return "a process that left no details"
    who = [f"pid {held.get('pid')}", f"on {held.get('host')}" if held.get("host") else "",
           f"since {held.get('since')}" if held.get("since") else ""]
    return " ".join(str(w)[:80] for w in who if w)


@contextmanager
def remote_lock(url: str) -> Iterator[str]:
    """Hold the writer's lock of the output ``url`` (the object ``<url>.lock``) for the block.

    Raises :class:`~geogan.errors.OutputExistsError` while another live writer holds it. A
    stale lock (see :func:`stale_reason`) is removed and taken. The holder refreshes the lock
    every :data:`HEARTBEAT_S` seconds and deletes it when the block ends.
    """
    lock_url = sibling(url, ".lock")
    loc = Remote(lock_url)
    for _ in range(5):
        me = _holder()
        if loc.create("", json.dumps(me).encode()):
            break
        held = loc.read_json("")
        reason = stale_reason(held)
        if reason is None:
            raise OutputExistsError(f"another geogan process ({_describe(held)}) is writing {public_url(url)}; wait "
                                    f"for it to finish", path=None)
        loc.remove("")  # stale: taken over (if two take it over at once, one create wins)
    else:  # pragma: no cover - five lost races in a row
        raise OutputExistsError(f"cannot take the lock {public_url(lock_url)}: others keep taking it", path=None)
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_S):
            try:
                loc.write_bytes("", json.dumps({**me, "beat": time.time()}).encode())
            except Exception:  # a missed beat: the next one may pass; the lock goes stale only after many
                pass

    thread = threading.Thread(target=beat, name="geogan-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield lock_url
    finally:
        stop.set()
        thread.join()
        try:
            loc.remove("")
        except Exception:  # unreachable storage: the lock goes stale by itself
            pass


__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "remote_lock", "stale_reason"]
