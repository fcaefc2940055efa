"""Tests for geogan.stores.remotelock: one writer per object-storage output, a lock object created
with a conditional put, taken over when its holder is dead or silent (``memory://`` for the
rules, moto's S3 server and a second real process for a holder that lives and is killed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from geogan.errors import OutputExistsError
from geogan.stores import remotelock
from geogan.stores.remote import Remote
from geogan.stores.remotelock import STALE_AFTER_S, is_lock, remote_lock, stale_reason


@pytest.fixture
def url():
    """An output URL in ``memory://`` whose lock object is removed afterwards."""
    out = f"memory://geogan-lock-{uuid.uuid4().hex[:8]}/out/grid.zarr"
    yield out
    Remote(out.rsplit("/", 2)[0]).remove()


def put_lock(url: str, **held) -> None:
    Remote(url + ".lock").write_bytes("", json.dumps(held).encode())


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_the_lock_object_names_its_holder_and_is_removed_at_the_end(url):
    with remote_lock(url) as lock_url:
        assert lock_url == url + ".lock"
        held = Remote(lock_url).read_json("")
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        assert set(held) == {"pid", "host", "since", "beat", "token"} and abs(held["beat"] - time.time()) < 30
        assert is_lock(held) and stale_reason(held) is None
    assert not Remote(url + ".lock").exists()
    with pytest.raises(ValueError, match="boom"):
        with remote_lock(url):
            raise ValueError("boom")
    assert not Remote(url + ".lock").exists()  # removed on error too


def test_a_live_holder_refuses_a_second_writer_naming_its_pid_and_host(url):
    beat = time.time()
    put_lock(url, pid=1, host="build-7", since="2026-01-01T00:00:00+00:00", beat=beat)  # another host, recent beat
    with pytest.raises(OutputExistsError, match=rf"^another geogan process \(pid 1 on build-7 since "
                                                rf"2026-01-01T00:00:00\+00:00\) is writing {url}; wait for it to "
                                                rf"finish$"):
        with remote_lock(url):
            pytest.fail("the block must not run")
    assert Remote(url + ".lock").read_json("")["beat"] == beat  # left as it was
    Remote(url + ".lock").remove()
    with remote_lock(url):
        with pytest.raises(OutputExistsError, match=rf"this process is already writing {url} "):
            with remote_lock(url):
                pass


def test_a_lock_whose_holder_has_ended_on_this_host_is_taken_over(url):
    pid = dead_pid()
    put_lock(url, pid=pid, host=socket.gethostname(), since="2026-01-01T00:00:00+00:00", beat=time.time())
    assert stale_reason(Remote(url + ".lock").read_json("")) == f"its holder, pid {pid} on this host, has ended"
    with remote_lock(url) as lock_url:
        assert Remote(lock_url).read_json("")["pid"] == os.getpid()
    assert not Remote(url + ".lock").exists()


def test_a_lock_not_refreshed_for_long_is_taken_over(url):
    old = time.time() - STALE_AFTER_S - 5
    put_lock(url, pid=1, host="elsewhere", since="2026-01-01T00:00:00+00:00", beat=old)
    assert stale_reason({"pid": 1, "host": "elsewhere", "beat": old}) == \
        f"its holder has not refreshed it for more than {STALE_AFTER_S:.0f} s"
    assert stale_reason({"pid": 1, "host": "elsewhere", "beat": old}, now=old + STALE_AFTER_S - 1) is None
    with remote_lock(url) as lock_url:
        held = Remote(lock_url).read_json("")
        assert held["pid"] == os.getpid() and held["beat"] > old + STALE_AFTER_S
    assert not Remote(url + ".lock").exists()


def test_an_object_of_the_users_at_the_lock_url_is_kept(url):
    Remote(url + ".lock").write_bytes("", b"my notes about grid.zarr")
    with pytest.raises(OutputExistsError, match=rf"^{url}\.lock exists and is not a geogan lock; geogan locks its "
                                                rf"output there: move it away$"):
        with remote_lock(url):
            pytest.fail("the block must not run")
    assert Remote(url + ".lock").read_bytes("") == b"my notes about grid.zarr"
    put_lock(url, pid=1, host="elsewhere", beat=time.time(), note="not geogan's")  # JSON, but not a lock
    with pytest.raises(OutputExistsError, match="is not a geogan lock"):
        with remote_lock(url):
            pass


def test_the_holder_refreshes_its_heartbeat(url, monkeypatch):
    monkeypatch.setattr(remotelock, "HEARTBEAT_S", 0.05)
    with remote_lock(url) as lock_url:
        first = Remote(lock_url).read_json("")["beat"]
        deadline = time.time() + 10
        while Remote(lock_url).read_json("")["beat"] == first and time.time() < deadline:
            time.sleep(0.05)
        again = Remote(lock_url).read_json("")
        assert again["beat"] > first and again["pid"] == os.getpid()
    assert not Remote(lock_url).exists()  # no beat after the end re-creates it
    time.sleep(0.2)
    assert not Remote(lock_url).exists()


HOLDER = """
import sys, time
from geogan.stores.remotelock import remote_lock
with remote_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow
def test_on_s3_a_live_process_holds_the_lock_and_its_killed_holders_lock_is_taken_over(s3_bucket):
    from tests.helpers.s3 import worker_env

    url = f"{s3_bucket}/out/grid.zarr"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True,
                              env=worker_env({}))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputExistsError, match=rf"another geogan process \(pid {holder.pid} on "
                                                    rf"{socket.gethostname()} since .*\) is writing {url}"):
            with remote_lock(url):
                pytest.fail("the block must not run")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    assert Remote(url + ".lock").read_json("")["pid"] == holder.pid  # kill -9 left its lock behind
    with remote_lock(url) as lock_url:
        assert Remote(lock_url).read_json("")["pid"] == os.getpid()
    assert Remote(s3_bucket).names() == []


def test_reentry_bucket_root_and_a_lock_taken_over_meanwhile(s3_bucket):
    url = f"{s3_bucket}/out/grid.zarr"
    with remote_lock(url):
        with pytest.raises(OutputExistsError, match="this process is already writing"):
            with remote_lock(url):
                pass
        # another writer judged it stale and took it over: ours must not delete theirs at the end
        Remote(url + ".lock").write_bytes("", json.dumps({"pid": 1, "host": "elsewhere", "beat": 1e12,
                                                          "token": "theirs"}).encode())
    assert Remote(url + ".lock").read_json("")["token"] == "theirs"
    with pytest.raises(OutputExistsError, match="is a bucket: name an output inside it"):
        with remote_lock(s3_bucket):
            pass
