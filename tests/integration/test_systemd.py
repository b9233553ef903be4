"""systemd integration (DESIGN.md section 7; src/sd.c): the notify protocol
(READY, STATUS, RELOADING, STOPPING, WATCHDOG), socket activation and the
journal, without systemd itself.

* Notify: the test binds an AF_UNIX datagram socket and passes it as
  NOTIFY_SOCKET; SO_PASSCRED tells which pid sent each message (systemd's
  NotifyAccess=main only accepts the master's).
* Watchdog and socket activation need variables naming the master's pid
  (WATCHDOG_PID, LISTEN_PID): pfpm is started through `sh -c '... exec'`, so
  the shell's $$ is pfpm's pid.
* Socket activation: systemd-socket-activate (package systemd) when
  installed, else the same protocol done here (socket on fd 3, LISTEN_FDS,
  LISTEN_PID, LISTEN_FDNAMES).
* Journal: when root and no journald runs here, the test binds
  /run/systemd/journal/socket itself and decodes the native protocol.

Everything is skipped when the pfpm binary was built without libsystemd
(./configure --without-systemd). Nothing asserts a duration.
"""

import os
import signal
import socket
import stat
import struct
import subprocess
import threading
import time

import harness as H
import procutil as P

TMP = None
SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate"
JOURNAL_DIR = "/run/systemd/journal"
JOURNAL_SOCKET = JOURNAL_DIR + "/socket"
STATUS_INTERVAL = 5          # seconds between STATUS= updates (master.c)


def _built_with_systemd():
    try:
        with open(H.pfpm_binary(), "rb") as f:
            return b"libsystemd.so" in f.read()
    except OSError:
        return False


def setup_module():
    global TMP
    H.require_pfpm("systemd support has no php-fpm equivalent here")
    if not _built_with_systemd():
        raise H.Skip("pfpm was built without systemd (./configure --without-systemd)")
    TMP = H.TestDir("pfpm-sd")


def teardown_module():
    if TMP is not None:
        TMP.cleanup()


# ---------------------------------------------------------------------------
# a fake systemd: NOTIFY_SOCKET and the journal socket

class DatagramListener:
    """Collects datagrams on an AF_UNIX socket in a thread, each as
    (monotonic time, sender pid, payload bytes)."""

    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.2)
        self.items = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        space = socket.CMSG_SPACE(struct.calcsize("3i"))
        while not self.done:
            try:
                data, anc, _, _ = self.sock.recvmsg(1 << 20, space)
            except socket.timeout:
                continue
            except OSError:
                break
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", cdata[:12])[0]
            with self.lock:
                self.items.append((time.monotonic(), pid, data))

    def snapshot(self):
        with self.lock:
            return list(self.items)

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class Notify(DatagramListener):
    """NOTIFY_SOCKET. Messages are dicts of the KEY=VALUE lines, plus
    '_pid' (sender) and '_t' (arrival time)."""

    def messages(self, since=0):
        out = []
        for t, pid, data in self.snapshot()[since:]:
            m = {"_pid": pid, "_t": t}
            for line in data.decode("utf-8", "replace").split("\n"):
                k, sep, v = line.partition("=")
                if sep:
                    m[k] = v
            out.append(m)
        return out

    def count(self):
        return len(self.snapshot())

    def wait(self, pred, timeout=20, since=0, what="message"):
        """The first message from index `since` on that satisfies pred."""
        found = H.wait_for(lambda: next((m for m in self.messages(since) if pred(m)), None),
                           timeout)
        assert found, "no %s from pfpm within %ss; got %s" % (what, timeout,
                                                              self.messages(since))
        return found


def parse_journal(data):
    """The journal's native protocol: KEY=VALUE lines, or KEY\\n<le64 len>VALUE\\n."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl == -1:
            break
        line = data[i:nl]
        if b"=" in line:
            k, _, v = line.partition(b"=")
            i = nl + 1
        else:
            k = line
            n = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            v = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode("utf-8", "replace")
    return fields


class FakeJournal(DatagramListener):
    """/run/systemd/journal/socket, only where no journald runs and we may
    create it (root); removed again by close()."""

    def __init__(self):
        if os.path.exists(JOURNAL_SOCKET):
            raise H.Skip("a journald runs here (%s exists): not replacing it" % JOURNAL_SOCKET)
        if not H.IS_ROOT:
            raise H.Skip("binding %s needs root" % JOURNAL_SOCKET)
        self.made_dir = not os.path.isdir(JOURNAL_DIR)
        os.makedirs(JOURNAL_DIR, exist_ok=True)
        super().__init__(JOURNAL_SOCKET)

    def entries(self):
        return [dict(parse_journal(d), _pid=pid) for _, pid, d in self.snapshot()]

    def close(self):
        super().close()
        if self.made_dir:
            try:
                os.rmdir(JOURNAL_DIR)
            except OSError:
                pass


# ---------------------------------------------------------------------------
# pfpm under a fake systemd

class SdPfpm(P.PfpmRun):
    """pfpm started the way systemd would: environment variables naming
    pfpm's own pid (set by `sh -c '...; exec pfpm'`), an optional launcher
    in front (systemd-socket-activate), optional sockets on fd 3... """

    def __init__(self, *a, pid_vars=(), launcher=None, fds=(), keep_sockets=False,
                 stderr_journal=False, **kw):
        super().__init__(*a, **kw)
        self.pid_vars = list(pid_vars)
        self.launcher = list(launcher or [])
        self.fds = list(fds)               # sockets to pass as fd 3, 4, ...
        self.keep_sockets = keep_sockets   # do not remove activated socket files
        self.stderr_journal = stderr_journal

    def ready_addrs(self):
        # activated sockets answer before pfpm runs: readiness is READY=1
        return [] if (self.keep_sockets or self.fds) else super().ready_addrs()

    def argv(self):
        real = super().argv()
        exports = ["%s=$$" % v for v in self.pid_vars]
        if not exports and not self.launcher:
            return real
        wrapped = real
        if exports:
            wrapped = ["/bin/sh", "-c", 'export %s; exec "$0" "$@"' % " ".join(exports)] + real
        return self.launcher + wrapped

    def start(self, timeout=20):
        if not self.fds and not self.stderr_journal:
            return super().start(timeout) if not self.keep_sockets else \
                H.Daemon.start(self, timeout)
        # Popen with the sockets on fd 3.. (and stderr kept for JOURNAL_STREAM)
        argv = self.argv()
        out = open(self.out_path, "ab")
        fds = [s.fileno() for s in self.fds]

        def child():
            for i, fd in enumerate(fds):
                os.dup2(fd, 3 + i)          # inheritable

        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     cwd=self.tmp.path, start_new_session=True,
                                     pass_fds=tuple(range(3, 3 + len(fds))),
                                     preexec_fn=child if fds else None)
        out.close()
        if self not in H._LIVE:
            H._LIVE.append(self)
        return self


def _php(name="sd"):
    return P.php_ini(TMP, name)


def _make(name, pools=None, pool=None, notify=None, env=None, global_opts=None, **kw):
    ini, scan = _php(name)
    if pools is None:
        p = {"name": "www", "listen": TMP.file("%s.sock" % name)}
        p.update(pool or {})
        pools = [p]
    b = SdPfpm(TMP, name, pools, ini, scan_dir=scan, global_opts=global_opts, **kw)
    if notify is not None:
        b.env["NOTIFY_SOCKET"] = notify.path
    b.env.update(env or {})
    return b


def _notify(name):
    return Notify(TMP.file("%s.notify" % name))


def _stop(b, *closers):
    try:
        b.stop()
    finally:
        for c in closers:
            if c is not None:
                c.close()


def _ready(n, b, what="READY=1", since=0, timeout=30):
    m = n.wait(lambda m: m.get("READY") == "1", timeout, since, what)
    assert m["_pid"] == b.pid, "READY=1 sent by pid %s, master is %s" % (m["_pid"], b.pid)
    assert m.get("MAINPID") == str(b.pid), "MAINPID=%r, master is %d" % (m.get("MAINPID"), b.pid)
    return m


def _inode(path):
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode), "%s is not a socket" % path
    return (st.st_dev, st.st_ino)


# ---------------------------------------------------------------------------
# the notify protocol

WORKER_SCRIPT = r"""<?php
// boots slowly, then says so in a file: READY must not come before
usleep(1500000);
file_put_contents(%r . '/booted.' . getmypid(), (string)microtime(true));
while (pfpm_handle_request(function () {
    header('Content-Type: text/plain');
    echo "booted ", getmypid(), "\n";
})) {
}
"""


def test_ready_after_workers_booted():
    """Type=notify: READY=1 only once every pool serves; for a worker-mode
    pool that is when its processes have booted the application."""
    marks = TMP.sub("boot-marks")
    script = TMP.write("slow_boot.php", WORKER_SCRIPT.replace("%r", repr(marks)))
    n = _notify("ready")
    b = _make("ready", notify=n, pools=[
        {"name": "classic", "listen": TMP.file("ready-classic.sock")},
        {"name": "app", "listen": TMP.file("ready-app.sock"), "pm": "static",
         "pm.max_children": 2, "worker": script},
    ])
    try:
        b.start()
        m = _ready(n, b)
        booted = sorted(os.listdir(marks))
        kids = b.workers()
        assert len(booted) == 2, "READY=1 arrived with %d of 2 worker-mode processes booted (%s); " \
            "children %s\n%s" % (len(booted), booted, kids, H.tail(b.log_path))
        assert len(kids) == 4, "READY=1 with children %s (want 2 classic + 2 worker)" % kids
        # and READY=1 carries the first STATUS
        assert m.get("STATUS", "").startswith("Processes active: "), m
        r = P.fcgi_request(b.addr("app"), "index.php")
        assert r.ok() and r.body.startswith(b"booted "), r
        assert len(n.messages()) == len([x for x in n.messages() if x["_pid"] == b.pid]), \
            "a message from another pid than the master: %s" % n.messages()
    finally:
        _stop(b, n)


def test_status_lines():
    """STATUS= with php-fpm's figures, every few seconds; no WATCHDOG=1
    without WATCHDOG_USEC."""
    n = _notify("status")
    b = _make("status", notify=n, pool={"pm": "static", "pm.max_children": 3})
    try:
        b.start()
        ready = _ready(n, b)
        for _ in range(12):
            assert P.get_pid(b.addr())
        since = len(n.messages())
        m = n.wait(lambda m: "STATUS" in m and "READY" not in m, STATUS_INTERVAL * 3, since,
                   "STATUS= update")
        st = m["STATUS"]
        fields = dict(part.strip().split(": ", 1) for part in st.split(","))
        assert set(fields) == {"Processes active", "idle", "Requests", "slow", "Traffic"}, st
        assert int(fields["Processes active"]) + int(fields["idle"]) == 3, st
        assert int(fields["Requests"]) >= 12, st
        assert fields["Traffic"].endswith("req/sec") and float(fields["Traffic"][:-7]) > 0, st
        # updated again later: a second STATUS, traffic back to 0
        m2 = n.wait(lambda x: "STATUS" in x and x["_t"] > m["_t"], STATUS_INTERVAL * 3,
                    since, "second STATUS= update")
        assert m2["STATUS"].endswith("Traffic: 0req/sec"), m2
        gap = m2["_t"] - m["_t"]
        assert gap > 1, "STATUS= updates %.2fs apart: too often" % gap
        assert m["_t"] > ready["_t"]
        assert not [x for x in n.messages() if "WATCHDOG" in x], "WATCHDOG=1 without WATCHDOG_USEC"
    finally:
        _stop(b, n)


def test_reload_reloading_then_ready():
    """USR2: RELOADING=1 with MONOTONIC_USEC before the re-exec, then READY=1
    from the re-executed master (same pid) once the new generation serves."""
    n = _notify("reload")
    b = _make("reload", notify=n, pool={"pm": "static", "pm.max_children": 2})
    try:
        b.start()
        _ready(n, b)
        old = set(b.wait_workers(lambda k: len(k) == 2))
        since = len(n.messages())
        before = time.clock_gettime(time.CLOCK_MONOTONIC)
        b.send_signal(signal.SIGUSR2)
        r = n.wait(lambda m: m.get("RELOADING") == "1", 20, since, "RELOADING=1")
        after = time.clock_gettime(time.CLOCK_MONOTONIC)
        assert r["_pid"] == b.pid, r
        usec = int(r.get("MONOTONIC_USEC", "0"))
        assert before * 1e6 <= usec <= after * 1e6, \
            "MONOTONIC_USEC=%d not between %d and %d" % (usec, before * 1e6, after * 1e6)
        idx = n.messages().index(r)
        m = _ready(n, b, "READY=1 after the reload", since=idx + 1)
        assert m["_t"] >= r["_t"]
        new = b.wait_workers(lambda k: len(k) == 2 and not (set(k) & old), 20,
                             "the new generation replaces the old")
        assert P.get_pid(b.addr()) in new
        assert b.alive() and b.pid == r["_pid"]
    finally:
        _stop(b, n)


def test_reload_aborted_sends_ready():
    """A reload refused (invalid configuration) ends the RELOADING state too."""
    n = _notify("abort")
    b = _make("abort", notify=n)
    try:
        b.start()
        _ready(n, b)
        with open(b.conf_path, "a") as f:
            f.write("\nthis is not valid {\n")
        since = len(n.messages())
        b.send_signal(signal.SIGUSR2)
        r = n.wait(lambda m: m.get("RELOADING") == "1", 20, since, "RELOADING=1")
        m = n.wait(lambda m: m.get("READY") == "1", 20, n.messages().index(r) + 1,
                   "READY=1 after the refused reload")
        assert "aborted" in m.get("STATUS", ""), m
        assert P.get_pid(b.addr())
    finally:
        _stop(b, n)


def test_stopping_on_term_and_quit():
    for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
        name = "stop-%s" % sig.name.lower()
        n = _notify(name)
        b = _make(name, notify=n)
        try:
            b.start()
            _ready(n, b)
            since = len(n.messages())
            b.send_signal(sig)
            m = n.wait(lambda m: m.get("STOPPING") == "1", 20, since, "STOPPING=1 on %s" % sig.name)
            assert m["_pid"] == b.pid
            assert b.proc.wait(20) == 0, "exit status %r after %s" % (b.proc.returncode, sig.name)
        finally:
            _stop(b, n)


def test_watchdog():
    """WATCHDOG=1 at half of WATCHDOG_USEC, when WATCHDOG_PID is the master."""
    n = _notify("watchdog")
    b = _make("watchdog", notify=n, pid_vars=["WATCHDOG_PID"],
              env={"WATCHDOG_USEC": "1000000"})
    try:
        b.start()
        _ready(n, b)
        since = len(n.messages())
        def pings_now():
            return [m for m in n.messages(since) if m.get("WATCHDOG") == "1"]
        H.wait_for(lambda: len(pings_now()) >= 4, 10)
        pings = pings_now()
        assert len(pings) >= 4, "fewer than 4 WATCHDOG=1 in 10s: %s" % n.messages(since)
        assert all(m["_pid"] == b.pid for m in pings), pings
        gaps = [b_["_t"] - a["_t"] for a, b_ in zip(pings, pings[1:])]
        assert all(g > 0.2 for g in gaps), "WATCHDOG=1 much more often than every 0.5s: %s" % gaps
        # a reload keeps pinging (same pid: WATCHDOG_PID still matches)
        b.send_signal(signal.SIGUSR2)
        since = len(n.messages())
        _ready(n, b, "READY=1 after the reload", since=since)
        since = len(n.messages())
        n.wait(lambda m: m.get("WATCHDOG") == "1", 5, since, "WATCHDOG=1 after the reload")
    finally:
        _stop(b, n)


def test_watchdog_other_pid_ignored():
    """WATCHDOG_PID naming another process: the watchdog is not ours."""
    n = _notify("wd-other")
    b = _make("wd-other", notify=n, env={"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    try:
        b.start()
        _ready(n, b)
        time.sleep(1.5)
        assert not [m for m in n.messages() if "WATCHDOG" in m], n.messages()
    finally:
        _stop(b, n)


def test_no_notify_socket_is_noop():
    """Without NOTIFY_SOCKET (or with a socket nobody reads) pfpm just runs."""
    b = _make("nonotify", env={"NOTIFY_SOCKET": TMP.file("nobody-listens")})
    try:
        b.start()
        assert P.get_pid(b.addr())
        b.send_signal(signal.SIGUSR2)
        assert b.wait_log("new generation ready", 0, 20), H.tail(b.log_path)
        assert P.get_pid(b.addr())
    finally:
        b.stop()
    assert b.proc.returncode == 0, b.exit_description()


# ---------------------------------------------------------------------------
# socket activation

def _sockets_without_cloexec(pid):
    """fds >= 3 of pid that are sockets and would survive an exec."""
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
            flags = int(info["flags"].strip(), 8)
        except OSError:
            continue
        if int(fd) > 2 and target.startswith("socket:") and not flags & os.O_CLOEXEC:
            out.append(int(fd))
    return out


def _check_activated(b, n, sock_path, inode):
    """Serves on the passed socket, never replaced it, also across a reload."""
    _ready(n, b)
    assert "socket activation: 1 socket from systemd" in b.log_text(), H.tail(b.log_path)
    r = P.fcgi_request(sock_path, "proc_info.php")
    assert r.ok(), r
    assert _inode(sock_path) == inode, "pfpm replaced the activated socket file"
    old = set(b.workers())
    since = len(n.messages())
    b.send_signal(signal.SIGUSR2)
    _ready(n, b, "READY=1 after the reload", since=since)
    b.wait_workers(lambda k: len(k) >= 1 and not (set(k) & old), 20, "new generation")
    for _ in range(4):
        assert P.get_pid(sock_path) not in old
    assert _inode(sock_path) == inode, "the reload replaced the activated socket file"
    leaky = _sockets_without_cloexec(b.pid)
    assert not leaky, "master sockets without FD_CLOEXEC after the reload: fds %s" % leaky
    log = b.log_text()
    assert "cannot listen" not in log and "matches no pool" not in log, H.tail(b.log_path)


def test_socket_activation_by_name():
    """LISTEN_FDS + FileDescriptorName = pool name; the socket file is
    systemd's: neither replaced nor removed by pfpm."""
    name = "act-name"
    sock_path = TMP.file("%s.sock" % name)
    n = _notify(name)
    # the pool's own listen address differs: the name is what matches
    pool = {"name": "www", "listen": TMP.file("%s-unused.sock" % name), "pm": "static",
            "pm.max_children": 2}
    env_names = ["NOTIFY_SOCKET", "PHP_INI_SCAN_DIR", "PATH", "LANG", "PFPM_HARNESS_LEAK"]
    extra = [k for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS") if k in os.environ]
    listener = None
    if os.access(SOCKET_ACTIVATE, os.X_OK):
        launcher = [SOCKET_ACTIVATE, "-l", sock_path, "--fdname=www"]
        for k in env_names + extra:
            launcher += ["-E", k]
        b = _make(name, pools=[pool], notify=n, launcher=launcher, keep_sockets=True)
    else:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock_path)
        listener.listen(64)
        b = _make(name, pools=[pool], notify=n, pid_vars=["LISTEN_PID"], fds=[listener],
                  env={"LISTEN_FDS": "1", "LISTEN_FDNAMES": "www"})
    b.ready_by_log = False
    try:
        b.start()
        # systemd-socket-activate starts pfpm on the first connection
        assert H.wait_for(lambda: os.path.exists(sock_path), 10), "no socket at %s" % sock_path
        os.chmod(sock_path, 0o666)
        inode = _inode(sock_path)
        if listener is None:
            assert H.can_connect(sock_path)
        _check_activated(b, n, sock_path, inode)
        assert not os.path.exists(pool["listen"]), "pfpm opened its own socket too"
        b.stop()
        assert os.path.exists(sock_path) and _inode(sock_path) == inode, \
            "pfpm removed systemd's socket file at exit"
    finally:
        _stop(b, n, listener)
        if os.path.exists(sock_path):
            os.unlink(sock_path)


def test_socket_activation_by_address():
    """No LISTEN_FDNAMES: the passed socket goes to the pool whose listen
    address it is bound to; a second pool opens its own socket."""
    name = "act-addr"
    sock_path = TMP.file("%s.sock" % name)
    own_path = TMP.file("%s-own.sock" % name)
    n = _notify(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(64)
    inode = _inode(sock_path)
    pools = [{"name": "own", "listen": own_path},
             {"name": "passed", "listen": sock_path}]
    b = _make(name, pools=pools, notify=n, pid_vars=["LISTEN_PID"], fds=[listener],
              env={"LISTEN_FDS": "1"})
    try:
        b.start()
        _check_activated(b, n, sock_path, inode)
        assert P.get_pid(own_path)
        b.stop()
        assert b.proc.returncode == 0, b.exit_description()
        assert os.path.exists(sock_path) and _inode(sock_path) == inode, \
            "pfpm removed the activated socket's file at exit"
        assert not os.path.exists(own_path), "pfpm left its own socket behind"
    finally:
        _stop(b, n, listener)
        if os.path.exists(sock_path):
            os.unlink(sock_path)


def test_socket_activation_wrong_pid_ignored():
    """LISTEN_PID of another process: the sockets are not for us."""
    name = "act-other"
    sock_path = TMP.file("%s.sock" % name)
    n = _notify(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(TMP.file("%s-systemd.sock" % name))
    listener.listen(8)
    b = _make(name, pools=[{"name": "www", "listen": sock_path}], notify=n, fds=[listener],
              env={"LISTEN_FDS": "1", "LISTEN_PID": "1", "LISTEN_FDNAMES": "www"})
    try:
        b.start()
        _ready(n, b)
        assert "socket activation" not in b.log_text(), H.tail(b.log_path)
        assert P.get_pid(sock_path)
    finally:
        _stop(b, n, listener)


# ---------------------------------------------------------------------------
# the journal

def _journal_run(name, journal, global_opts=None, stderr_journal=False):
    n = _notify(name)
    b = _make(name, notify=n, pool={"pm": "static", "pm.max_children": 1},
              global_opts=global_opts, stderr_journal=stderr_journal)
    if stderr_journal:
        # what systemd does for StandardError=journal: stderr is a stream
        # it names in JOURNAL_STREAM (here: the output file of the harness)
        st = os.stat(b.out_path) if os.path.exists(b.out_path) else None
        if st is None:
            open(b.out_path, "ab").close()
            st = os.stat(b.out_path)
        b.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    try:
        b.start()
        _ready(n, b)
        worker = P.get_pid(b.addr(), query=P.q(log="hello journal from php"))
        H.wait_for(lambda: any("hello journal" in e.get("MESSAGE", "")
                               for e in journal.entries()), 10)
        P.kill_quiet(worker, signal.SIGKILL)
        H.wait_for(lambda: any("exited on signal 9" in e.get("MESSAGE", "")
                               for e in journal.entries()), 10)
        b.stop()
    finally:
        _stop(b, n)
    return b, worker


def _check_journal(journal, b, worker):
    entries = journal.entries()
    msgs = [e.get("MESSAGE", "") for e in entries]
    ready = [e for e in entries if "ready to handle connections" in e.get("MESSAGE", "")]
    assert ready, "no start message in the journal: %s" % msgs
    e = ready[0]
    assert e["PRIORITY"] == "5" and e["SYSLOG_IDENTIFIER"] == "pfpm", e
    assert e["PFPM_PID"] == str(b.pid) and "PFPM_POOL" not in e and e["_pid"] == b.pid, e
    # a worker's own entry: sent by the worker, its pool and pid as fields
    php = [x for x in entries if "hello journal from php" in x.get("MESSAGE", "")]
    assert php, "the worker's PHP message is not in the journal: %s" % msgs
    x = php[0]
    assert x["_pid"] == worker and x["PFPM_PID"] == str(worker) and x["PFPM_POOL"] == "www", x
    assert x["MESSAGE"].startswith("[pool www] child %d: PHP message: " % worker), x
    # the master's message about that worker names it too
    died = [x for x in entries if "child %d exited on signal 9" % worker in x.get("MESSAGE", "")]
    assert died, "no exit message: %s" % msgs
    d = died[0]
    assert d["_pid"] == b.pid and d["PFPM_POOL"] == "www" and d["PFPM_PID"] == str(worker), d
    assert d["PRIORITY"] == "4", d
    # nothing in the regular log file (there is none) nor on stderr
    out = open(b.out_path, "rb").read().decode("utf-8", "replace")
    assert "hello journal" not in out and "ready to handle" not in out, out[-2000:]


def test_journal_error_log():
    """error_log = journal: structured entries (PRIORITY, MESSAGE, PFPM_POOL,
    PFPM_PID), workers sending their own."""
    journal = FakeJournal()
    try:
        b, worker = _journal_run("journal", journal, global_opts={"error_log": "journal"})
        _check_journal(journal, b, worker)
    finally:
        journal.close()


def test_journal_default_with_journal_stream():
    """No error_log, stderr is the journal's stream (JOURNAL_STREAM): the
    journal, natively."""
    journal = FakeJournal()
    try:
        b, worker = _journal_run("jstream", journal, global_opts={"error_log": ""},
                                 stderr_journal=True)
        _check_journal(journal, b, worker)
    finally:
        journal.close()


def test_journal_away_falls_back_to_stderr():
    """error_log = journal with no journal to talk to: lines on stderr."""
    if os.path.exists(JOURNAL_SOCKET):
        raise H.Skip("a journald runs here")
    n = _notify("noj")
    b = _make("noj", notify=n, global_opts={"error_log": "journal"})
    try:
        b.start()
        _ready(n, b)
        out = lambda: open(b.out_path, "rb").read().decode("utf-8", "replace")  # noqa: E731
        assert H.wait_for(lambda: "ready to handle connections" in out(), 10), out()
    finally:
        _stop(b, n)
