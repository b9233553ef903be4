"""Worker mode (DESIGN.md sections 2, 3, 8): a pool with `worker = script`
boots the script once per process and serves every request through
pfpm_handle_request().

One pfpm master (several worker-mode pools, one process each) and one nginx
(Laravel-style: try_files to a single front controller) serve most tests;
the reload and boot-failure tests have their own masters.  Requests go through nginx or
straight to a pool's unix socket with the small FastCGI client below.
Fixtures: tests/fixtures/worker/ (app.php routes on the request path) and
contrib/worker-examples/.  Nothing asserts a duration: state changes are
awaited by polling with generous timeouts.
"""

import collections
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from http.client import HTTPConnection

import harness as H

FIX = os.path.join(H.FIXTURES, "worker")
APP = os.path.join(FIX, "app.php")
WITH_HANDLER = os.path.join(FIX, "with_handler.php")
EXAMPLES = os.path.join(H.REPO, "contrib", "worker-examples")

TMP = None
INI = SCAN = None
UPLOAD_DIR = SESSION_DIR = None
MAIN = None          # the shared pfpm master
NGINX = None
BOOT_LOG = None
MARKERS = None
BOOTFAIL_LOG = None  # log text of the boot-failure master, for a second look


# ---------------------------------------------------------------------------
# a raw FastCGI client (keeps its connection when asked)

FCGI_BEGIN, FCGI_END, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT, FCGI_STDERR = 1, 3, 4, 5, 6, 7


def _rec(rtype, content=b"", rid=1):
    return struct.pack("!BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def _nv(k, v):
    k = k.encode() if isinstance(k, str) else k
    v = v.encode() if isinstance(v, str) else v

    def ln(n):
        return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
    return ln(len(k)) + ln(len(v)) + k + v


def _stream(rtype, data):
    out = [_rec(rtype, data[i:i + 65535]) for i in range(0, len(data), 65535)]
    out.append(_rec(rtype))
    return b"".join(out)


class Reply(H.HeaderAccess):
    def __init__(self, stdout, stderr):
        self.stdout, self.stderr = stdout, stderr
        head, _, self.body = stdout.partition(b"\r\n\r\n")
        self.status = 200
        self.headers = []
        for line in head.split(b"\r\n"):
            k, _, v = line.decode("latin-1").partition(":")
            k, v = k.strip(), v.strip()
            if k.lower() == "status":
                self.status = int(v.split()[0])
            elif k:
                self.headers.append((k, v))

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise AssertionError("not JSON: status %s body %r stderr %r"
                                 % (self.status, self.body[:400], self.stderr[:400]))

    def __repr__(self):
        return "<Reply %s %r stderr=%r>" % (self.status, self.body[:200], self.stderr[:200])


class Fcgi:
    """FastCGI to a unix socket. keep=True: one connection for every request
    (FCGI_KEEP_CONN), as nginx with fastcgi_keep_conn does."""

    def __init__(self, path, keep=False, timeout=30):
        self.path, self.keep, self.timeout = path, keep, timeout
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock, self.buf = s, b""

    def _fill(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(262144)
            if not d:
                raise EOFError("connection closed by pfpm after %d bytes" % len(self.buf))
            self.buf += d

    def request(self, uri, method="GET", body=b"", ctype=None, headers=()):
        path, _, qs = uri.partition("?")
        p = [("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_SOFTWARE", "test_worker"),
             ("SERVER_PROTOCOL", "HTTP/1.1"), ("REQUEST_METHOD", method),
             ("REQUEST_URI", uri), ("QUERY_STRING", qs), ("DOCUMENT_URI", "/index.php"),
             ("SCRIPT_NAME", "/index.php"), ("SCRIPT_FILENAME", "/srv/public/index.php"),
             ("DOCUMENT_ROOT", "/srv/public"), ("SERVER_NAME", "localhost"),
             ("SERVER_ADDR", "127.0.0.1"), ("SERVER_PORT", "80"),
             ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "40000"),
             ("HTTP_HOST", "localhost"), ("CONTENT_LENGTH", str(len(body)))]
        if ctype:
            p.append(("CONTENT_TYPE", ctype))
        for k, v in headers:
            p.append(("HTTP_" + k.upper().replace("-", "_"), v))
        msg = (_rec(FCGI_BEGIN, struct.pack("!HB5x", 1, 1 if self.keep else 0))
               + _stream(FCGI_PARAMS, b"".join(_nv(k, v) for k, v in p))
               + _stream(FCGI_STDIN, body))
        if self.sock is None:
            self._connect()
        try:
            self.sock.sendall(msg)
            out, err = [], []
            while True:
                self._fill(8)
                _, rtype, _, clen, plen, _ = struct.unpack("!BBHHBB", self.buf[:8])
                self._fill(8 + clen + plen)
                content = self.buf[8:8 + clen]
                self.buf = self.buf[8 + clen + plen:]
                if rtype == FCGI_STDOUT:
                    out.append(content)
                elif rtype == FCGI_STDERR:
                    err.append(content)
                elif rtype == FCGI_END:
                    break
        except Exception:
            self.close()
            raise
        if not self.keep:
            self.close()
        return Reply(b"".join(out), b"".join(err))


def fcgi(sock, uri, **kw):
    return Fcgi(sock).request(uri, **kw)


# ---------------------------------------------------------------------------
# nginx with a Laravel-style front controller


class FrontNginx(H.Nginx):
    """Every server: static files from `root`, everything else to
    /index.php (try_files $uri $uri/ /index.php?$query_string), as Laravel's
    documented nginx configuration does.  keepalive=True: an upstream with
    cached connections and fastcgi_keep_conn on."""

    def conf_text(self):
        out = self.prelude()
        for s in self.servers:
            b = H.parse_addr(s["backend"])
            target = "unix:%s" % b[1]
            keep = []
            if s.get("keepalive"):
                target = "up_%s" % re.sub(r"\W", "_", s["name"])
                out.append("    upstream %s { server unix:%s; keepalive 8; }" % (target, b[1]))
                keep = ["            fastcgi_keep_conn on;"]
            out += [
                "    server {",
                "        listen 127.0.0.1:%d;" % s["port"],
                "        server_name localhost;",
                "        root %s;" % s["root"],
                "        index index.php;",
                "        error_log %s notice;" % s["error_log"],
                "        client_max_body_size 50m;",
                "        location / { try_files $uri $uri/ /index.php?$query_string; }",
                "        location ~ \\.php$ {",
                "            fastcgi_split_path_info ^(.+\\.php)(/.+)$;",
                "            include %s;" % H.NGINX_FASTCGI_PARAMS,
                "            fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;",
                "            fastcgi_param PATH_INFO $fastcgi_path_info;",
                "            fastcgi_pass %s;" % target,
                "            fastcgi_read_timeout %ds;" % s.get("read_timeout", 30),
            ] + keep + [
                "        }",
                "    }",
            ]
        out.append("}")
        return "\n".join(out) + "\n"


def public_root(name):
    """A document root with only the front controller in it (worker mode never
    executes it: the booted worker script answers)."""
    root = TMP.sub("public-%s" % name)
    with open(os.path.join(root, "index.php"), "w") as f:
        f.write("<?php\n// front controller: pool in worker mode, never executed\n")
    with open(os.path.join(root, "robots.txt"), "w") as f:
        f.write("static file served by nginx\n")
    return root


# ---------------------------------------------------------------------------
# the shared master


def sock(pool):
    return TMP.file("%s.sock" % pool)


def worker_pool(name, script, **opts):
    p = collections.OrderedDict([
        ("name", name), ("listen", sock(name)), ("pm", "static"),
        ("pm.max_children", 1), ("pm.max_requests", 0), ("worker", script),
        ("request_terminate_timeout", 0), ("catch_workers_output", True),
        ("env", ["WORKER_BOOT_LOG=%s" % BOOT_LOG, "WORKER_MARKER_DIR=%s" % MARKERS]),
        ("php_value", {"max_execution_time": "2"}),
    ])
    p.update(opts)
    return p


NGINX_SERVERS = ("app", "recycle", "memory", "plain", "symfony", "abort")


def setup_module():
    global TMP, INI, SCAN, UPLOAD_DIR, SESSION_DIR, MAIN, NGINX, BOOT_LOG, MARKERS
    H.require_pfpm("worker mode has no php-fpm equivalent")
    if not os.access(H.NGINX_BIN, os.X_OK):
        raise H.Skip("nginx not found at %s" % H.NGINX_BIN)
    TMP = H.TestDir("pfpm-worker")
    INI, SCAN = H.write_php_ini(TMP, "worker")
    UPLOAD_DIR = TMP.file("php-worker", "upload_tmp")
    SESSION_DIR = TMP.file("php-worker", "sessions")
    BOOT_LOG = TMP.file("boots.log")
    MARKERS = TMP.sub("markers", mode=0o777)
    pools = [
        worker_pool("app", APP),
        worker_pool("handler", WITH_HANDLER),
        worker_pool("slow", APP, php_value={"max_execution_time": "1"}),
        worker_pool("recycle", APP, **{"pm.max_requests": 5}),
        worker_pool("memory", APP, **{"worker.max_memory": "32M"}),
        worker_pool("soak", APP),
        worker_pool("fatal", APP),
        worker_pool("slowterm", APP, slowlog=TMP.file("slowterm.slow.log"),
                    request_slowlog_timeout="300ms", request_terminate_timeout="2s",
                    php_value={"max_execution_time": "0"}),
        worker_pool("abort", APP),
        worker_pool("plain", os.path.join(EXAMPLES, "plain.php")),
        worker_pool("symfony", os.path.join(EXAMPLES, "symfony.php")),
    ]
    MAIN = H.Pfpm(TMP, "pfpm", pools, INI, SCAN)
    MAIN.start()
    servers = [{"name": n, "backend": sock(n), "root": public_root(n)} for n in NGINX_SERVERS]
    servers.append({"name": "recycle-ka", "backend": sock("recycle"),
                    "root": public_root("recycle-ka"), "keepalive": True})
    NGINX = FrontNginx(TMP, servers)
    NGINX.start()


def teardown_module():
    for d in (NGINX, MAIN):
        if d is not None:
            d.stop()
    if TMP is not None:
        TMP.cleanup()


def http(server, path, **kw):
    return H.http_request(NGINX.server(server)["port"], path=path, **kw)


def http_json(server, path, **kw):
    r = http(server, path, **kw)
    assert r.status == 200, "%s %s: %s %r\n%s" % (server, path, r.status, r.body[:300], diag())
    return json.loads(r.text())


def diag(backend=None):
    backend = backend or MAIN
    return "--- pfpm log ---\n%s" % H.tail(backend.log_path, 30)


def info(pool, timeout=30):
    r = Fcgi(sock(pool), timeout=timeout).request("/info")
    assert r.status == 200, "%s /info: %r\n%s" % (pool, r, diag())
    return r.json()


def log_since(backend, offset):
    return H.read_new(backend.log_path, offset)[0]


def wait_log(backend, offset, pattern, timeout=20):
    rx = re.compile(pattern)
    return H.wait_for(lambda: rx.search(log_since(backend, offset)), timeout)


def new_pid_serves(pool, old_pid, timeout=30):
    """The next request on `pool` is answered by a process other than old_pid."""
    i = info(pool, timeout=timeout)
    assert i["pid"] != old_pid, ("pool %s: still pid %d after a fatal error\n%s"
                                 % (pool, old_pid, diag()))
    assert H.wait_for(lambda: not H.pid_alive(old_pid), 10), \
        "old worker %d still alive" % old_pid
    assert i["boots"] == 1 and i["served"] == 1, i
    return i


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def upload_files():
    return sorted(os.listdir(UPLOAD_DIR))


# ---------------------------------------------------------------------------
# boot once


def test_boot_once_through_nginx():
    first = http_json("app", "/info")
    assert first["boots"] == 1, first
    assert first["info"]["mode"] == "worker", first["info"]
    assert first["info"]["role"] == "request", first["info"]
    assert first["info"]["pool"] == "app", first["info"]
    assert first["info"]["pid"] == first["pid"], first["info"]
    pid, served = first["pid"], first["served"]
    for i in range(1, 50):
        d = http_json("app", "/info?n=%d" % i)
        assert d["pid"] == pid, "request %d answered by pid %d, not %d" % (i, d["pid"], pid)
        assert d["boots"] == 1, "boot code ran again: %r" % d
        assert d["served"] == served + i, "per-request counter: %r (want %d)" % (d, served + i)
        assert d["info"]["requests"] == d["served"] - 1, d["info"]
        assert d["boot_time"] == first["boot_time"], d
    with open(BOOT_LOG) as f:
        boots = [int(x) for x in f.read().split()]
    assert boots.count(pid) == 1, "boot log: pid %d booted %d times" % (pid, boots.count(pid))
    # a static file never reaches the worker (Laravel-style try_files)
    r = http("app", "/robots.txt")
    assert r.status == 200 and b"static file" in r.body, r
    assert http_json("app", "/info")["served"] == served + 50


# ---------------------------------------------------------------------------
# per-request reset


def test_superglobals_are_per_request():
    ctype, body = H.multipart(fields=[("p1", "post-one")],
                              files=[("up1", "one.txt", "text/plain", b"first upload")])
    r1 = http("app", "/dump?g1=get-one&shared=1", method="POST", body=body,
              headers=[("Content-Type", ctype), ("Cookie", "c1=cookie-one"),
                       ("X-Test", "one")])
    assert r1.status == 200, r1
    d1 = json.loads(r1.text())
    assert d1["get"] == {"g1": "get-one", "shared": "1"}, d1["get"]
    assert d1["post"] == {"p1": "post-one"}, d1["post"]
    assert d1["cookie"] == {"c1": "cookie-one"}, d1["cookie"]
    assert list(d1["files"]) == ["up1"], d1["files"]
    assert d1["uri"] == "/dump?g1=get-one&shared=1", d1["uri"]
    assert d1["x_test"] == "one"
    r2 = http("app", "/dump?g2=two", headers=[("Cookie", "c2=cookie-two")])
    d2 = json.loads(r2.text())
    assert d2["pid"] == d1["pid"], "not the same worker"
    assert d2["get"] == {"g2": "two"}, "$_GET leaked: %r" % d2["get"]
    assert d2["post"] == [], "$_POST leaked: %r" % d2["post"]
    assert d2["cookie"] == {"c2": "cookie-two"}, "$_COOKIE leaked: %r" % d2["cookie"]
    assert d2["files"] == [], "$_FILES leaked: %r" % d2["files"]
    assert d2["request"] == {"g2": "two"}, "$_REQUEST: %r" % d2["request"]
    assert d2["uri"] == "/dump?g2=two", d2["uri"]
    assert d2["method"] == "GET" and d2["query"] == "g2=two", d2
    assert d2["x_test"] is None, "$_SERVER leaked HTTP_X_TEST"
    assert d2["getenv_uri"] == "/dump?g2=two", "getenv(): %r" % d2["getenv_uri"]


def test_headers_status_ini_errors_reset():
    base = http_json("app", "/dump")
    assert base["precision"] == "14", base
    assert base["socket_timeout"] == "17", "ini value set at boot is lost: %r" % base
    r1 = http("app", "/set-state")
    assert r1.status == 418, r1
    assert r1.header("X-Leak") == "request-one", r1.headers
    assert any(c.startswith("leaked=yes") for c in r1.header_all("Set-Cookie")), r1.headers
    assert r1.text() == "state set; precision=5", r1.text()
    r2 = http("app", "/dump")
    assert r2.status == 200, "status of request 1 leaked: %r" % r2
    assert r2.header("X-Leak") is None, "header of request 1 leaked: %r" % r2.headers
    assert r2.header_all("Set-Cookie") == [], "cookie of request 1 leaked: %r" % r2.headers
    d = json.loads(r2.text())
    assert d["pid"] == base["pid"]
    assert not any("X-Leak" in h for h in d["headers_list"]), d["headers_list"]
    assert d["code_at_start"] == 200, d
    assert d["precision"] == "14", "ini_set('precision') survived the request: %r" % d
    assert d["socket_timeout"] == "17", "boot ini value not restored: %r" % d
    assert d["last_error"] is None, "error_get_last() leaked: %r" % d["last_error"]


def test_process_state_reset_and_request_shutdown_functions():
    base = fcgi(sock("app"), "/process-state").json()
    assert base["tz"] == "UTC" and base["env"] is False, base
    assert not base["error_handler"] and not base["exception_handler"], base
    r = fcgi(sock("app"), "/change-process-state")
    # a shutdown function registered by a request runs at the end of it
    assert r.text() == "changed;shutdown-of-this-request", r.text()
    d = fcgi(sock("app"), "/process-state").json()
    assert d == base, "process state of the previous request leaked: %r vs %r" % (d, base)
    pid = info("app")["pid"]
    marks = os.path.join(MARKERS, "req-shutdown-%d" % pid)
    fcgi(sock("app"), "/process-state")
    with open(marks) as f:
        assert f.read() == "1\n", "request shutdown function ran more than once"


def test_slowlog_and_terminate_in_worker_mode():
    """request_slowlog_timeout writes the PHP backtrace (taken inside the
    worker, no ptrace); request_terminate_timeout throws into the request,
    which the application may catch, and the booted process survives."""
    pid = info("slowterm")["pid"]
    r = fcgi(sock("slowterm"), "/spin-caught")
    assert r.status == 503, r
    assert "request_terminate_timeout" in r.json()["caught"], r.text()
    assert info("slowterm")["pid"] == pid, "the process was replaced"
    path = TMP.file("slowterm.slow.log")
    ok = H.wait_for(lambda: os.path.exists(path) and "app_spin()" in open(path).read(), 10, 0.2)
    assert ok, "no backtrace in the slowlog: %r" % (open(path).read() if os.path.exists(path) else None)
    text = open(path).read()
    assert "[pool slowterm] pid %d" % pid in text, text
    assert re.search(r"\] app_spin\(\) \S+/app\.php:\d+", text), text
    assert "{closure}()" in text and "pfpm_handle_request()" in text, text


def test_error_get_last_cleared():
    r = fcgi(sock("app"), "/warn")
    assert r.status == 200, r
    assert json.loads(r.text())["message"] == 'Undefined array key "missing"', r
    d = fcgi(sock("app"), "/dump").json()
    assert d["last_error"] is None, "error_get_last() leaked: %r" % d["last_error"]


def test_open_output_buffer_does_not_swallow_next_request():
    base = fcgi(sock("app"), "/dump").json()["ob_level"]
    r1 = fcgi(sock("app"), "/ob-open")
    assert r1.status == 200 and r1.text() == "buffered-by-request-one", \
        "output of a buffer left open should be sent: %r" % r1
    r2 = fcgi(sock("app"), "/dump")
    assert r2.status == 200 and r2.body.startswith(b"{"), "request 2 output: %r" % r2
    assert b"buffered-by-request-one" not in r2.body, r2
    assert r2.json()["ob_level"] == base, "ob level %r, want %r" % (r2.json()["ob_level"], base)


def test_session_does_not_leak():
    before = set(os.listdir(SESSION_DIR))
    r1 = fcgi(sock("app"), "/session-start?v=one")
    assert r1.status == 200, r1
    sid = r1.json()["id"]
    assert any(c.startswith("PHPSESSID=%s" % sid) for c in r1.header_all("Set-Cookie")), r1.headers
    assert "sess_" + sid in set(os.listdir(SESSION_DIR)) - before, "session not written"
    d = fcgi(sock("app"), "/dump").json()
    assert d["session_set"] is False, "$_SESSION leaked into the next request: %r" % d["session"]
    assert d["session_status"] == 1, "session still active: %r" % d["session_status"]
    other = fcgi(sock("app"), "/session-read").json()
    assert other["id"] != sid and other["session"] == [], "session leaked: %r" % other
    back = fcgi(sock("app"), "/session-read",
                headers=[("Cookie", "PHPSESSID=%s" % sid)]).json()
    assert back["id"] == sid and back["session"] == {"secret": "s3cr3t-one"}, back


def test_upload_and_temp_file_removed():
    data = H.pattern_bytes(300 * 1024, seed=b"worker-upload")
    ctype, body = H.multipart(fields=[("f", "v")],
                              files=[("doc", "data.bin", "application/octet-stream", data)])
    for i in range(2):
        r = http("app", "/dump", method="POST", body=body, headers=[("Content-Type", ctype)])
        assert r.status == 200, r
        f = json.loads(r.text())["files"]["doc"]
        assert f["sha1"] == hashlib.sha1(data).hexdigest() and f["size"] == len(data), f
        assert f["tmp_exists"] and f["tmp_name"].startswith(UPLOAD_DIR + "/"), f
        assert H.wait_for(lambda: not os.path.exists(f["tmp_name"]), 10), \
            "upload temp file %s not removed after the request" % f["tmp_name"]
    assert upload_files() == [], "left in upload_tmp_dir: %r" % upload_files()


def test_php_input_per_request():
    c = Fcgi(sock("app"), keep=True)
    try:
        for body in (b"first body " * 50, b"second", b""):
            d = c.request("/input", method="POST", body=body,
                          ctype="application/octet-stream").json()
            assert d["body"] == body.decode() and d["again"] == body.decode(), \
                "php://input: %r for body %r" % (d, body[:40])
    finally:
        c.close()
    for body in (b"through nginx one", b"two"):
        d = http_json("app", "/input", method="POST", body=body,
                      headers=[("Content-Type", "text/plain")])
        assert d["body"] == body.decode(), d


# ---------------------------------------------------------------------------
# ending a request: exit, exceptions, fatal errors, timeouts


def test_exit_and_die_end_only_the_request():
    pid = info("app")["pid"]
    r = http("app", "/exit")
    assert (r.status, r.text()) == (201, "bye"), r
    r = http("app", "/die-nested")
    assert (r.status, r.text()) == (200, "nested:died"), r
    i = info("app")
    assert i["pid"] == pid and i["boots"] == 1, "exit() replaced the worker: %r" % i


def test_uncaught_exception_500_worker_continues():
    pid = info("app")["pid"]
    off = H.file_size(MAIN.log_path)
    r = http("app", "/throw")
    assert r.status == 500, r
    assert wait_log(MAIN, off, r"Uncaught RuntimeException: boom from the handler"), \
        "exception not logged\n" + diag()
    r = http("app", "/undefined-function")     # an Error exception, not a fatal
    assert r.status == 500, r
    assert wait_log(MAIN, off, r"Call to undefined function pfpm_test_this_function_does_not_exist"), \
        diag()
    i = info("app")
    assert i["pid"] == pid, "an exception replaced the worker\n" + diag()
    assert http("app", "/dump").status == 200


def test_exception_handler_installed_at_boot():
    pid = info("handler")["pid"]
    r = fcgi(sock("handler"), "/throw")
    assert r.status == 503, r
    assert r.header("X-Handled-By") == "boot-exception-handler", r.headers
    assert r.text().endswith("handled: RuntimeException: boom from the handler"), r
    r = fcgi(sock("handler"), "/dump")
    assert r.status == 200 and r.header("X-Handled-By") is None, r
    assert info("handler")["pid"] == pid


def test_exception_thrown_by_the_exception_handler():
    """php-fpm: 500 and "PHP Fatal error: Uncaught LogicException: ..." logged."""
    off = H.file_size(MAIN.log_path)
    r = fcgi(sock("handler"), "/throw?m=rethrow+me")
    assert r.status == 500, "status %s, body %r, stderr %r" % (r.status, r.body, r.stderr)
    assert wait_log(MAIN, off, r"Uncaught LogicException: thrown by the exception handler"), \
        "the handler's exception was not reported\n" + diag()
    assert info("handler")["boots"] == 1


def _fatal_replaces(pool, uri, log_pattern, statuses=(500,), via_nginx=False):
    pid = info(pool)["pid"]
    off = H.file_size(MAIN.log_path)
    r = http(pool, uri) if via_nginx else fcgi(sock(pool), uri)
    assert r.status in statuses, "%s: %r\n%s" % (uri, r, diag())
    assert wait_log(MAIN, off, log_pattern), "%r not logged\n%s" % (log_pattern, diag())
    new_pid_serves(pool, pid)
    assert wait_log(MAIN, off, r"child %d exited with code 2" % pid), diag()
    assert MAIN.alive()


def test_user_fatal_error_replaces_process():
    _fatal_replaces("app", "/user-error", r"user fatal from the handler", via_nginx=True)


def test_memory_exhaustion_replaces_process():
    _fatal_replaces("app", "/oom", r"Allowed memory size of 16777216 bytes exhausted")
    d = fcgi(sock("app"), "/dump").json()
    assert d["memory_limit"] == "128M", d


def test_max_execution_time_replaces_process():
    _fatal_replaces("slow", "/loop", r"Maximum execution time of 1 second exceeded",
                    statuses=(500, 502))


def test_request_fatal_errors_are_not_a_crash_loop():
    """A process that booted and served is replaced after a fatal error in a
    request; that is not a boot failure, so the respawn must not be throttled
    (no growing "respawning in" delay for the next request to wait out)."""
    off = H.file_size(MAIN.log_path)
    pid = info("fatal")["pid"]
    for i in range(4):
        r = fcgi(sock("fatal"), "/user-error")
        assert r.status == 500, r
        pid = new_pid_serves("fatal", pid)["pid"]
    log = log_since(MAIN, off)
    throttled = [l for l in log.splitlines()
                 if "[pool fatal] children are failing quickly" in l]
    assert not throttled, ("request-level fatal errors throttle the respawn of a pool "
                           "whose application boots fine:\n%s" % "\n".join(throttled))


def test_client_abort_next_request_works():
    c = Fcgi(sock("abort"))
    c._connect()
    body = b"".join(_nv(k, v) for k, v in [
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/abort"), ("QUERY_STRING", ""),
        ("SCRIPT_FILENAME", "/srv/public/index.php"), ("SERVER_PROTOCOL", "HTTP/1.1")])
    c.sock.sendall(_rec(FCGI_BEGIN, struct.pack("!HB5x", 1, 0)) + _stream(FCGI_PARAMS, body)
                   + _stream(FCGI_STDIN, b""))
    c._fill(8)          # the response has started ...
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()           # ... and the client is gone
    i = info("abort")
    assert i["boots"] == 1, i
    d = http_json("abort", "/dump?after=abort")
    assert d["get"] == {"after": "abort"}, d
    assert MAIN.alive()


def test_idle_time_is_not_execution_time():
    pid = info("slow")["pid"]          # max_execution_time = 1
    deadline = time.monotonic() + 4    # 3 s longer than max_execution_time
    while time.monotonic() < deadline:
        assert H.pid_alive(pid), "idle worker %d died\n%s" % (pid, diag())
        time.sleep(0.2)
    i = info("slow")
    assert i["pid"] == pid, "idle worker replaced: %r\n%s" % (i, diag())


def test_fastcgi_finish_request():
    """The handler answers, calls fastcgi_finish_request() and then waits for
    this test to release it: the response must arrive while it still runs."""
    for via, tag in (("fcgi", "f1"), ("nginx", "f2")):
        marker = os.path.join(MARKERS, "finish-" + tag)
        if via == "fcgi":
            r = Fcgi(sock("app")).request("/finish?id=" + tag)
        else:
            r = http("app", "/finish?id=" + tag)
        still_running = not os.path.exists(marker)
        assert r.status == 200 and r.text() == "early response", r
        assert still_running, "%s: the response came only after the handler ended" % via
        with open(os.path.join(MARKERS, "release-" + tag), "w") as f:
            f.write("go\n")
        i = info("app")          # served once the handler has finished
        with open(marker) as f:
            assert f.read() == "released\n", "%s: handler was not released" % via
        assert i["boots"] == 1


# ---------------------------------------------------------------------------
# recycling


def test_max_requests_recycles_without_failures():
    pids = []
    for i in range(20):
        r = http("recycle", "/info?i=%d" % i)
        assert r.status == 200, "request %d during recycling: %r\n%s" % (i, r, diag())
        d = json.loads(r.text())
        assert d["served"] <= 5, "pm.max_requests = 5 but served %d" % d["served"]
        pids.append(d["pid"])
    per = collections.Counter(pids)
    assert len(per) >= 4 and max(per.values()) <= 5, "pids per request: %r" % pids
    # consecutive runs of 5
    assert all(pids[i] == pids[i - i % 5] for i in range(20)), pids


def test_max_memory_recycles_without_failures():
    seen = []
    for i in range(24):
        r = http("memory", "/leak?i=%d" % i)
        assert r.status == 200, "request %d: %r\n%s" % (i, r, diag())
        d = json.loads(r.text())
        seen.append((d["pid"], d["leaked"], d["real"]))
    pids = list(dict.fromkeys(p for p, _, _ in seen))
    assert len(pids) >= 2, "worker.max_memory = 32M never recycled: %r" % seen
    for p in pids[:-1]:
        last = [s for s in seen if s[0] == p][-1]
        assert last[2] > 32 * 1024 * 1024, "recycled before crossing 32M: %r" % last
    for p, leaked, real in seen:
        # the request that crosses the limit is the last one of its process
        assert real - 4 * 1024 * 1024 <= 40 * 1024 * 1024, (p, leaked, real)


def test_max_requests_recycles_keepalive_post():
    """nginx with cached FastCGI connections (fastcgi_keep_conn on): the process
    that retires must not leave nginx a cached connection that it then resets;
    nginx does not retry a POST, so the client would get a 502."""
    port = NGINX.server("recycle-ka")["port"]
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    bad = []
    pids = set()
    try:
        for i in range(100):
            r = H.http_request(port, "POST", "/info?i=%d" % i, conn=conn, body=b"x=%d" % i,
                               headers=[("Content-Type", "application/x-www-form-urlencoded")])
            if r.status != 200:
                bad.append((i, r.status))
            else:
                pids.add(json.loads(r.text())["pid"])
    finally:
        conn.close()
    assert len(pids) >= 4, pids
    assert not bad, "failed during recycling (request, status): %r\n--- nginx ---\n%s" % (
        bad, H.tail(NGINX.server("recycle-ka")["error_log"], 5))


# ---------------------------------------------------------------------------
# reload


def test_reload_lets_the_request_in_flight_finish():
    listen = TMP.file("rl.sock")
    b = H.Pfpm(TMP, "pfpm-reload", [worker_pool("rl", APP, listen=listen)], INI, SCAN)
    b.start()
    try:
        old = Fcgi(listen).request("/info").json()["pid"]
        result = {}

        def slow():
            try:
                result["r"] = Fcgi(listen, timeout=60).request("/sleep?s=2")
            except Exception as e:        # reported below
                result["r"] = e
        t = threading.Thread(target=slow)
        t.start()
        assert H.wait_for(lambda: os.path.exists(os.path.join(MARKERS, "sleeping-%d" % old)), 10)
        b.send_signal(signal.SIGUSR2)
        i = Fcgi(listen, timeout=30).request("/info").json()
        assert i["pid"] != old and i["boots"] == 1, "new generation: %r" % i
        t.join(30)
        r = result.get("r")
        assert isinstance(r, Reply) and r.status == 200, "request in flight: %r\n%s" % (r, diag(b))
        assert r.json() == {"pid": old, "slept": 2}, r
        # the old worker's loop ended (pfpm_handle_request returned false)
        assert H.wait_for(lambda: os.path.exists(os.path.join(MARKERS, "loop-ended-%d" % old)), 10), \
            "old worker did not leave its request loop\n" + diag(b)
        assert H.wait_for(lambda: not H.pid_alive(old), 10)
        assert b.alive()
    finally:
        b.stop()


def test_reloads_under_full_load_drop_nothing():
    """wrk at full speed through nginx for the whole run, three USR2 reloads
    of a worker-mode pool: no non-2xx answer and no socket error."""
    listen = TMP.file("rload.sock")
    b = H.Pfpm(TMP, "pfpm-rload", [worker_pool("rload", APP, listen=listen,
                                               **{"pm.max_children": 2})], INI, SCAN)
    ng = FrontNginx(TMP, [{"name": "rload", "backend": listen, "root": public_root("rload")}],
                    name="nginx-rload")
    b.start()
    ng.start()
    try:
        port = ng.server("rload")["port"]
        assert H.http_request(port, "GET", "/info").status == 200
        out = []
        wrk = threading.Thread(target=lambda: out.append(subprocess.run(
            ["wrk", "-t2", "-c8", "-d8s", "http://127.0.0.1:%d/info" % port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60).stdout))
        wrk.start()
        pids = set()
        for _ in range(3):
            time.sleep(2)
            before = set(b.workers())
            b.send_signal(signal.SIGUSR2)
            assert H.wait_for(lambda: set(b.workers()) and not (set(b.workers()) & before),
                              15, 0.1), "the previous generation did not go\n" + diag(b)
            pids |= before
        wrk.join(60)
        text = out[0] if out else ""
        m = re.search(r"(\d+) requests in", text)
        assert m and int(m.group(1)) > 0, text
        assert "Non-2xx" not in text, "failed requests during reloads:\n" + text
        assert "Socket errors" not in text, "socket errors during reloads:\n" + text
        assert len(pids) >= 6, "three generations of two workers expected: %r" % pids
    finally:
        ng.stop()
        b.stop()


def test_watch_reloads_on_php_change():
    """watch = DIR: saving a PHP file there reloads the worker-mode pool."""
    src = TMP.sub("watched")
    script = os.path.join(src, "w.php")
    body = ("<?php\n$v = '%s';\nwhile (pfpm_handle_request(function () use ($v) "
            "{ echo $v, ' ', getmypid(); })) {}\n")
    with open(script, "w") as f:
        f.write(body % "one")
    listen = TMP.file("watch.sock")
    b = H.Pfpm(TMP, "pfpm-watch", [worker_pool("watch", script, listen=listen)], INI, SCAN,
               global_opts={"watch": src})
    b.start()
    try:
        v, pid = Fcgi(listen).request("/").text().split()
        assert v == "one"
        with open(script, "w") as f:
            f.write(body % "two")
        assert H.wait_for(lambda: Fcgi(listen).request("/").text().split()[0] == "two", 15, 0.2), \
            "no reload after the change\n" + diag(b)
        assert Fcgi(listen).request("/").text().split()[1] != pid
        # a non-PHP file does not reload
        before = set(b.workers())
        with open(os.path.join(src, "notes.txt"), "w") as f:
            f.write("x")
        time.sleep(1.5)
        assert set(b.workers()) == before, "a .txt change reloaded pfpm"
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# soak: 20,000 requests on one worker


def test_soak_memory_fds_uploads_stable():
    c = Fcgi(sock("soak"), keep=True)
    ctype, up = H.multipart(files=[("f", "s.txt", "text/plain", b"soak upload " * 20)])
    up_sha1 = hashlib.sha1(b"soak upload " * 20).hexdigest()
    total, sample_at = 20000, 1000
    mem = {}
    fds = {}
    pid = None
    files_at = None
    try:
        pid = c.request("/info").json()["pid"]
        for i in range(1, total + 1):
            if i % 50 == 25:
                r = c.request("/soak?i=%d" % i, method="POST", body=up, ctype=ctype)
                m, _, sha = r.text().split(" ")
                assert sha == up_sha1, r
            else:
                body = ("a=%d&b=xyz" % i).encode()
                r = c.request("/soak?i=%d" % i, method="POST", body=body,
                              ctype="application/x-www-form-urlencoded")
                m, n, _ = r.text().split(" ")
                assert int(n) == len(body), r
            assert r.status == 200 and r.header("X-Soak") == str(i), r
            assert r.header_all("Set-Cookie") == ["soak=%d" % i], r.headers
            if i in (sample_at, total):
                mem[i] = int(m)
                fds[i] = fd_count(pid)
                if i == sample_at:
                    files_at = upload_files()
        end = c.request("/info").json()
    finally:
        c.close()
    assert end["pid"] == pid and end["boots"] == 1, end
    growth = mem[total] - mem[sample_at]
    assert growth <= 64 * 1024, "memory grew by %d bytes from request %d to %d (%r)" % (
        growth, sample_at, total, mem)
    assert fds[total] <= fds[sample_at], "fds grew: %r" % fds
    assert files_at == [] and upload_files() == [], "upload tmp files: %r" % upload_files()


# ---------------------------------------------------------------------------
# boot failures


BROKEN_SYNTAX = "<?php\n// boot fails: syntax error\nfunction boot( {\n"
BROKEN_THROW = ("<?php\n$dsn = 'mysql:host=db.invalid';\n"
                "throw new RuntimeException('cannot connect to the database at ' . $dsn);\n")
FIXED = ("<?php\nwhile (pfpm_handle_request(function () {\n"
         "    header('Content-Type: text/plain');\n"
         "    echo 'fixed ', pfpm_worker_info()['pool'];\n"
         "})) {}\n")


def test_boot_failure_backs_off_then_reload_fixes():
    scripts = {"syntax": TMP.write("bootfail/syntax.php", BROKEN_SYNTAX),
               "throws": TMP.write("bootfail/throws.php", BROKEN_THROW)}
    pools = [worker_pool("bf-%s" % k, v, listen=TMP.file("bf-%s.sock" % k))
             for k, v in scripts.items()]
    b = H.Pfpm(TMP, "pfpm-bootfail", pools, INI, SCAN, log_level="debug")
    ngx = FrontNginx(TMP, [{"name": "bf", "backend": TMP.file("bf-syntax.sock"),
                            "root": public_root("bf"), "read_timeout": 3}],
                     name="nginx-bf")
    try:
        b.start()
        ngx.start()
        t0 = time.monotonic()
        assert wait_log(b, 0, r"\[pool bf-syntax\].*respawning in", 15), diag(b)
        # nginx answers an error, the master survives
        r = H.http_request(ngx.server("bf")["port"], path="/anything", timeout=20)
        assert r.status in (502, 503, 504), r
        # watch ~6 s of failures
        while time.monotonic() - t0 < 6.5:
            assert b.alive(), "master died: %s\n%s" % (b.exit_description(), diag(b))
            time.sleep(0.2)
        log = b.log_text()
        for pool, err in (("bf-syntax", r"syntax error"),
                          ("bf-throws", r"cannot connect to the database at mysql:host=db\.invalid")):
            assert re.search(err, log), "boot error of %s not logged\n%s" % (pool, diag(b))
            assert re.search(r"\[pool %s\] child \d+: worker script .* the application failed to boot"
                             % pool, log), "no 'failed to boot' line for %s\n%s" % (pool, diag(b))
            started = re.findall(r"\[pool %s\] child \d+ started" % pool, log)
            delays = [float(x) for x in re.findall(
                r"\[pool %s\] children are failing quickly, respawning in ([\d.]+) s" % pool, log)]
            assert 2 <= len(started) <= 12, "%s: %d spawn attempts in ~6 s\n%s" % (
                pool, len(started), diag(b))
            assert len(delays) >= 2 and all(a < b_ for a, b_ in zip(delays, delays[1:])), \
                "%s: respawn delays not growing: %r" % (pool, delays)
        # fix the scripts, reload: the pools serve
        for path in scripts.values():
            with open(path, "w") as f:
                f.write(FIXED)
        off = H.file_size(b.log_path)
        b.send_signal(signal.SIGUSR2)
        for k in scripts:
            r = H.wait_for(lambda: _try(lambda: Fcgi(TMP.file("bf-%s.sock" % k),
                                                     timeout=5).request("/")), 30, 0.2)
            assert r and r.status == 200 and r.text() == "fixed bf-%s" % k, \
                "%s after reload: %r\n%s" % (k, r, log_since(b, off)[-3000:])
        r = H.http_request(ngx.server("bf")["port"], path="/x", timeout=20)
        assert r.status == 200 and r.text() == "fixed bf-syntax", r
        assert b.alive()
    finally:
        global BOOTFAIL_LOG
        BOOTFAIL_LOG = b.log_text()
        ngx.stop()
        b.stop()


def test_boot_failure_log_has_no_stray_response_headers():
    """The failed boot request has no client: its CGI response headers must not
    be written to the worker's stdout (and so into the log as worker output)."""
    if BOOTFAIL_LOG is None:
        raise H.Skip("needs worker.boot_failure_backs_off_then_reload_fixes")
    stray = [l for l in BOOTFAIL_LOG.splitlines()
             if re.search(r'said into stderr: "(Status: |X-Powered-By: |Content-type: )', l)]
    assert not stray, "%d stray header lines, e.g.:\n%s" % (len(stray), "\n".join(stray[:4]))


def _try(fn):
    try:
        return fn()
    except (OSError, EOFError, ValueError):
        return None


# ---------------------------------------------------------------------------
# contrib/worker-examples


def test_example_plain():
    d = http_json("plain", "/")
    assert d["app"] == "plain" and d["worker"]["mode"] == "worker", d
    pid = d["worker"]["pid"]
    assert http_json("plain", "/prime?n=97")["prime"] is True
    assert http_json("plain", "/prime?n=91")["prime"] is False
    r = http("plain", "/notes", method="POST", body=b"text=hello+worker",
             headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert r.status == 201, r
    note = json.loads(r.text())
    notes = http_json("plain", "/notes")["notes"]
    assert {"id": note["id"], "text": "hello worker"} in notes, notes
    r = http("plain", "/visit")
    assert r.status == 200 and json.loads(r.text())["visits"] == 1, r
    cookie = [c for c in r.header_all("Set-Cookie") if c.startswith("visits=")]
    assert cookie and cookie[0].startswith("visits=1"), r.headers
    r = http("plain", "/visit", headers=[("Cookie", "visits=1")])
    assert json.loads(r.text())["visits"] == 2, r
    data = H.pattern_bytes(5000, seed=b"plain")
    ctype, body = H.multipart(files=[("file", "a.bin", "application/octet-stream", data)])
    d = http_json("plain", "/upload", method="POST", body=body,
                  headers=[("Content-Type", ctype)])
    assert d["sha1"] == hashlib.sha1(data).hexdigest() and d["size"] == 5000, d
    r = http("plain", "/nope")
    assert r.status == 404, r
    assert http_json("plain", "/")["worker"]["pid"] == pid


def test_example_symfony():
    r = http("symfony", "/hello?name=pfpm", headers=[("Cookie", "seen=3")])
    assert r.status == 200, "%r\n%s" % (r, diag())
    assert r.header("Content-Type") == "application/json", r.headers
    d = json.loads(r.text())
    assert d["hello"] == "pfpm" and d["seen"] == "3" and d["mode"] == "worker", d
    cookies = r.header_all("Set-Cookie")
    assert any(c.startswith("seen=4") for c in cookies), cookies
    pid = d["pid"]
    r = http("symfony", "/echo", method="POST", body=b'{"a": [1, 2]}',
             headers=[("Content-Type", "application/json")])
    assert r.status == 200 and json.loads(r.text())["json"] == {"a": [1, 2]}, r
    r = http("symfony", "/hello")
    d = json.loads(r.text())
    assert d["hello"] == "world" and d["seen"] is None and d["pid"] == pid, d
    r = http("symfony", "/missing")
    assert r.status == 404 and json.loads(r.text())["error"] == "Not Found", r
