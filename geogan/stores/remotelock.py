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
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from geogan.errors import OutputExistsError
from geogan.stores.remote import Remote, public_url, sibling

log = logging.getLogger(__name__)

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


def is_lock(held) -> bool:
    """Whether ``held`` (a lock object's JSON) is what a geogan lock holder writes."""
    return isinstance(held, dict) and {"pid", "host", "beat"} <= set(held) <= {"pid", "host", "since", "beat", "token"}


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


#: the lock URLs this process holds: a second lock on one of them is a bug of the caller,
#: reported as such rather than as "another process"
_HELD: set[str] = set()


def _ours(loc: Remote, me: dict) -> bool:
    held = loc.read_json("")
    return isinstance(held, dict) and held.get("token") == me["token"]


def _take(loc: Remote, url: str, lock_url: str) -> dict:
    """Create the lock object (taking over a stale one); the holder's record written there."""
    for _ in range(5):
        me = {**_holder(), "token": os.urandom(8).hex()}
        if loc.create("", json.dumps(me).encode()):
            if _ours(loc, me):  # not replaced by a writer that judged it stale meanwhile
                return me
            continue
        held = loc.read_json("")
        if held is None and not loc.exists():  # released since: try again
            continue
        if not is_lock(held):  # an object of the user's (a PUT is whole: never a torn lock)
            raise OutputExistsError(f"{public_url(lock_url)} exists and is not a geogan lock; geogan locks its output "
                                    f"there: move it away", path=None)
        if stale_reason(held) is None:
            raise OutputExistsError(f"another geogan process ({_describe(held)}) is writing {public_url(url)}; wait "
                                    f"for it to finish", path=None)
        # stale: taken over. Deleted only if it is still the one judged stale (object stores
        # offer no conditional delete here: two writers taking over one stale lock in the same
        # instant is narrowed to this read-then-delete, and the read-back after create)
        if loc.read_json("") == held:
            loc.remove("")
    raise OutputExistsError(f"cannot take the lock {public_url(lock_url)}: others keep taking it", path=None)


@contextmanager
def remote_lock(url: str) -> Iterator[str]:
    """Hold the writer's lock of the output ``url`` (the object ``<url>.lock``) for the block.

    Raises :class:`~geogan.errors.OutputExistsError` while another live writer holds it, when
    this process already holds it, when ``url`` is a bucket itself (name an output inside it),
    or when an object that is not a geogan lock lies at ``<url>.lock`` (it is the user's:
    kept). A stale lock (see :func:`stale_reason`) is removed and taken. The holder refreshes
    the lock every :data:`HEARTBEAT_S` seconds, stops refreshing a lock another writer has
    taken over (it was judged stale: logged as an error), and deletes its own when the block ends.
    """
    if "/" not in Remote(url).key.strip("/"):
        raise OutputExistsError(f"{public_url(url)} is a bucket: name an output inside it (e.g. "
                                f"{public_url(url).rstrip('/')}/grid.zarr)", path=None)
    lock_url = sibling(url, ".lock")
    if lock_url in _HELD:
        raise OutputExistsError(f"this process is already writing {public_url(url)} (lock {public_url(lock_url)})",
                                path=None)
    loc = Remote(lock_url)
    me = _take(loc, url, lock_url)
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_S):
            try:
                if not _ours(loc, me):
                    log.error(f"the lock {public_url(lock_url)} was taken over by another writer (this one paused "
                              f"longer than {STALE_AFTER_S:.0f} s?); two writers may now write {public_url(url)}")
                    return
                loc.write_bytes("", json.dumps({**me, "beat": time.time()}).encode())
            except Exception:  # a missed beat: the next one may pass; the lock goes stale only after many
                pass

    thread = threading.Thread(target=beat, name="geogan-lock-heartbeat", daemon=True)
    thread.start()
    _HELD.add(lock_url)
    try:
        yield lock_url
    finally:
        _HELD.discard(lock_url)
        stop.set()
        thread.join()
        try:
            if _ours(loc, me):  # never another writer's
                loc.remove("")
        except Exception:  # unreachable storage: the lock goes stale by itself
            pass


__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "is_lock", "remote_lock", "stale_reason"]
