"""pfpm's worker mode with a real Laravel 8 application (contrib/laravel-example,
copied into a temp dir and set up there) behind real nginx.

One pfpm master runs several pools of the same application:
  main       2 workers   concurrency, native PHP behaviour, events
  solo       1 worker    state-leak probes with every cleaner on (same worker)
  no-<x>     1 worker    the same probe with cleaner <x> disabled through
                         config/pfpm.php 'disabled_cleaners' (the example reads
                         it from PFPM_DISABLED_CLEANERS in the pool's env):
                         the probe must see the leak there, proving both that
                         the cleaner matters and that the probe can fail
  recycle    1 worker    pm.max_requests = 3 (worker stop/start hooks)
  classic    1 process   no `worker`: the same app through public/index.php

Every leak probe is a CASES item: `leak.<probe>` (cleaners on: no leak) and
`leak.<probe>.without-cleaner` (cleaner off: the leak shows).
PFPM_LARAVEL_SHOW=1 prints what each probe saw.

The other pools also get PFPM_PHP_DIR in their env; test_php_dir_from_master_env
checks the documented way (the master's environment only).
"""

import hashlib
import json
import os
import re
import threading
import time
import uuid

import harness as H
import laravel_util as L

ENV = None


class Env:
    """The daemons and the app copy shared by the module's tests."""

    def __init__(self):
        self.tmp = H.TestDir("pfpm-laravel")
        self.app = L.prepare_app(self.tmp)
        self.public = os.path.join(self.app, "public")
        self.laravel_log = os.path.join(self.app, "storage", "logs", "laravel.log")
        self.worker_log = os.path.join(self.app, "storage", "logs", "pfpm-worker.log")
        self.ini, self.scan = H.write_php_ini(self.tmp, "laravel")
        self.sockets = {}
        pools = []

        def sock(name):
            self.sockets[name] = self.tmp.file("%s.sock" % name)
            return self.sockets[name]

        pools.append(L.worker_pool("main", sock("main"), self.app, children=2))
        pools.append(L.worker_pool("solo", sock("solo"), self.app))
        for cleaner in sorted({p.cleaner for p in PROBES if p.cleaner}):
            name = "no-" + cleaner.split("\\")[-1].lower()
            pools.append(L.worker_pool(name, sock(name), self.app,
                                       env={"PFPM_DISABLED_CLEANERS": cleaner}))
        pools.append(L.worker_pool("recycle", sock("recycle"), self.app,
                                   **{"pm.max_requests": 3}))
        pools.append({"name": "classic", "listen": sock("classic"), "pm": "static",
                      "pm.max_children": 1})
        self.pfpm = H.make_backend("pfpm", self.tmp, "pfpm", pools, self.ini, self.scan)
        self.pfpm.env["PFPM_PHP_DIR"] = L.PHP_DIR
        self.nginx = L.LaravelNginx(self.tmp, [
            {"name": p["name"], "backend": p["listen"], "root": self.public} for p in pools])
        self.pfpm.start()
        self.nginx.start()
        # Workers boot the application after the sockets exist: wait for
        # every pool to answer.
        for p in pools:
            self.wait_serving(p["name"])

    def port(self, pool):
        return self.nginx.port(pool)

    def client(self, pool, label=""):
        return L.Client(self.port(pool), label)

    def wait_serving(self, pool, timeout=30):
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                last = H.http_request(self.port(pool), "GET", "/api/hello", timeout=10)
                if last.status == 200:
                    return
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise H.HarnessError("pool %s never served /api/hello (last: %r)\n%s"
                             % (pool, last, H.tail(self.pfpm.log_path)))

    def stop(self):
        for d in (self.nginx, self.pfpm):
            try:
                d.stop()
            except Exception:
                pass
        self.tmp.cleanup()


def setup_module():
    global ENV
    L.require_laravel("worker mode has no php-fpm equivalent")
    ENV = Env()


def teardown_module():
    if ENV is not None:
        ENV.stop()


def pid_of(client):
    r, data = client.get_json("/probe/pid")
    assert r.status == 200 and data, "/probe/pid: %s" % L.describe(r)
    return data["pid"], data["worker"]


def ok_json(client, path, **kw):
    r, data = client.json(kw.pop("method", "GET"), path, **kw)
    assert r.status == 200 and data is not None, "%s: %s" % (path, L.describe(r))
    return data


def token():
    return uuid.uuid4().hex[:12]


# ---------------------------------------------------------------------------
# state-leak probes
#
# A probe sets some state in one request and reads it back in the next one,
# on a pool with one worker; it returns (leaked, detail).


class Probe:
    def __init__(self, name, cleaner, fn, doc):
        self.name = name
        self.cleaner = cleaner      # short name / class of the cleaner, or None
        self.fn = fn
        self.doc = doc


def probe_config(port):
    c, v = L.Client(port), token()
    assert ok_json(c, "/probe/config/set?v=" + v)["value"] == v
    got = ok_json(c, "/probe/config/get")
    return got["value"] == v, "config('probe.value') in the next request: %r" % got["value"]


def probe_application(port):
    c = L.Client(port)
    ok_json(c, "/probe/controller?q=first")
    got = ok_json(c, "/probe/controller?q=second")
    leaked = got["calls"] != 1 or got["q"] != "second" or not got["same_app"] \
        or not got["same_request"]
    return leaked, "second request's controller: %s" % json.dumps(got)


def probe_auth(port):
    alice, anon = L.Client(port, "alice"), L.Client(port, "anonymous")
    alice.login("alice@example.com")
    me = ok_json(alice, "/whoami")
    assert me["user"] == "alice@example.com" and me["admin"] is True, "alice: %s" % me
    got = ok_json(anon, "/whoami")
    leaked = got["user"] is not None or got["auth_user"] is not None or got["admin"]
    return leaked, "anonymous client after alice's request: %s" % json.dumps(got)


def probe_session(port):
    a, b, v = L.Client(port), L.Client(port), token()
    assert ok_json(a, "/probe/session/put?v=" + v)["probe"] == v
    got = ok_json(b, "/probe/session/get")
    return got["probe"] == v, "another client's session: %s" % json.dumps(got)


def probe_cookies(port):
    c, v = L.Client(port), token()
    r = c.get("/probe/cookie/queue?v=" + v)
    assert r.status == 200 and any(x.startswith("probe_queued=") for x in r.header_all("Set-Cookie")), \
        "queued cookie not sent: %s %s" % (L.describe(r), r.header_all("Set-Cookie"))
    other = L.Client(port)
    r2, data = other.get_json("/probe/cookie/none")
    sent = [x for x in r2.header_all("Set-Cookie") if x.startswith("probe_queued=")]
    return bool(sent) or data["queued"] != 0, \
        "next response: queued=%s, Set-Cookie probe_queued: %s" % (data["queued"], sent)


def probe_request(port):
    c = L.Client(port)
    ok_json(c, "/probe/url/force?root=http://forced.example")
    got = ok_json(c, "/probe/url?n=2")
    leaked = not got["current"].startswith("http://localhost/") or "forced" in got["route"] \
        or not got["same"] or not got["full"].endswith("/probe/url?n=2")
    return leaked, "after URL::forceRootUrl() in the previous request: %s" % json.dumps(got)


def probe_translator(port):
    c = L.Client(port)
    got = ok_json(c, "/probe/locale/set?l=fr")
    assert got["greeting"] == "Bonjour de", "fr translation not used: %s" % got
    got = ok_json(c, "/probe/locale")
    leaked = got["translator_locale"] != "en" or got["greeting"] != "Hello from" \
        or got["app_locale"] != "en" or got["carbon_locale"] != "en"
    return leaked, "after App::setLocale('fr') in the previous request: %s" % json.dumps(got)


def probe_view(port):
    c, v = L.Client(port), token()
    r = c.get("/probe/view/share?v=" + v)
    assert r.status == 200 and ("probe=%s" % v) in r.text(), L.describe(r)
    r = c.get("/probe/view")
    assert r.status == 200, L.describe(r)
    leaked = ("probe=%s" % v) in r.text() or "app_is_current=yes" not in r.text()
    return leaked, "next view: %r" % r.text().strip()


def probe_database_log(port):
    c = L.Client(port)
    got = ok_json(c, "/probe/db/log/enable")
    assert got["logging"] is True and got["queries"] >= 1, got
    got = ok_json(c, "/probe/db/log")
    return got["logging"] or got["queries"] != 0, \
        "after DB::enableQueryLog() in the previous request: %s" % json.dumps(got)


def probe_database_transaction(port):
    c = L.Client(port)
    r = c.get("/probe/db/tx/open")
    assert r.status == 200 and r.text() == "left a transaction open", L.describe(r)
    got = ok_json(c, "/probe/db/tx")
    return got["level"] != 0 or got["pdo_in_transaction"], \
        "after exit() inside DB::beginTransaction(): %s" % json.dumps(got)


def probe_log(port):
    c, v, tag = L.Client(port), token(), token()
    offset = H.file_size(ENV.laravel_log)
    ok_json(c, "/probe/log/context?v=" + v)
    ok_json(c, "/probe/log/write?tag=" + tag)
    line = L.wait_line(ENV.laravel_log, r"probe-line %s\b" % tag, timeout=5, offset=offset)
    assert line, "no 'probe-line %s' in laravel.log" % tag
    return v in line, "next request's log line: %s" % line.strip()


def probe_scoped(port):
    c = L.Client(port)
    first = ok_json(c, "/probe/scoped")["count"]
    second = ok_json(c, "/probe/scoped")["count"]
    return first != 1 or second != 1, \
        "scoped RequestTally resolved at boot, bumped once per request: %d then %d" % (first, second)


def probe_paginator(port):
    c = L.Client(port)
    ok_json(c, "/probe/paginate?page=2")
    got = ok_json(c, "/probe/paginate?page=3")
    leaked = got["page"] != 3 or got["resolved_page"] != 3 or \
        got["path"] != "http://localhost/probe/paginate"
    return leaked, "?page=3 gave: %s" % json.dumps(got)


SFDUMP_HEADER = "Sfdump = window.Sfdump"


def probe_dumper(port):
    c = L.Client(port)
    texts = []
    for _ in range(2):
        r = c.get("/probe/dump")
        assert r.status == 200 and "dumped-value" in r.text() and "after dump" in r.text(), \
            L.describe(r)
        texts.append(r.text())
    missing = [i + 1 for i, t in enumerate(texts) if SFDUMP_HEADER not in t]
    return bool(missing), "dump() pages without the dumper's script/stylesheet: %s" % missing


def probe_app_cleaner(port):
    c, v = L.Client(port), token()
    assert ok_json(c, "/probe/static/set?v=" + v)["static"] == v
    got = ok_json(c, "/probe/static/get")
    return got["static"] == v, "ProbeController::$staticNote next request: %r" % got["static"]


def probe_request_singleton(port):
    c, v = L.Client(port), token()
    got = ok_json(c, "/probe/singleton/set?v=" + v)
    assert got == {"value": v, "lazy": "lazy-" + v}, got
    got = ok_json(c, "/probe/singleton/get")
    return got["bound"] or got["lazy_bound"], "bindings made in the previous request: %s" % got


PROBES = [
    Probe("config", "config", probe_config, "config()->set() in one request"),
    Probe("application", "application", probe_application,
          "controller built from the request's container, Request injection"),
    Probe("auth", "auth", probe_auth, "logged-in user of another client"),
    Probe("session", "session", probe_session, "session data of another client"),
    Probe("cookies", "cookies", probe_cookies, "Cookie::queue() of another request"),
    Probe("request", "request", probe_request, "URL::forceRootUrl(), url()->current()"),
    Probe("translator", "translator", probe_translator, "App::setLocale()"),
    Probe("view", "view", probe_view, "View::share()"),
    Probe("database-query-log", "database", probe_database_log, "DB::enableQueryLog()"),
    Probe("log", "log", probe_log, "Log::withContext()"),
    Probe("scoped", "scoped", probe_scoped, "scoped instance resolved at boot"),
    Probe("paginator", "paginator", probe_paginator, "paginator's current page"),
    Probe("dumper", "dumper", probe_dumper, "dump() output complete in every response"),
    Probe("app-cleaner", "App\\Pfpm\\ResetProbeStatics", probe_app_cleaner,
          "an application cleaner from config/pfpm.php"),
    # last on its pool: without the cleaner it leaves a transaction open
    Probe("database-transaction", "database", probe_database_transaction,
          "transaction left open by exit()"),
    Probe("request-singleton", None, probe_request_singleton,
          "instance bound during a request (the sandbox itself, no cleaner)"),
]


class Case:
    def __init__(self, probe, without):
        self.probe = probe
        self.without = without
        self.name = "leak.%s%s" % (probe.name, ".without-cleaner" if without else "")


CASES = []
for _p in PROBES:
    CASES.append(Case(_p, False))
for _p in PROBES:
    if _p.cleaner:
        CASES.append(Case(_p, True))


def run_case(case):
    p = case.probe
    pool = "solo" if not case.without else "no-" + p.cleaner.split("\\")[-1].lower()
    leaked, detail = p.fn(ENV.port(pool))
    if H.env_flag("PFPM_LARAVEL_SHOW"):
        print("  %s [%s]: %s" % (case.name, pool, detail), flush=True)
    if not case.without:
        assert not leaked, "%s leaked with every cleaner on: %s" % (p.doc, detail)
        return
    assert leaked, ("%s: no leak with cleaner %r disabled, so the probe cannot "
                    "show what the cleaner prevents: %s" % (p.doc, p.cleaner, detail))


# ---------------------------------------------------------------------------
# the application


def test_welcome_page_in_worker_mode():
    c = ENV.client("main")
    r = c.get("/")
    assert r.status == 200, L.describe(r)
    body = r.text()
    assert "pfpm worker mode" in body and 'id="pid"' in body, L.describe(r, 2000)
    m = re.search(r'id="pid">(\d+)<', body)
    assert m and int(m.group(1)) in ENV.pfpm.workers() + H.descendants_of(ENV.pfpm.pid), body
    assert "<th>mode</th><td>worker</td>" in body and "<th>pool</th><td>main</td>" in body, body


def test_static_file_served_by_nginx():
    r = H.http_request(ENV.port("main"), "GET", "/static.txt")
    assert r.status == 200 and r.text() == "pfpm laravel example: static file\n", L.describe(r)


def test_api_hello_is_stateless():
    r = H.http_request(ENV.port("main"), "GET", "/api/hello")
    assert r.status == 200, L.describe(r)
    data = L.parse_json(r)
    assert data["hello"] == "world", data
    assert r.header("Content-Type") == "application/json", r.headers
    assert not r.header_all("Set-Cookie"), "api route set cookies: %s" % r.header_all("Set-Cookie")


def test_web_hello_session_and_csrf():
    c = ENV.client("main")
    seen = []
    for i in range(1, 5):
        r, data = c.get_json("/web/hello")
        assert r.status == 200, L.describe(r)
        names = {x.split("=", 1)[0] for x in r.header_all("Set-Cookie")}
        assert {"XSRF-TOKEN", "laravel_session"} <= names, names
        seen.append((data["visits"], data["csrf"]))
    assert [v for v, _ in seen] == [1, 2, 3, 4], seen
    assert len({t for _, t in seen}) == 1, "CSRF token changed within a session: %s" % seen


def test_db_write_counts_rows():
    c = ENV.client("main")
    counts = [ok_json(c, "/db/write")["count"] for _ in range(5)]
    assert counts == list(range(counts[0], counts[0] + 5)), counts


def test_worker_keeps_application_between_requests():
    c = ENV.client("solo")
    (pid1, info1), (pid2, info2) = pid_of(c), pid_of(c)
    assert pid1 == pid2, (pid1, pid2)
    assert info1["mode"] == "worker" and info1["pool"] == "solo", info1
    assert info2["requests"] == info1["requests"] + 1, (info1, info2)
    assert info1["app_root"] == ENV.app, info1


def test_classic_mode_serves_the_same_app():
    c = ENV.client("classic")
    r = c.get("/")
    assert r.status == 200 and "Classic mode" in r.text(), L.describe(r)
    r = H.http_request(ENV.port("classic"), "GET", "/api/hello")
    assert r.status == 200 and L.parse_json(r)["hello"] == "world", L.describe(r)
    # no worker events in classic mode
    assert r.header("X-Pfpm-Events") is None, r.headers
    c2 = ENV.client("classic")
    c2.login("bob@example.com")
    assert ok_json(c2, "/whoami")["user"] == "bob@example.com"


PARITY_REQUESTS = [
    ("GET", "/native/status/418", None),
    ("GET", "/native/teapot", None),
    ("GET", "/native/http-response-code", None),
    ("GET", "/no/such/route", None),
    ("GET", "/native/headers", None),
    ("GET", "/native/echo?a=1&b[]=2", None),
    ("POST", "/web/form", {"name": "x"}),
    ("GET", "/probe/throw", None),
    ("GET", "/probe/view", None),
    ("GET", "/probe/locale", None),
    ("GET", "/probe/config/get", None),
    ("GET", "/probe/url?x=1", None),
    ("GET", "/probe/paginate?page=2", None),
    ("GET", "/probe/stream", None),
    ("GET", "/probe/exit", None),
    ("GET", "/static.txt", None),
]


def test_worker_mode_answers_like_classic_mode():
    """The same requests to the worker pool and to the classic pool
    (public/index.php per request): same status, headers and body (cookie
    values, dates and the worker-only X-Pfpm-* headers aside)."""
    diffs = []
    for method, path, form in PARITY_REQUESTS:
        got = {}
        for pool in ("solo", "classic"):
            r = L.Client(ENV.port(pool)).request(method, path, form=form)
            n = H.normalize(r, drop=("x-pfpm-events", "x-pfpm-received"))
            n["headers"] = sorted((k, v.split("=", 1)[0] + "=<value>" if k == "set-cookie" else v)
                                  for k, v in n["headers"])
            got[pool] = n
        d = H.diff_normalized(got["classic"], got["solo"], "classic", "worker")
        if d:
            diffs.append("%s %s:\n%s" % (method, path, d))
    assert not diffs, "\n".join(diffs)


# ---------------------------------------------------------------------------
# concurrency: two users interleaved over two workers


def _interleave(pool, rounds=100):
    """alice and bob, each with a cookie jar, hit /whoami `rounds` times at
    the same time. Returns (wrong answers, pids seen)."""
    port = ENV.port(pool)
    errors, pids = [], set()
    users = ["alice@example.com", "bob@example.com"]
    clients = {u: L.Client(port, u) for u in users}
    for u, c in clients.items():
        c.login(u)
    start = threading.Barrier(len(users))

    def run(user):
        c = clients[user]
        start.wait()
        for i in range(rounds):
            r, data = c.get_json("/whoami")
            if r.status != 200 or not data:
                errors.append("%s #%d: %s" % (user, i, L.describe(r)))
                continue
            pids.add(data["pid"])
            if data["user"] != user or data["auth_user"] != user or \
                    data["admin"] != (user == "alice@example.com"):
                errors.append("%s #%d saw %s" % (user, i, data))

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors, pids


def test_two_users_interleaved_each_sees_itself():
    errors, pids = _interleave("main")
    assert not errors, "%d wrong answers, first: %s" % (len(errors), errors[:5])
    assert len(pids) == 2, "expected both workers of the pool to serve, saw pids %s" % pids


def test_two_users_interleaved_without_auth_cleaner_mix_up():
    """The same test on one worker without AuthCleaner: it must fail."""
    errors, _ = _interleave("no-auth", rounds=20)
    assert errors, "alice and bob never saw each other with the auth cleaner disabled"


# ---------------------------------------------------------------------------
# native PHP behaviour through Laravel


def test_superglobals_and_request_agree():
    c = ENV.client("main")
    r, data = c.json("GET", "/native/echo?a=1&b[]=x&b[]=y",
                     headers={"X-Probe": "hdr", "Cookie": "plain=c1"})
    assert r.status == 200, L.describe(r)
    assert data["get"] == {"a": "1", "b": ["x", "y"]} == data["query"], data
    assert data["cookie"].get("plain") == "c1" and data["cookies"].get("plain") == "c1", data
    assert data["header"] == "hdr", data
    r, data = c.json("POST", "/native/echo?q=1", form={"name": "pfpm", "list[]": "v"})
    assert r.status == 200, L.describe(r)
    assert data["method"] == "POST" and data["post"] == {"name": "pfpm", "list": ["v"]}, data
    assert data["input"] == data["post"] and data["get"] == {"q": "1"}, data
    r, data = c.json("PUT", "/native/echo", body=b'{"k":"v"}',
                     headers={"Content-Type": "application/json"})
    assert r.status == 200 and data["method"] == "PUT" and data["raw"] == '{"k":"v"}', data
    # the next request starts from clean superglobals
    r, data = c.json("GET", "/native/echo")
    assert data["get"] == [] and data["post"] == [] and data["files"] == [], data


def test_uploads_reach_laravel_with_intact_content():
    small, big = H.pattern_bytes(70000, b"small"), H.pattern_bytes(3 * 1024 * 1024, b"big")
    ctype, body = H.multipart(fields=[("title", "two files")],
                              files=[("small", "small.bin", "application/octet-stream", small),
                                     ("big", "big.bin", "application/octet-stream", big)])
    c = ENV.client("main")
    r, data = c.json("POST", "/native/upload", body=body, headers={"Content-Type": ctype})
    assert r.status == 200 and data, L.describe(r)
    for field, content in (("small", small), ("big", big)):
        f = data["files"][field]
        sha = hashlib.sha1(content).hexdigest()
        assert f["valid"] and f["uploaded"], f
        assert f["size"] == len(content) and f["sha1"] == sha and f["stored_sha1"] == sha, f
    assert data["fields"] == {"title": "two files"}, data
    r, data = c.json("GET", "/native/echo")
    assert data["files"] == [], "uploaded files left for the next request: %s" % data


def test_native_header_and_setcookie_with_laravel_response():
    r = H.http_request(ENV.port("main"), "GET", "/native/headers")
    assert r.status == 200 and r.text() == "native ok", L.describe(r)
    assert r.header("X-Native") == "yes" and r.header("X-Laravel") == "yes", r.headers
    cookies = r.header_all("Set-Cookie")
    assert any(x.startswith("native=from-setcookie") for x in cookies), cookies
    assert any(x.startswith("plain=from-laravel") for x in cookies), cookies
    r = H.http_request(ENV.port("main"), "GET", "/api/hello")
    assert r.header("X-Native") is None and not r.header_all("Set-Cookie"), r.headers


def test_status_codes():
    port = ENV.port("main")
    for code in (201, 404, 418, 503):
        r = H.http_request(port, "GET", "/native/status/%d" % code)
        assert r.status == code and r.text() == "status %d" % code, L.describe(r)
    r = H.http_request(port, "GET", "/native/teapot")               # abort(418)
    assert r.status == 418, L.describe(r)
    r = H.http_request(port, "GET", "/native/http-response-code")   # http_response_code() + exit
    assert r.status == 418 and r.text() == "short and stout", L.describe(r)
    r = H.http_request(port, "GET", "/no/such/route")
    assert r.status == 404 and "Not Found" in r.text(), L.describe(r)
    r = H.http_request(port, "GET", "/api/hello")
    assert r.status == 200, L.describe(r)


def test_csrf_failure_is_419_page_expired():
    c = ENV.client("main")
    tok = c.csrf_token()
    r = c.post("/web/form", form={"name": "no token"})
    assert r.status == 419 and "Page Expired" in r.text(), L.describe(r)
    r, data = c.json("POST", "/web/form", form={"name": "with token", "_token": tok})
    assert r.status == 200 and data == {"accepted": "with token"}, L.describe(r)


def test_exit_ends_the_request_and_the_worker_goes_on():
    c = ENV.client("solo")
    pid, info = pid_of(c)
    r = c.get("/probe/exit")
    assert r.status == 200 and r.text() == "bye", L.describe(r)
    assert r.header("X-Before-Exit") == "yes", r.headers
    pid2, info2 = pid_of(c)
    assert pid2 == pid and info2["requests"] == info["requests"] + 2, (info, info2)
    r = c.get("/web/hello")
    assert r.status == 200, L.describe(r)


def test_dd_output_reaches_the_response():
    c = ENV.client("solo")
    pid, _ = pid_of(c)
    for _ in range(2):
        r = c.get("/probe/dd")
        # Symfony's dd() sends "500 Internal Server Error" before dumping
        assert r.status == 500, L.describe(r)
        assert "dd-value" in r.text() and SFDUMP_HEADER in r.text(), L.describe(r, 600)
    assert pid_of(c)[0] == pid


def test_exception_renders_laravel_500_and_worker_goes_on():
    c = ENV.client("solo")
    pid, _ = pid_of(c)
    offset = H.file_size(ENV.laravel_log)
    r = c.get("/probe/throw")
    assert r.status == 500 and "Server Error" in r.text(), L.describe(r)
    assert L.wait_line(ENV.laravel_log, r"RuntimeException.*probe exception|probe exception",
                       timeout=5, offset=offset), "exception not reported to laravel.log"
    assert pid_of(c)[0] == pid
    assert ok_json(c, "/web/hello")["hello"] == "web"


def test_error_outside_the_kernel_calls_worker_error_hook():
    c = ENV.client("solo")
    pid, _ = pid_of(c)
    offset = H.file_size(ENV.worker_log)
    r = c.get("/probe/terminate-error")
    assert r.status == 200 and r.text() == "answered before terminate", L.describe(r)
    line = L.wait_line(ENV.worker_log, r"pid=%d error RuntimeException: thrown while terminating" % pid,
                       timeout=5, offset=offset)
    assert line, "on_worker_error not called:\n%s" % H.read_new(ENV.worker_log, offset)[0]
    assert pid_of(c)[0] == pid


def test_terminate_runs_after_the_response_is_sent():
    """Response::send() calls fastcgi_finish_request(): the client has its
    answer before the kernel's terminate() (a 0.7 s terminating callback)."""
    c = ENV.client("solo")
    tag = token()
    marker = os.path.join(ENV.app, "storage", "logs", "terminated-" + tag)
    t0 = time.monotonic()
    r = c.get("/probe/slow-terminate?tag=" + tag)
    elapsed = time.monotonic() - t0
    assert r.status == 200, L.describe(r)
    assert elapsed < 0.6, "response took %.2fs: sent only after terminate()" % elapsed
    assert H.wait_for(lambda: os.path.exists(marker), 5), "terminating callback never ran"


def test_streamed_response():
    r = H.http_request(ENV.port("main"), "GET", "/probe/stream")
    assert r.status == 200 and r.text() == "first\nsecond\nthird\n", L.describe(r)
    assert r.header("X-Streamed") == "yes", r.headers


def _fatal(path, label):
    c = ENV.client("solo")
    pid, _ = pid_of(c)
    offset = H.file_size(ENV.pfpm.log_path)
    r = c.get(path)
    assert r.status == 500, "%s: %s" % (label, L.describe(r))
    # the process is replaced; the pool serves again
    ENV.wait_serving("solo")
    pid2, info2 = pid_of(c)
    assert pid2 != pid, "%s: worker %d was kept after a fatal error" % (label, pid)
    assert info2["mode"] == "worker"
    log, _ = H.read_new(ENV.pfpm.log_path, offset)
    return r, log


def test_fatal_memory_exhaustion_replaces_the_worker():
    r, log = _fatal("/probe/fatal/memory", "memory exhaustion")
    assert "Allowed memory size" in log, log[-2000:]


def test_fatal_timeout_replaces_the_worker():
    r, log = _fatal("/probe/fatal/timeout", "max_execution_time")
    assert "Maximum execution time" in log, log[-2000:]


def test_providers_registered_again_for_each_request():
    """config/pfpm.php 'providers': RequestStampServiceProvider records the
    request it registers with; in worker mode it registers per request."""
    c = ENV.client("solo")
    for q in ("one", "two"):
        got = ok_json(c, "/probe/provider?q=" + q)
        assert got["stamp"] == "GET /probe/provider?q=" + q, got


def test_events_are_dispatched_on_the_sandbox():
    """The example's listener counts both events per worker process and
    reports the counts in a response header (requests that exit() never
    generate a response: only the differences are compared)."""
    c = ENV.client("solo")
    counts = []
    for _ in range(3):
        r = c.get("/probe/events")
        assert r.status == 200, L.describe(r)
        assert r.header("X-Pfpm-Received") == "yes", r.headers
        m = re.match(r"received=(\d+) generated=(\d+) sandbox=(\w+)$", r.header("X-Pfpm-Events") or "")
        assert m and m.group(3) == "current", r.header("X-Pfpm-Events")
        counts.append((int(m.group(1)), int(m.group(2))))
    deltas = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(counts, counts[1:])]
    assert deltas == [(1, 1), (1, 1)], counts


def test_worker_start_and_stop_hooks():
    c = ENV.client("recycle")
    first, _ = pid_of(c)
    start = L.wait_line(ENV.worker_log, r"pid=%d start$" % first, timeout=5)
    assert start, "on_worker_start not logged for pid %d" % first
    pids = {first}
    for _ in range(6):      # pm.max_requests = 3
        pids.add(pid_of(c)[0])
    assert len(pids) >= 2, "pm.max_requests = 3 did not replace the worker: %s" % pids
    assert L.wait_line(ENV.worker_log, r"pid=%d stop$" % first, timeout=10), \
        "on_worker_stop not logged for pid %d:\n%s" % (first, H.tail(ENV.worker_log))


# ---------------------------------------------------------------------------
# deployment details


def test_php_dir_from_master_env():
    """PFPM_PHP_DIR in the master's environment must locate laravel-worker.php
    with the default clear_env = yes (every other pool here also sets it in
    the pool's env to work around this)."""
    tmp = ENV.tmp
    listen = tmp.file("phpdir.sock")
    pool = {"name": "phpdir", "listen": listen, "pm": "static", "pm.max_children": 1,
            "worker": "laravel", "app_root": ENV.app}
    b = H.make_backend("pfpm", tmp, "pfpm-phpdir", [pool], ENV.ini, ENV.scan)
    b.env["PFPM_PHP_DIR"] = L.PHP_DIR
    ng = L.LaravelNginx(tmp, [{"name": "phpdir", "backend": listen, "root": ENV.public,
                               "read_timeout": 5}], name="nginx-phpdir")
    try:
        b.start()
        ng.start()
        r = None
        end = time.monotonic() + 8
        while time.monotonic() < end:
            if "failed to boot" in b.log_text():
                break
            r = H.http_request(ng.port("phpdir"), "GET", "/api/hello", timeout=10)
            if r.status == 200:
                break
            time.sleep(0.2)
        log = b.log_text()
        booted = r is not None and r.status == 200
        m = re.search(r"Failed opening required '([^']+)'", log)
        assert booted, ("worker did not boot with PFPM_PHP_DIR=%s in the master's environment%s"
                        % (L.PHP_DIR, "; it looked for %s" % m.group(1) if m else
                           ": " + (L.describe(r) if r else H.tail(b.log_path, 10))))
    finally:
        ng.stop()
        b.stop()
