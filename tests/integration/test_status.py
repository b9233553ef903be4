"""Operations: the status page (pm.status_path), ping (ping.path) and the
access log (access.log, access.format, access.suppress_path), through nginx.

One pfpm master with five pools and one nginx in front:
  classic   unix socket, 3 processes: the page in every format, a slow
            request seen in ?full, fpm_get_status(), the access log with
            many tokens, suppression, USR1 reopening the log
  tcp       TCP socket: listen queue length, %R, the default format
  worker    worker mode (tests/fixtures/worker/app.php): the page and ping
            never reach the worker script; a fatal error is a recycle
  recycle   pm.max_requests = 2: recycles and boots counted, a crash too
  failing   worker mode, 2 processes of which the second cannot boot: the
            pool shows "failing" until the test lets it boot
Nothing asserts a duration; state changes are awaited by polling.
"""

import collections
import base64
import html.parser
import json
import os
import re
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import harness as H

TMP = None
MAIN = None
NGINX = None
DOCROOT = None
FAIL_DIR = None

FPM_POOL_KEYS = ["pool", "process manager", "start time", "start since", "accepted conn",
                 "listen queue", "max listen queue", "listen queue len", "idle processes",
                 "active processes", "total processes", "max active processes",
                 "max children reached", "slow requests"]
PFPM_POOL_KEYS = ["mode", "boots", "failing", "recycled max requests", "recycled max memory",
                  "recycled fatal", "recycled crash"]
FPM_PROC_KEYS = ["pid", "state", "start time", "start since", "requests", "request duration",
                 "request method", "request uri", "content length", "user", "script",
                 "last request cpu", "last request memory"]
NO_CACHE = {"expires": "Thu, 01 Jan 1970 00:00:00 GMT",
            "cache-control": "no-cache, no-store, must-revalidate, max-age=0"}

# Many tokens, '|'-separated: parsed back field by field.
CLASSIC_FORMAT = ("%R|%u|%t|%m|%r|%q|%Q|%s|%n|%p|%P|%l|%f|%{REQUEST_URI}e|%{HTTP_HOST}e|"
                  "%{Content-Type}o|%M|%{kilo}M|%d|%{micro}d|%{mili}d|%C|%{user}C|%{system}C|"
                  "%{%Y-%m-%dT%H:%M:%S}t|%T|%%")
CLASSIC_FIELDS = ["R", "u", "t", "m", "r", "q", "Q", "s", "n", "p", "P", "l", "f", "e_uri",
                  "e_host", "o_ctype", "M", "M_kilo", "d", "d_micro", "d_mili", "C", "C_user",
                  "C_system", "t_custom", "T", "pct"]

FAIL_SCRIPT = r"""<?php
// Boots once (the first process to get here); later boots fail while
// $FAIL_DIR/fail exists.
$dir = getenv('FAIL_DIR');
if (!@mkdir("$dir/first") && file_exists("$dir/fail")) {
    throw new RuntimeException("boot refused by the test");
}
while (pfpm_handle_request(function () {
    header('Content-Type: text/plain');
    echo "ok ", getmypid();
})) {
}
"""


def sock(name):
    return TMP.file("%s.sock" % name)


def access_log(name):
    return TMP.file("access-%s.log" % name)


def setup_module():
    global TMP, MAIN, NGINX, DOCROOT, FAIL_DIR
    H.require_pfpm("pfpm's own status fields and worker mode")
    if not os.access(H.NGINX_BIN, os.X_OK):
        raise H.Skip("nginx not found at %s" % H.NGINX_BIN)
    TMP = H.TestDir("pfpm-status")
    ini, scan = H.write_php_ini(TMP, "status")
    # A document root of our own: the fixtures plus fpm_get_status() probes.
    DOCROOT = TMP.sub("docroot")
    for f in ("proc_info.php", "hello.php"):
        with open(os.path.join(H.PHP_FIXTURES, f)) as src:
            TMP.write(os.path.join("docroot", f), src.read())
    TMP.write("docroot/get_status.php",
              "<?php header('Content-Type: application/json');\n"
              "echo json_encode(['fpm' => fpm_get_status(), 'pfpm' => pfpm_status()]);\n")
    TMP.write("docroot/index.php", "<?php // worker mode: never executed\n")
    FAIL_DIR = TMP.sub("fail", mode=0o777)
    TMP.write("fail/fail", "")
    fail_script = TMP.write("fail.php", FAIL_SCRIPT)
    markers = TMP.sub("markers", mode=0o777)
    tcp_port = H.free_port()
    common = {"pm": "static", "pm.status_path": "/status", "ping.path": "/ping"}
    pools = [
        dict(common, name="classic", listen=sock("classic"), **{
            "pm.max_children": 3, "access.log": access_log("classic"),
            "access.format": CLASSIC_FORMAT, "access.suppress_path": ["/ping"]}),
        dict(common, name="tcp", listen="127.0.0.1:%d" % tcp_port, **{
            "pm.max_children": 1, "ping.response": "tcp is alive",
            "access.log": access_log("tcp")}),
        dict(common, name="worker", listen=sock("worker"), **{
            "pm.max_children": 1, "worker": os.path.join(H.FIXTURES, "worker", "app.php"),
            "env": ["WORKER_MARKER_DIR=%s" % markers],
            "access.log": access_log("worker"),
            "access.format": "%n %m %{REQUEST_URI}e %r %s"}),
        dict(common, name="recycle", listen=sock("recycle"), **{
            "pm.max_children": 1, "pm.max_requests": 2}),
        dict(common, name="failing", listen=sock("failing"), **{
            "pm.max_children": 2, "worker": fail_script, "env": ["FAIL_DIR=%s" % FAIL_DIR]}),
    ]
    MAIN = H.Pfpm(TMP, "pfpm", pools, ini, scan)
    MAIN.start()
    fcgi_paths = r"^/(status|ping)$"
    servers = [{"name": p["name"], "backend": p["listen"], "root": DOCROOT,
                "also_fastcgi": fcgi_paths} for p in pools]
    NGINX = H.Nginx(TMP, servers)
    NGINX.start()


def teardown_module():
    for d in (NGINX, MAIN):
        if d is not None:
            d.stop()
    if TMP is not None:
        TMP.cleanup()


def diag():
    return "--- pfpm log ---\n%s" % H.tail(MAIN.log_path, 25)


def get(pool, path, **kw):
    return H.http_request(NGINX.server(pool)["port"], path=path, **kw)


def status(pool, query="json"):
    r = get(pool, "/status?" + query if query else "/status")
    assert r.status == 200, "%s /status?%s: %s %r\n%s" % (pool, query, r.status, r.body[:300], diag())
    return r


def status_json(pool, full=False):
    r = status(pool, "json&full" if full else "json")
    assert r.header("Content-Type") == "application/json", r.headers
    return json.loads(r.text())


def lines_of(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def wait_lines(path, n, timeout=10):
    """The file's lines once it has at least n of them."""
    H.wait_for(lambda: len(lines_of(path)) >= n, timeout)
    return lines_of(path)


# ---------------------------------------------------------------------------
# ping


def test_ping():
    r = get("classic", "/ping")
    assert r.status == 200 and r.body == b"pong", (r, r.body, diag())
    assert r.header("Content-Type") == "text/plain;charset=UTF-8", r.headers
    for k, v in NO_CACHE.items():
        assert r.header(k) == v, (k, r.headers)
    assert r.header("X-Powered-By", "").startswith("PHP/"), r.headers   # expose_php = On
    r = get("classic", "/ping", method="HEAD")
    assert r.status == 200 and r.body == b"", r
    r = get("tcp", "/ping")
    assert r.body == b"tcp is alive", r.body


# ---------------------------------------------------------------------------
# the page, in each format


def test_text_format():
    r = status("classic", "")
    assert r.header("Content-Type") == "text/plain;charset=UTF-8", r.headers
    for k, v in NO_CACHE.items():
        assert r.header(k) == v, (k, r.headers)
    lines = r.text().splitlines()
    names = [l.split(":", 1)[0] for l in lines]
    assert names == FPM_POOL_KEYS + PFPM_POOL_KEYS, names
    fields = dict((l.split(":", 1)[0], l.split(":", 1)[1].strip()) for l in lines)
    assert fields["pool"] == "classic" and fields["process manager"] == "static", fields
    assert fields["mode"] == "classic", fields
    assert re.match(r"^\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$", fields["start time"]), fields
    # php-fpm's column: values start at the 23rd character
    assert lines[0] == "pool:                 classic", lines[0]
    assert int(fields["total processes"]) == 3, fields
    assert int(fields["active processes"]) >= 1, fields     # this request
    assert fields["listen queue len"] == "0", fields        # unix socket, as php-fpm
    # ?full: one block per process
    text = status("classic", "full").text()
    blocks = text.split("\n************************\n")[1:]
    assert len(blocks) == 3, text
    names = [l.split(":", 1)[0] for l in blocks[0].splitlines() if l]
    want = [k if k != "request uri" else "request URI" for k in FPM_PROC_KEYS] + ["memory", "role"]
    assert names == want, names


def test_json_format():
    r = status("classic", "json&full")
    doc = json.loads(r.text(), object_pairs_hook=collections.OrderedDict)
    assert list(doc.keys()) == FPM_POOL_KEYS + PFPM_POOL_KEYS + ["processes"], list(doc.keys())
    assert len(doc["processes"]) == doc["total processes"] == 3, doc
    for p in doc["processes"]:
        assert list(p.keys()) == FPM_PROC_KEYS + ["memory", "role"], list(p.keys())
    me = [p for p in doc["processes"] if p["request uri"] == "/status?json&full"]
    assert len(me) == 1 and me[0]["state"] == "Running", doc["processes"]
    # json alone: no processes; '/' escaped as PHP does
    assert "processes" not in status_json("classic")
    assert '"request uri":"\\/status?json&full"' in r.text(), r.text()


def test_xml_format():
    r = status("classic", "xml&full")
    assert r.header("Content-Type") == "text/xml;charset=UTF-8", r.headers
    root = ET.fromstring(r.body)
    assert root.tag == "status"
    tags = [c.tag for c in root]
    want = [k.replace(" ", "-") for k in FPM_POOL_KEYS + PFPM_POOL_KEYS] + ["processes"]
    assert tags == want, tags
    procs = root.find("processes")
    assert len(procs) == 3, ET.tostring(root)
    assert [c.tag for c in procs[0]] == [k.replace(" ", "-") for k in FPM_PROC_KEYS] + ["memory", "role"]
    uris = [p.find("request-uri").text for p in procs]
    assert "/status?xml&full" in uris, uris       # &amp; decoded by the parser
    assert b"/status?xml&amp;full" in r.body


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.tag = [], None

    def handle_starttag(self, tag, attrs):
        self.tag = tag

    def handle_data(self, data):
        if self.tag in ("th", "td"):
            self.cells.append((self.tag, data))
            self.tag = None


def test_html_format():
    r = status("classic", "html&full")
    assert r.header("Content-Type") == "text/html;charset=UTF-8", r.headers
    t = r.text()
    assert t.startswith("<!DOCTYPE html") and t.endswith("</table></body></html>"), t[-80:]
    assert "<tr><th>pool</th><td>classic</td></tr>" in t
    assert "<tr><th>mode</th><td>classic</td></tr>" in t
    p = _Cells()
    p.feed(t)
    heads = [d for k, d in p.cells if k == "th"]
    assert heads[:len(FPM_POOL_KEYS)] == FPM_POOL_KEYS, heads
    assert heads[-len(FPM_PROC_KEYS) - 2:] == FPM_PROC_KEYS + ["memory", "role"], heads
    assert t.count("<tr><td>") == 3, t


OM_LINE = re.compile(r'^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[a-z_]+"\})? \d+)$')


def test_openmetrics_format():
    r = status("classic", "openmetrics&full")
    assert r.header("Content-Type") == \
        "application/openmetrics-text; version=1.0.0; charset=utf-8", r.headers
    t = r.text()
    assert t.endswith("\n# EOF\n"), t[-100:]
    values = {}
    for line in t.splitlines()[:-1]:
        assert OM_LINE.match(line), "not an openmetrics line: %r" % line
        if not line.startswith("#"):
            name, v = line.rsplit(" ", 1)
            values[name] = int(v)
    assert values["phpfpm_up"] == 1
    assert values["phpfpm_total_processes"] == 3
    assert values["phpfpm_idle_processes"] + values["phpfpm_active_processes"] == 3
    assert values['pfpm_mode_info{mode="classic"}'] == 1
    assert values["pfpm_boots_total"] >= 3
    assert 'pfpm_recycles_total{reason="crash"}' in values
    assert "pid" not in t      # as php-fpm: no per-process metrics


def test_slow_request_in_full():
    """A request in flight: one more active process, its method and URI."""
    box = {}

    def slow():
        box["r"] = get("classic", "/proc_info.php?sleep=2.5&token=slow", method="POST",
                       body=b"abc", headers={"Content-Type": "application/x-www-form-urlencoded"})
    t = threading.Thread(target=slow, daemon=True)
    t.start()

    def busy():
        doc = status_json("classic", full=True)
        running = [p for p in doc["processes"]
                   if p["request uri"].startswith("/proc_info.php?")]
        return (doc, running[0]) if running else None
    found = H.wait_for(busy, 10, 0.1)
    assert found, "the slow request never showed in ?full\n%s" % diag()
    doc, p = found
    assert p["state"] == "Running", p
    assert p["request method"] == "POST", p
    assert p["request uri"] == "/proc_info.php?sleep=2.5&token=slow", p
    assert p["content length"] == 3, p
    assert p["script"] == os.path.join(DOCROOT, "proc_info.php"), p
    assert p["last request cpu"] == 0 and p["last request memory"] == 0, p
    assert doc["active processes"] >= 2, doc           # the slow one and this one
    assert doc["idle processes"] + doc["active processes"] == 3, doc
    assert doc["max active processes"] >= 2, doc
    t.join(30)
    assert box["r"].status == 200, box
    doc = status_json("classic", full=True)
    assert not [p for p in doc["processes"] if p["request uri"].startswith("/proc_info.php?")
                and p["state"] == "Running"], doc
    # its duration, as the access log saw it (%d, seconds)
    line = [l for l in wait_lines(access_log("classic"), 1) if "token=slow" in l]
    assert line, diag()
    assert float(parse_classic(line[-1])["d"]) >= 2.5, line


def test_fpm_get_status_matches_page():
    r = get("classic", "/get_status.php")
    assert r.status == 200, (r, r.body[:300])
    got = json.loads(r.text())
    fpm, own = got["fpm"], got["pfpm"]
    assert list(fpm.keys()) == [
        "pool", "process-manager", "start-time", "start-since", "accepted-conn", "listen-queue",
        "max-listen-queue", "listen-queue-len", "idle-processes", "active-processes",
        "total-processes", "max-active-processes", "max-children-reached", "slow-requests",
        "procs"], list(fpm.keys())
    assert list(fpm["procs"][0].keys()) == [
        "pid", "state", "start-time", "start-since", "requests", "request-duration",
        "request-method", "request-uri", "query-string", "request-length", "user", "script",
        "last-request-cpu", "last-request-memory"], list(fpm["procs"][0].keys())
    me = [p for p in fpm["procs"] if p["state"] == "Running" and p["request-uri"] == "/get_status.php"]
    assert len(me) == 1, fpm["procs"]
    assert me[0]["script"] == os.path.join(DOCROOT, "get_status.php"), me
    page = status_json("classic")
    assert fpm["pool"] == page["pool"] and fpm["start-time"] == page["start time"]
    assert fpm["total-processes"] == page["total processes"]
    assert page["accepted conn"] > fpm["accepted-conn"]         # counts requests, this one too
    assert own["mode"] == "classic" and own["failing"] is False, own
    assert set(own["recycles"]) == {"max_requests", "max_memory", "fatal", "crash"}, own
    assert "memory" in own["procs"][0], own["procs"][0]


def test_listen_queue_tcp():
    doc = status_json("tcp")
    assert doc["listen queue len"] > 0, doc      # the backlog, from TCP_INFO
    assert doc["listen queue"] == 0, doc
    assert status_json("classic")["listen queue len"] == 0


# ---------------------------------------------------------------------------
# access log


def parse_classic(line):
    parts = line.split("|")
    assert len(parts) == len(CLASSIC_FIELDS), "field count %d: %r" % (len(parts), line)
    return dict(zip(CLASSIC_FIELDS, parts))


def test_access_log_tokens():
    path = access_log("classic")
    tok = "tok%d" % os.getpid()
    auth = "Basic " + base64.b64encode(b"alice:secret").decode()
    reqs = [
        ("GET", "/proc_info.php?token=%s-1&pad=3000" % tok, None, {}),
        ("POST", "/proc_info.php?token=%s-2" % tok, b"a=1&b=2",
         {"Content-Type": "application/x-www-form-urlencoded"}),
        ("GET", "/no-such-script.php?token=%s-3" % tok, None, {}),
        ("GET", "/proc_info.php?token=%s-4" % tok, None, {"Authorization": auth}),
        ("GET", "/hello.php?token=%s-5" % tok, None, {}),
    ]
    pids = {}
    for method, uri, body, headers in reqs:
        r = get("classic", uri, method=method, body=body, headers=headers)
        if r.status == 200 and uri.startswith("/proc_info.php"):
            pids[uri] = json.loads(r.text())["pid"]

    def mine():
        got = [l for l in lines_of(path) if tok in l]
        return got if len(got) >= len(reqs) else None
    lines = H.wait_for(mine, 10)
    assert lines and len(lines) == len(reqs), "lines for %d requests:\n%s\n%s" % (
        len(reqs), "\n".join(l for l in lines_of(path) if tok in l), diag())
    lines.sort(key=lambda l: l[l.index(tok):])
    for (method, uri, body, headers), line in zip(reqs, lines):
        f = parse_classic(line)
        script_name, _, query = uri.partition("?")
        assert f["R"] == "-", f                                  # unix socket, as php-fpm
        assert f["u"] == ("alice" if "Authorization" in headers else ""), f
        assert re.match(r"^\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$", f["t"]), f
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", f["t_custom"]), f
        assert re.match(r"^\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$", f["T"]), f
        assert f["m"] == method and f["r"] == script_name and f["q"] == query, f
        assert f["Q"] == ("?" if query else ""), f
        assert f["n"] == "classic" and f["P"] == str(MAIN.pid), f
        assert f["l"] == str(len(body) if body else 0), f
        assert f["e_uri"] == uri and f["e_host"] == "localhost", f
        assert f["pct"] == "%", f
        assert re.match(r"^\d+\.\d{3}$", f["d"]) and re.match(r"^\d+$", f["d_micro"]), f
        assert re.match(r"^\d+\.\d{3}$", f["d_mili"]), f
        assert abs(float(f["d_mili"]) - int(f["d_micro"]) / 1000.0) < 0.01, f
        for k in ("C", "C_user", "C_system"):
            assert re.match(r"^\d+\.\d\d$", f[k]), f
        assert int(f["M"]) > 0 and int(f["M_kilo"]) == int(f["M"]) // 1024, f
        if "no-such" in uri:
            assert f["s"] == "404" and f["f"] == "-", f
        else:
            assert f["s"] == "200", f
            assert f["f"] == os.path.join(DOCROOT, script_name.lstrip("/")), f
        if uri in pids:
            assert f["p"] == str(pids[uri]), (f, pids)
            assert f["o_ctype"] == "application/json", f      # set by the script
        if script_name == "/hello.php":
            assert f["o_ctype"] == "-", f                     # PHP's default: not yet a header


def test_access_log_builtin_pages_and_suppress():
    path = access_log("classic")
    tok = "tok%d" % os.getpid()
    get("classic", "/ping")                          # suppressed
    get("classic", "/ping", method="HEAD")           # suppressed
    get("classic", "/ping?x=%s" % tok)               # a query string: logged
    get("classic", "/status?json&x=%s" % tok)        # not listed: logged

    def mine():
        got = [parse_classic(l) for l in lines_of(path) if tok in l and "/proc_info" not in l
               and "/hello" not in l and "/no-such" not in l]
        return got if len(got) >= 2 else None
    got = H.wait_for(mine, 10)
    assert got and len(got) == 2, (got, diag())
    by_uri = dict((f["r"], f) for f in got)
    assert set(by_uri) == {"/ping", "/status"}, got
    assert by_uri["/ping"]["q"] == "x=" + tok, got
    f = by_uri["/status"]
    assert f["s"] == "200" and f["o_ctype"] == "application/json" and f["f"] == "-", f
    time.sleep(0.3)
    # suppressed: never a /ping line without a query string
    assert not [l for l in lines_of(path) if parse_classic(l)["r"] == "/ping" and
                not parse_classic(l)["q"]], lines_of(path)


def test_access_log_tcp_default_format():
    path = access_log("tcp")
    start = len(lines_of(path))
    get("tcp", "/hello.php?x=1")
    line = wait_lines(path, start + 1)[start]
    # "%R - %u %t \"%m %r\" %s"
    assert re.match(r'^127\.0\.0\.1 -  \d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4} "GET /hello\.php" 200$',
                    line), line


def test_usr1_reopens_access_log():
    path = access_log("classic")
    old = path + ".1"
    get("classic", "/hello.php?before=1")
    assert H.wait_for(lambda: any("before=1" in l for l in lines_of(path)), 10), diag()
    os.rename(path, old)
    get("classic", "/hello.php?renamed=1")           # still the old file: not reopened yet
    assert H.wait_for(lambda: any("renamed=1" in l for l in lines_of(old)), 10), diag()
    offset = H.file_size(MAIN.log_path)
    MAIN.send_signal(signal.SIGUSR1)
    assert H.wait_for(lambda: "log files reopened" in H.read_new(MAIN.log_path, offset)[0], 10), diag()
    # every process of the pool writes to the new file at once
    for i in range(6):
        get("classic", "/proc_info.php?after=%d" % i)
    assert H.wait_for(lambda: len([l for l in lines_of(path) if "after=" in l]) == 6, 10), \
        (lines_of(path), diag())
    assert not any("after=" in l for l in lines_of(old)), lines_of(old)
    assert os.stat(path).st_uid == os.stat(old).st_uid


# ---------------------------------------------------------------------------
# worker mode


def worker_info():
    r = get("worker", "/index.php/info")
    assert r.status == 200, (r, r.body[:300], diag())
    return json.loads(r.text())


def test_worker_mode_script_never_sees_status():
    before = worker_info()
    for q in ("", "json", "full", "xml&full", "openmetrics", "html"):
        status("worker", q)
    for _ in range(3):
        assert get("worker", "/ping").body == b"pong"
    after = worker_info()
    assert after["pid"] == before["pid"] and after["boots"] == 1, (before, after)
    assert after["served"] == before["served"] + 1, \
        "the worker script saw the status/ping requests: %s -> %s" % (before["served"], after["served"])
    doc = status_json("worker", full=True)
    assert doc["mode"] == "worker" and doc["total processes"] == 1, doc
    me = doc["processes"][0]
    assert me["pid"] == before["pid"] and me["state"] == "Running", me
    assert me["request uri"] == "/status?json&full", me
    assert me["requests"] >= after["served"] + 9, me          # the page's requests count
    assert me["memory"] > 0, me                                # the booted application
    # the access log has them all, with the worker's own lines
    lines = wait_lines(access_log("worker"), 12)
    assert "worker GET /index.php/info /index.php 200" in lines, lines
    assert "worker GET /status?json /status 200" in lines, lines
    assert "worker GET /ping /ping 200" in lines, lines


def test_worker_fatal_is_a_recycle():
    before = status_json("worker")
    r = get("worker", "/index.php/user-error")
    assert r.status == 500, r
    assert H.wait_for(lambda: status_json("worker")["recycled fatal"] == before["recycled fatal"] + 1,
                      15, 0.2), (status_json("worker"), diag())
    after = status_json("worker")
    assert after["boots"] == before["boots"] + 1, (before, after)
    assert after["recycled crash"] == before["recycled crash"], after
    want = "worker GET /index.php/user-error /index.php 500"
    assert H.wait_for(lambda: want in lines_of(access_log("worker")), 10), \
        lines_of(access_log("worker"))[-5:]


# ---------------------------------------------------------------------------
# recycles, boots, crashes, failing


def test_max_requests_counted():
    first = status_json("recycle")
    for _ in range(5):
        assert get("recycle", "/hello.php").status == 200
    # the page's own requests count too, as in php-fpm
    doc = H.wait_for(lambda: (lambda d: d if d["recycled max requests"] >= first["recycled max requests"] + 2
                              else None)(status_json("recycle")), 15, 0.2)
    assert doc, (status_json("recycle"), diag())
    assert doc["boots"] >= first["boots"] + 2, doc
    assert doc["recycled crash"] == 0 and doc["failing"] == 0, doc


def test_crash_counted():
    """A process killed by a signal nobody sent is a crash."""
    before = status_json("tcp")
    r = get("tcp", "/proc_info.php")
    pid = json.loads(r.text())["pid"]
    start = [p for p in status_json("tcp", full=True)["processes"] if p["pid"] == pid]
    assert start, diag()
    if start[0]["start since"] < 2:
        time.sleep(2 - start[0]["start since"])     # older than the "failing quickly" window
    os.kill(pid, signal.SIGSEGV)
    doc = H.wait_for(lambda: (lambda d: d if d["recycled crash"] == before["recycled crash"] + 1
                              and d["total processes"] == 1 else None)(status_json("tcp")), 15, 0.2)
    assert doc, (status_json("tcp"), diag())
    assert doc["failing"] == 0 and doc["boots"] == before["boots"] + 1, doc


def test_failing_pool():
    doc = H.wait_for(lambda: (lambda d: d if d["failing"] == 1 else None)(status_json("failing")), 15, 0.2)
    assert doc, (status_json("failing"), diag())
    assert doc["total processes"] == 1, doc           # the one that booted serves the page
    assert doc["recycled crash"] == 0, doc           # a boot failure is not a crash
    assert doc["boots"] >= 3, doc
    om = status("failing", "openmetrics").text()
    assert "\npfpm_failing 1\n" in om, om
    os.unlink(os.path.join(FAIL_DIR, "fail"))
    doc = H.wait_for(lambda: (lambda d: d if d["failing"] == 0 and d["total processes"] == 2 else None)(
        status_json("failing")), 40, 0.2)
    assert doc, (status_json("failing"), diag())


# ---------------------------------------------------------------------------
# configuration


def test_config_errors():
    """php-fpm's rules for the paths and the format, each error with its line."""
    conf = TMP.write("bad.conf", "\n".join([
        "pool www {",
        '    listen = "%s"' % TMP.file("bad.sock"),
        "    pm.status_path = status",
        '    ping.path = "/pi ng"',
        '    access.format = "%{x}f"',
        '    access.suppress_path = {"ping"}',
        "}",
        "pool two {",
        '    listen = "%s"' % TMP.file("bad2.sock"),
        '    pm.status_path = "/"',
        '    access.format = "%e %Z"',
        "}",
        ""]))
    argv = [H.pfpm_binary(), "-t", "-c", conf] + (["-R"] if H.IS_ROOT else [])
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=H.base_env(),
                       timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 1, (p.returncode, out)
    for want in ["bad.conf:3: option 'pm.status_path': 'status' must start with a '/'",
                 "bad.conf:4: option 'ping.path': '/pi ng' must contain only the following "
                 "characters '[alphanum]/_-.~'",
                 "bad.conf:5: option 'access.format': embrace is not allowed for: %f in '%{x}f'",
                 "bad.conf:1: [pool www] option 'access.suppress_path': 'ping' must start with a '/'",
                 "bad.conf:10: option 'pm.status_path': '/' is not long enough",
                 "bad.conf:11: option 'access.format': the name of the environment variable must be "
                 "set between embraces for %e in '%e %Z'"]:
        assert want in out, "missing %r in:\n%s" % (want, out)
