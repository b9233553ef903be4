"""Helpers for the process / fault / config-CLI integration tests
(test_process.py, test_faults.py, test_config_cli.py). Stdlib only.

* A small FastCGI encoder/decoder and a raw client (talks to a pool's unix or
  TCP socket without a web server, so hostile byte sequences can be sent).
* start_pfpm(): a harness.Pfpm with one pool and its own php.ini, plus
  helpers to look at the master's children and the log.
* Small polling helpers (never assert timings: poll with generous timeouts).
"""

import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

import harness as H

# ---------------------------------------------------------------------------
# FastCGI records

VERSION_1 = 1
BEGIN_REQUEST = 1
ABORT_REQUEST = 2
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7
DATA = 8
GET_VALUES = 9
GET_VALUES_RESULT = 10
UNKNOWN_TYPE = 11

RESPONDER = 1
AUTHORIZER = 2
FILTER = 3
KEEP_CONN = 1

REQUEST_COMPLETE = 0
CANT_MPX_CONN = 1
OVERLOADED = 2
UNKNOWN_ROLE = 3


def record(rtype, rid, content=b"", padding=0, version=VERSION_1):
    """One raw record (content must be <= 65535 bytes)."""
    if len(content) > 0xFFFF:
        raise ValueError("record content too long")
    return (struct.pack("!BBHHBB", version, rtype, rid, len(content), padding, 0)
            + content + b"\0" * padding)


def nv_len(n):
    if n < 128:
        return bytes([n])
    return struct.pack("!I", n | 0x80000000)


def nv_pair(name, value):
    if isinstance(name, str):
        name = name.encode()
    if isinstance(value, str):
        value = value.encode()
    return nv_len(len(name)) + nv_len(len(value)) + name + value


def begin(rid=1, role=RESPONDER, keep=False):
    return record(BEGIN_REQUEST, rid, struct.pack("!HB5x", role, KEEP_CONN if keep else 0))


def stream(rtype, rid, data, chunk=65535, terminate=True):
    """data split into records of rtype, then (terminate) an empty record."""
    out = []
    for i in range(0, len(data), chunk):
        out.append(record(rtype, rid, data[i:i + chunk]))
    if terminate:
        out.append(record(rtype, rid, b""))
    return b"".join(out)


def params(rid, pairs, terminate=True):
    if isinstance(pairs, dict):
        pairs = list(pairs.items())
    body = b"".join(nv_pair(k, v) for k, v in pairs)
    return stream(PARAMS, rid, body, terminate=terminate)


def parse_records(buf):
    """-> (list of (version, type, id, content), leftover bytes)."""
    out = []
    while len(buf) >= 8:
        ver, rtype, rid, clen, plen, _ = struct.unpack("!BBHHBB", buf[:8])
        if len(buf) < 8 + clen + plen:
            break
        out.append((ver, rtype, rid, buf[8:8 + clen]))
        buf = buf[8 + clen + plen:]
    return out, buf


def parse_nv(data):
    """FastCGI name-value pairs -> list of (name, value) bytes."""
    out, i = [], 0

    def ln():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        v = struct.unpack("!I", data[i:i + 4])[0] & 0x7FFFFFFF
        i += 4
        return v
    while i < len(data):
        n = ln()
        v = ln()
        out.append((data[i:i + n], data[i + n:i + n + v]))
        i += n + v
    return out


def script_params(script, query="", method="GET", body_len=None, ctype=None,
                  extra=None, docroot=None):
    """The params nginx would send for a fixture (or any absolute path)."""
    if not script.startswith("/"):
        script = os.path.join(H.PHP_FIXTURES, script)
    docroot = docroot or os.path.dirname(script)
    name = "/" + os.path.basename(script)
    p = [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_SOFTWARE", "procutil"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_PORT", "80"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"),
        ("REQUEST_METHOD", method),
        ("SCRIPT_FILENAME", script),
        ("SCRIPT_NAME", name),
        ("DOCUMENT_ROOT", docroot),
        ("DOCUMENT_URI", name),
        ("REQUEST_URI", name + ("?" + query if query else "")),
        ("QUERY_STRING", query),
        ("HTTP_HOST", "localhost"),
    ]
    if body_len is not None:
        p.append(("CONTENT_LENGTH", str(body_len)))
        p.append(("CONTENT_TYPE", ctype or "application/x-www-form-urlencoded"))
    for k, v in (extra or {}).items():
        p.append((k, v))
    return p


class Reply:
    """What came back on a FastCGI connection."""

    def __init__(self):
        self.records = []          # (version, type, id, content)
        self.stdout = b""
        self.stderr = b""
        self.end = None            # (app_status, protocol_status) or None
        self.eof = False           # peer closed the connection
        self.reset = False         # ECONNRESET / EPIPE
        self.timeout = False
        self.status = None
        self.headers = []
        self.body = b""

    def parse_http(self):
        head, sep, body = self.stdout.partition(b"\r\n\r\n")
        if not sep:
            return self
        self.body = body
        self.status = 200
        for line in head.split(b"\r\n"):
            k, _, v = line.partition(b":")
            k, v = k.strip().decode("latin-1"), v.strip().decode("latin-1")
            self.headers.append((k, v))
            if k.lower() == "status":
                try:
                    self.status = int(v.split()[0])
                except (ValueError, IndexError):
                    pass
        return self

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise AssertionError("response is not JSON: status=%r end=%r body=%r stderr=%r"
                                 % (self.status, self.end, self.body[:500], self.stderr[:500]))

    def ok(self):
        return self.end is not None and self.end[1] == REQUEST_COMPLETE and self.status == 200

    def __repr__(self):
        return ("<Reply status=%r end=%r eof=%r reset=%r timeout=%r stdout=%d bytes %r stderr=%r>"
                % (self.status, self.end, self.eof, self.reset, self.timeout,
                   len(self.stdout), self.stdout[:200], self.stderr[:200]))


def connect(addr, timeout=30):
    a = H.parse_addr(addr)
    if a[0] == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(a[1])
    else:
        fam = socket.AF_INET6 if ":" in a[1] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((a[1], a[2]))
    return s


def read_reply(sock, rid=None, timeout=30, until_end=True, stop=None):
    """Read records until END_REQUEST (for rid, or any) or EOF/timeout.
    stop(record) -> True ends the read early (e.g. on GET_VALUES_RESULT);
    until_end=False reads until EOF/timeout."""
    rep = Reply()
    buf = b""
    sock.settimeout(timeout)
    end_at = time.monotonic() + timeout
    while True:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            rep.timeout = True
            break
        except (ConnectionResetError, BrokenPipeError):
            rep.reset = True
            break
        if not data:
            rep.eof = True
            break
        buf += data
        recs, buf = parse_records(buf)
        done = False
        for r in recs:
            rep.records.append(r)
            _, rtype, r_id, content = r
            if rtype == STDOUT:
                rep.stdout += content
            elif rtype == STDERR:
                rep.stderr += content
            elif rtype == END_REQUEST and (rid is None or r_id == rid):
                app, proto = struct.unpack("!IB3x", content[:8])
                rep.end = (app, proto)
                done = True
            if stop is not None and stop(r):
                return rep.parse_http()
        if done and until_end:
            break
        if time.monotonic() > end_at:
            rep.timeout = True
            break
    return rep.parse_http()


def send_all(sock, data):
    """sendall that reports instead of raising when the peer went away."""
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def fcgi_request(addr, script, query="", method="GET", body=None, extra=None,
                 keep=False, rid=1, timeout=30, ctype=None, sock=None):
    """One complete responder request. Returns a Reply (parsed as HTTP).
    sock: use (and do not close) an existing connection."""
    own = sock is None
    s = sock or connect(addr, timeout)
    try:
        p = script_params(script, query, method,
                          body_len=len(body) if body is not None else None,
                          ctype=ctype, extra=extra)
        msg = begin(rid, keep=keep) + params(rid, p) + stream(STDIN, rid, body or b"")
        if not send_all(s, msg):
            r = Reply()
            r.reset = True
            return r
        return read_reply(s, rid, timeout)
    finally:
        if own:
            s.close()


def get_json(addr, script="proc_info.php", query="", **kw):
    r = fcgi_request(addr, script, query, **kw)
    assert r.ok(), "request %s?%s failed: %r" % (script, query, r)
    return r.json()


def get_pid(addr, **kw):
    return get_json(addr, "proc_info.php", **kw)["pid"]


def q(**kw):
    return urllib.parse.urlencode(kw)


# ---------------------------------------------------------------------------
# pfpm instances

def php_ini(tmp, name="php", overrides=None):
    return H.write_php_ini(tmp, name, overrides)


class PfpmRun(H.Pfpm):
    """harness.Pfpm plus helpers: rewrite the config in place (for reloads),
    wait for the worker count, read the log from an offset."""

    ready_by_log = False

    def ready_addrs(self):
        # connecting to probe readiness would itself wake an ondemand pool
        return [] if self.ready_by_log else super().ready_addrs()

    def wait_ready(self, timeout=20):
        super().wait_ready(timeout)
        if not self.ready_by_log:
            return
        socks = [H.parse_addr(p["listen"])[1] for p in self.pools
                 if H.parse_addr(p["listen"])[0] == "unix"]
        ok = H.wait_for(lambda: (not self.alive()) or (
            "ready to handle connections" in self.log_text()
            and all(os.path.exists(s) for s in socks)), timeout)
        if not ok or not self.alive():
            raise H.HarnessError("%s did not get ready\n%s" % (self.name, self.diagnostics()))

    def rewrite(self, pools=None, global_opts=None):
        if pools is not None:
            self.pools = pools
        if global_opts is not None:
            self.global_opts.update(global_opts)
        self.argv()          # regenerates self.conf_path with the same layout

    def write_raw_conf(self, text):
        with open(self.conf_path, "w") as f:
            f.write(text)

    def pool(self, name=None):
        for p in self.pools:
            if name is None or p["name"] == name:
                return p
        raise KeyError(name)

    def addr(self, pool=None):
        return self.listen(pool)

    def wait_workers(self, pred, timeout=15, what="worker count"):
        """Poll the master's children until pred(list_of_pids) holds (one
        snapshot per evaluation); assert it did. Returns the list."""
        snap = [[]]

        def check():
            snap[0] = self.workers()
            return pred(snap[0])
        ok = H.wait_for(check, timeout, 0.05)
        assert ok, "%s: master has %d children %s\n%s" % (
            what, len(snap[0]), snap[0], H.tail(self.log_path, 30))
        return snap[0]

    def log_since(self, offset=0):
        return H.read_new(self.log_path, offset)[0]

    def log_size(self):
        return H.file_size(self.log_path)

    def wait_log(self, needle, offset=0, timeout=10):
        ok = H.wait_for(lambda: needle in self.log_since(offset), timeout, 0.05)
        return bool(ok)


def start_pfpm(tmp, name, pool=None, ini=None, global_opts=None, pools=None,
               log_level="notice", timeout=20, wait_children=None, ready_by_log=False):
    """One pfpm master (foreground, -R when root) with pool 'www' on a unix
    socket in tmp unless pool['listen'] says otherwise. ini: php.ini overrides.
    wait_children: wait until the master has that many children."""
    php_ini_path, scan = php_ini(tmp, name, ini)
    if pools is None:
        p = {"name": "www", "listen": tmp.file("%s.sock" % name)}
        p.update(pool or {})
        pools = [p]
    b = PfpmRun(tmp, name, pools, php_ini_path, scan_dir=scan,
                global_opts=global_opts, log_level=log_level)
    b.ready_by_log = ready_by_log
    b.start(timeout)
    if wait_children is not None:
        b.wait_workers(lambda k: len(k) == wait_children, timeout,
                       "expected %d children after start" % wait_children)
    return b


def kill_quiet(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def ppid_of(pid):
    st = H.proc_stat(pid)
    return st[2] if st else None


def proc_comm(pid):
    st = H.proc_stat(pid)
    return st[0] if st else None


def pfpm_processes():
    """pids of every live process whose executable is the pfpm binary under test."""
    want = os.path.realpath(H.pfpm_binary())
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % d)
        except OSError:
            continue
        if exe.endswith(" (deleted)"):
            exe = exe[:-10]
        if exe == want and H.pid_alive(int(d)):
            out.append(int(d))
    return sorted(out)


def run_pfpm(args, timeout=30, env=None):
    """Run the pfpm binary synchronously: (rc, stdout, stderr)."""
    e = H.base_env(env)
    p = subprocess.run([H.pfpm_binary()] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# background load

class Background:
    """Run fn() in a thread; .result / .error after join()."""

    def __init__(self, fn, *args, **kw):
        self.result = None
        self.error = None
        self.t = threading.Thread(target=self._run, args=(fn, args, kw), daemon=True)
        self.t.start()

    def _run(self, fn, args, kw):
        try:
            self.result = fn(*args, **kw)
        except BaseException as e:   # noqa: B902 - reported by join()
            self.error = e

    def join(self, timeout=60):
        self.t.join(timeout)
        if self.t.is_alive():
            raise AssertionError("background request still running after %ss" % timeout)
        return self.result


def wait_file(path, timeout=10):
    return H.wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0, timeout, 0.02)
