"""Faults and hostile input: malformed FastCGI (raw bytes on the pool's
socket), clients that vanish, oversized bodies, PHP_VALUE injection,
listen.allowed_clients, IPv6, request_terminate_timeout.

The protocol tests share one pfpm with pm = static and ONE worker: after
each hostile exchange a good request on a new connection must be answered
by the same worker pid (the bad input ended that connection, not the
worker) and the master must still have exactly that one child.
"""

import os
import socket
import struct
import time

import harness as H
import procutil as P
from procutil import (ABORT_REQUEST, AUTHORIZER, BEGIN_REQUEST, CANT_MPX_CONN, END_REQUEST,
                      GET_VALUES, GET_VALUES_RESULT, PARAMS, STDIN, UNKNOWN_ROLE)

TMP = None
SRV = None        # the shared one-worker pfpm


def setup_module():
    global TMP, SRV
    ok, why = H.pfpm_available()
    if not ok:
        raise H.Skip(why)
    TMP = H.TestDir("pfpm-faults")
    SRV = P.start_pfpm(TMP, "faults", pool={"pm": "static", "pm.max_children": 1},
                       wait_children=1)


def teardown_module():
    if SRV is not None:
        SRV.stop()
    if TMP is not None:
        TMP.cleanup()


def _worker():
    """The shared server's single worker pid (after a good request)."""
    assert SRV.alive(), "master died\n%s" % H.tail(SRV.log_path)
    return P.get_pid(SRV.addr(), timeout=15)


def _survived(before, what):
    """A good request on a new connection is served by the same worker."""
    try:
        after = P.get_pid(SRV.addr(), timeout=15)
    except AssertionError as e:
        raise AssertionError("after %s the next request failed: %s\n%s" % (what, e, H.tail(SRV.log_path, 15)))
    assert after == before, "after %s the request was served by a new worker %d (was %d)\n%s" % (
        what, after, before, H.tail(SRV.log_path, 15))
    assert SRV.workers() == [before], "after %s the master's children are %s (expected [%d])" % (
        what, SRV.workers(), before)


def _exchange(data, timeout=10, shut=True, **kw):
    """Send raw bytes on a new connection, read whatever comes back."""
    s = P.connect(SRV.addr(), timeout)
    try:
        sent = P.send_all(s, data)
        if shut and sent:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        r = P.read_reply(s, timeout=timeout, **kw)
        r.sent = sent
        return r
    finally:
        s.close()


def _good_tail(rid=1):
    p = P.script_params(os.path.join(H.PHP_FIXTURES, "proc_info.php"))
    return P.params(rid, p) + P.stream(STDIN, rid, b"")


def _no_response(r, what):
    assert not r.timeout, "%s: the worker neither answered nor closed the connection: %r" % (what, r)
    assert r.status != 200, "%s was served?! %r" % (what, r)


# ---------------------------------------------------------------------------
# malformed FastCGI


def test_bad_version_byte():
    pid = _worker()
    data = P.record(BEGIN_REQUEST, 1, struct.pack("!HB5x", 1, 0), version=2) + _good_tail()
    r = _exchange(data)
    _no_response(r, "a record with version 2")
    assert r.eof or r.reset, r
    _survived(pid, "a bad version byte")


def test_param_name_length_2g():
    pid = _worker()
    body = b"\xff\xff\xff\xff" + b"\x01" + b"A" * 64      # name length 2^31-1, value length 1
    data = P.begin(1) + P.record(PARAMS, 1, body) + P.record(PARAMS, 1, b"") + P.stream(STDIN, 1, b"")
    r = _exchange(data)
    _no_response(r, "a param claiming a 2 GiB name")
    _survived(pid, "a param with a 2^31 name length")


def test_params_over_1mib():
    pid = _worker()
    big = [("HTTP_X_BIG_%d" % i, "v" * 60000) for i in range(20)]     # ~1.2 MB of params
    p = P.script_params(os.path.join(H.PHP_FIXTURES, "proc_info.php")) + big
    data = P.begin(1) + P.params(1, p) + P.stream(STDIN, 1, b"")
    r = _exchange(data, timeout=15)
    _no_response(r, "1.2 MB of params")
    _survived(pid, "params over 1 MiB")


def test_params_just_under_limit_are_served():
    """The near miss of test_params_over_1mib: ~600 KB of params is legal."""
    pid = _worker()
    big = [("HTTP_X_BIG_%d" % i, "v" * 60000) for i in range(10)]
    r = P.fcgi_request(SRV.addr(), "proc_info.php", extra=dict(big), timeout=15)
    assert r.ok(), "600 KB of params should be served: %r" % r
    assert r.json()["pid"] == pid


def test_stdin_before_begin():
    pid = _worker()
    data = P.record(STDIN, 1, b"a=1&b=2") + P.begin(1) + _good_tail()
    r = _exchange(data)
    _no_response(r, "STDIN before BEGIN_REQUEST")
    _survived(pid, "STDIN before BEGIN_REQUEST")


def test_truncated_header_then_close():
    pid = _worker()
    r = _exchange(b"\x01\x01\x00")           # 3 of 8 header bytes, then EOF
    _no_response(r, "a truncated header")
    _survived(pid, "a truncated header")
    # also truncated inside a request (params half sent)
    data = P.begin(1) + P.params(1, P.script_params("proc_info.php"))[:40]
    r = _exchange(data)
    _no_response(r, "truncated params")
    _survived(pid, "truncated params")


def test_garbage_bytes():
    pid = _worker()
    junk = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" + H.pattern_bytes(8192, b"garbage")
    r = _exchange(junk)
    _no_response(r, "HTTP garbage")
    junk = b"\x01" + H.pattern_bytes(8192, b"garbage2")      # valid version, random rest
    r = _exchange(junk)
    _no_response(r, "random records")
    _survived(pid, "garbage bytes")


def test_unknown_role():
    pid = _worker()
    s = P.connect(SRV.addr(), 10)
    try:
        s.sendall(P.begin(1, role=AUTHORIZER) + _good_tail())
        r = P.read_reply(s, rid=1, timeout=10)
    finally:
        s.close()
    assert r.end is not None, "no END_REQUEST for an unknown role: %r" % r
    assert r.end[1] == UNKNOWN_ROLE, "protocol status %d, expected FCGI_UNKNOWN_ROLE (3)" % r.end[1]
    assert r.status != 200 and not r.stdout, "a request with an unknown role was executed: %r" % r
    _survived(pid, "BEGIN_REQUEST with role AUTHORIZER")
    # a role number nobody knows
    s = P.connect(SRV.addr(), 10)
    try:
        s.sendall(P.record(BEGIN_REQUEST, 7, struct.pack("!HB5x", 77, 0)))
        r = P.read_reply(s, rid=7, timeout=10)
    finally:
        s.close()
    assert r.end is not None and r.end[1] == UNKNOWN_ROLE, r
    _survived(pid, "BEGIN_REQUEST with role 77")


def test_get_values():
    pid = _worker()
    q = (P.nv_pair("FCGI_MAX_CONNS", "") + P.nv_pair("FCGI_MAX_REQS", "")
         + P.nv_pair("FCGI_MPXS_CONNS", ""))
    s = P.connect(SRV.addr(), 10)
    try:
        s.sendall(P.record(GET_VALUES, 0, q))
        r = P.read_reply(s, timeout=10, stop=lambda rec: rec[1] == GET_VALUES_RESULT)
    finally:
        s.close()
    res = [rec for rec in r.records if rec[1] == GET_VALUES_RESULT]
    assert res, "no GET_VALUES_RESULT: %r" % r
    assert res[0][2] == 0, "GET_VALUES_RESULT must use request id 0"
    values = dict(P.parse_nv(res[0][3]))
    assert values.get(b"FCGI_MPXS_CONNS") == b"0", values
    for k in (b"FCGI_MAX_CONNS", b"FCGI_MAX_REQS"):
        assert k in values and values[k].isdigit() and int(values[k]) >= 1, values
    _survived(pid, "GET_VALUES")


def test_second_begin_cant_mpx():
    pid = _worker()
    s = P.connect(SRV.addr(), 10)
    try:
        s.sendall(P.begin(1) + P.begin(2) + _good_tail(1))
        r = P.read_reply(s, rid=1, timeout=10)
    finally:
        s.close()
    ends = [(rec[2], struct.unpack("!IB3x", rec[3][:8])) for rec in r.records if rec[1] == END_REQUEST]
    assert any(rid == 2 and st[1] == CANT_MPX_CONN for rid, st in ends), \
        "expected END_REQUEST(id 2, FCGI_CANT_MPX_CONN): %r / %r" % (ends, r)
    assert r.ok(), "the first request must still be served: %r" % r
    assert r.json()["pid"] == pid
    _survived(pid, "a second BEGIN_REQUEST")


def test_abort_request_mid_body():
    pid = _worker()
    n = 100000
    p = P.script_params(os.path.join(H.PHP_FIXTURES, "proc_post.php"), method="POST", body_len=n)
    data = (P.begin(1, keep=True) + P.params(1, p) + P.record(STDIN, 1, b"a=" + b"x" * 998)
            + P.record(ABORT_REQUEST, 1))
    s = P.connect(SRV.addr(), 10)
    try:
        s.sendall(data)
        r = P.read_reply(s, rid=1, timeout=10)
    finally:
        s.close()
    assert not r.timeout, "ABORT_REQUEST mid-body: no END_REQUEST and no close: %r" % r
    assert r.status != 200 or r.end is not None, r
    _survived(pid, "ABORT_REQUEST mid-body")


def test_client_disconnects_mid_body():
    pid = _worker()
    n = 1024 * 1024
    p = P.script_params(os.path.join(H.PHP_FIXTURES, "proc_post.php"), method="POST", body_len=n)
    s = P.connect(SRV.addr(), 10)
    try:
        s.sendall(P.begin(1) + P.params(1, p))
        half = b"a=" + b"x" * (n // 2)
        P.send_all(s, P.stream(STDIN, 1, half, terminate=False))
    finally:
        s.close()
    _survived(pid, "a client vanishing after half of a 1 MB body")
    # and a client that vanishes before sending any body at all
    s = P.connect(SRV.addr(), 10)
    s.sendall(P.begin(1) + P.params(1, p))
    s.close()
    _survived(pid, "a client vanishing before the body")


def test_keepalive_connection_reuse():
    """FCGI_KEEP_CONN: three requests on one connection (GET, and POST with a
    body) are all served, as php-fpm does (also the near miss for the hostile
    cases above: they do not pass merely because every connection is dropped)."""
    pid = _worker()
    for method, body in (("GET", None), ("POST", b"a=1&b=2")):
        s = P.connect(SRV.addr(), 10)
        try:
            for i in range(3):
                r = P.fcgi_request(None, "proc_info.php", P.q(token=str(i)), method=method,
                                   body=body, keep=True, rid=i + 1, sock=s)
                assert r.ok(), "%s keep-alive request %d on one connection failed: %r" % (method, i + 1, r)
                assert r.json()["token"] == str(i) and r.json()["pid"] == pid
        finally:
            s.close()


# ---------------------------------------------------------------------------
# oversized body (post_max_size) vs php-fpm


def test_post_over_post_max_size():
    ini = {"post_max_size": "1M", "display_errors": "Off"}
    pf = P.start_pfpm(TMP, "postmax", pool={"pm": "static", "pm.max_children": 1},
                      ini=ini, wait_children=1)
    ref = None
    ng = None
    try:
        ini_path, scan = P.php_ini(TMP, "postmax-fpm", ini)
        ref = H.PhpFpm(TMP, "postmax-fpm", [{"name": "www", "listen": TMP.file("postmax-fpm.sock"),
                                             "pm": "static", "pm.max_children": 1}],
                       ini_path, scan_dir=scan)
        ref.start()
        ng = H.Nginx(TMP, [{"name": "pf", "backend": pf.addr()},
                           {"name": "fpm", "backend": ref.listen()}], name="nginx-postmax")
        ng.start()
        pid = P.get_pid(pf.addr())
        body = b"a=" + b"x" * (2 * 1024 * 1024 - 2)
        hdrs = [("Content-Type", "application/x-www-form-urlencoded")]
        rp = H.http_request(ng.server("pf")["port"], "POST", "/proc_post.php", headers=hdrs, body=body)
        rf = H.http_request(ng.server("fpm")["port"], "POST", "/proc_post.php", headers=hdrs, body=body)
        assert rp.status == 200, "pfpm: status %r %r" % (rp.status, rp.body[:300])
        j = __import__("json").loads(rp.body)
        assert j["post_count"] == 0, j
        assert j["error"] and "exceeds the limit" in j["error"], j
        d = H.diff_normalized(H.normalize(rf), H.normalize(rp))
        assert d is None, "pfpm differs from php-fpm on a POST over post_max_size:\n%s" % d
        assert P.get_pid(pf.addr()) == pid, "the worker did not survive the oversized POST"
        rp2 = H.http_request(ng.server("pf")["port"], "POST", "/proc_post.php", headers=hdrs,
                             body=b"a=1&b=2")
        assert rp2.status == 200 and __import__("json").loads(rp2.body)["post_count"] == 2, rp2.body
    finally:
        if ng:
            ng.stop()
        if ref:
            ref.stop()
        pf.stop()


# ---------------------------------------------------------------------------
# PHP_VALUE / PHP_ADMIN_VALUE


HOSTILE = {"PHP_VALUE": "memory_limit=1G\nauto_prepend_file=/etc/passwd",
           "PHP_ADMIN_VALUE": "auto_prepend_file=/etc/passwd\nopen_basedir=/nonexistent"}
INI_Q = P.q(ini="memory_limit,auto_prepend_file,open_basedir,default_charset")


def test_php_value_ignored_by_default():
    b = P.start_pfpm(TMP, "phpval-no", pool={"pm": "static", "pm.max_children": 1,
                                              "php_value": {"memory_limit": "100M"}},
                     wait_children=1)
    try:
        r = P.fcgi_request(b.addr(), "proc_info.php", INI_Q, extra=HOSTILE)
        assert r.ok(), r
        assert b"root:" not in r.stdout, "/etc/passwd was prepended!"
        ini = r.json()["ini"]
        assert ini["memory_limit"] == "100M", "PHP_VALUE applied without fastcgi.allow_php_value: %r" % ini
        assert ini["auto_prepend_file"] in ("", False), ini
        assert ini["open_basedir"] in ("", False), ini
    finally:
        b.stop()


def test_php_value_applied_when_allowed():
    b = P.start_pfpm(TMP, "phpval-yes", pool={"pm": "static", "pm.max_children": 1,
                                               "fastcgi.allow_php_value": True,
                                               "php_value": {"memory_limit": "100M"}},
                     wait_children=1)
    try:
        r = P.fcgi_request(b.addr(), "proc_info.php", INI_Q,
                           extra={"PHP_VALUE": "memory_limit=200M\ndefault_charset=ISO-8859-1"})
        assert r.ok(), r
        ini = r.json()["ini"]
        assert ini["memory_limit"] == "200M" and ini["default_charset"] == "ISO-8859-1", \
            "PHP_VALUE not applied with fastcgi.allow_php_value = yes: %r" % ini
        # not carried over into the next request of the same worker
        r = P.fcgi_request(b.addr(), "proc_info.php", INI_Q)
        ini = r.json()["ini"]
        assert ini["memory_limit"] == "100M" and ini["default_charset"] == "UTF-8", \
            "PHP_VALUE of one request leaked into the next: %r" % ini
        # PHP_ADMIN_VALUE is applied too
        r = P.fcgi_request(b.addr(), "proc_info.php", INI_Q,
                           extra={"PHP_ADMIN_VALUE": "open_basedir=%s:%s" % (H.PHP_FIXTURES, TMP.path)})
        assert r.ok(), r
        assert r.json()["ini"]["open_basedir"] == "%s:%s" % (H.PHP_FIXTURES, TMP.path), r.json()
    finally:
        b.stop()


def test_php_value_perdir_directive_when_allowed():
    """php-fpm applies PHP_VALUE like php_value in the pool: PHP_INI_PERDIR
    directives (auto_prepend_file, upload_max_filesize, ...) included; that is
    what `fastcgi_param PHP_VALUE "auto_prepend_file=..."` setups rely on."""
    pre = TMP.write("prepend_marker2.php", "<?php echo 'PREPENDED-MARKER';\n")
    b = P.start_pfpm(TMP, "phpval-perdir", pool={"pm": "static", "pm.max_children": 1,
                                                  "fastcgi.allow_php_value": True},
                     wait_children=1)
    try:
        r = P.fcgi_request(b.addr(), "proc_info.php", P.q(ini="auto_prepend_file,upload_max_filesize"),
                           extra={"PHP_VALUE": "auto_prepend_file=%s\nupload_max_filesize=3M" % pre})
        assert r.status == 200, r
        assert r.body.startswith(b"PREPENDED-MARKER"), \
            "PHP_VALUE auto_prepend_file (PHP_INI_PERDIR) not applied: %r\n%s" % (
                r.body[:300], H.tail(b.log_path, 5))
        body = r.body[len(b"PREPENDED-MARKER"):]
        ini = __import__("json").loads(body)["ini"]
        assert ini["upload_max_filesize"] == "3M", ini
    finally:
        b.stop()


def test_php_admin_value_is_locked():
    b = P.start_pfpm(TMP, "phpval-admin", pool={"pm": "static", "pm.max_children": 1,
                                                 "fastcgi.allow_php_value": True,
                                                 "php_admin_value": {"memory_limit": "100M"}},
                     wait_children=1)
    try:
        qs = INI_Q + "&" + P.q(**{"set[memory_limit]": "1G", "set[default_charset]": "ISO-8859-1"})
        r = P.fcgi_request(b.addr(), "proc_info.php", qs)
        j = r.json()
        assert j["set"]["memory_limit"] is False and j["after"]["memory_limit"] == "100M", \
            "ini_set() changed a php_admin_value: %r" % j
        assert j["set"]["default_charset"] is True, "near miss: ordinary ini_set must work: %r" % j
        r = P.fcgi_request(b.addr(), "proc_info.php", INI_Q, extra={"PHP_VALUE": "memory_limit=1G"})
        assert r.ok(), r
        assert r.json()["ini"]["memory_limit"] == "100M", \
            "PHP_VALUE overrode a php_admin_value: %r" % r.json()
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# listen.allowed_clients, IPv6


def _tcp_request(host, port, source=None, timeout=10):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        return P.fcgi_request(None, "proc_info.php", sock=s, timeout=timeout)
    finally:
        s.close()


def test_allowed_clients():
    p1, p2 = H.free_port(), H.free_port()
    pools = [
        {"name": "only2", "listen": "127.0.0.1:%d" % p1, "pm": "static", "pm.max_children": 1,
         "listen.allowed_clients": "127.0.0.2"},
        {"name": "only1", "listen": "127.0.0.1:%d" % p2, "pm": "static", "pm.max_children": 1,
         "listen.allowed_clients": "127.0.0.1"},
    ]
    b = P.start_pfpm(TMP, "allowed", pools=pools, wait_children=2)
    try:
        r = _tcp_request("127.0.0.1", p1)
        assert not r.timeout, r
        assert r.end is None and not r.stdout, "connection from 127.0.0.1 to a pool allowing only 127.0.0.2 was served: %r" % r
        assert b.wait_log("127.0.0.1", 0, 5) and "disallowed" in b.log_text(), H.tail(b.log_path)
        r = _tcp_request("127.0.0.1", p1, source="127.0.0.2")
        assert r.ok(), "connection from the allowed 127.0.0.2 refused: %r" % r
        r = _tcp_request("127.0.0.1", p2)
        assert r.ok(), "allowed 127.0.0.1 refused: %r" % r
        r = _tcp_request("127.0.0.1", p2, source="127.0.0.3")
        assert r.end is None and not r.stdout, "127.0.0.3 served by a pool allowing only 127.0.0.1: %r" % r
        assert len(b.workers()) == 2, b.workers()
    finally:
        b.stop()


def test_ipv6_listen():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
    except OSError as e:
        raise H.Skip("no IPv6 loopback: %s" % e)
    port = H.free_port("::1")
    b = P.start_pfpm(TMP, "ipv6", pool={"listen": "[::1]:%d" % port, "pm": "static",
                                         "pm.max_children": 1}, wait_children=1)
    try:
        r = _tcp_request("::1", port)
        assert r.ok(), r
        srv = P.fcgi_request("[::1]:%d" % port, "proc_info.php")
        assert srv.ok(), srv
        # [::1] only: not reachable over IPv4
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            refused = s.connect_ex(("127.0.0.1", port)) != 0
        finally:
            s.close()
        assert refused, "a pool listening on [::1] accepted an IPv4 connection"
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# request_terminate_timeout


def test_request_terminate_timeout():
    b = P.start_pfpm(TMP, "rtt", pool={"pm": "static", "pm.max_children": 1,
                                        "request_terminate_timeout": "1s"}, wait_children=1)
    try:
        pid = P.get_pid(b.addr())
        r = P.fcgi_request(b.addr(), "proc_info.php", P.q(sleep=5), timeout=30)
        assert not r.timeout, r
        assert not r.ok(), "a 5 s request survived request_terminate_timeout = 1s: %r" % r
        assert b.wait_log("execution timed out", 0, 10), H.tail(b.log_path)
        b.wait_workers(lambda k: len(k) == 1 and pid not in k, 10, "replacement worker")
        r = P.fcgi_request(b.addr(), "proc_info.php", timeout=30)
        assert r.ok() and r.json()["pid"] != pid, r
        # a quick request is not cut
        r = P.fcgi_request(b.addr(), "proc_info.php", P.q(sleep=0.2), timeout=30)
        assert r.ok(), r
    finally:
        b.stop()


def test_slowlog_classic():
    slow = TMP.file("classic.slow.log")
    b = P.start_pfpm(TMP, "slow", pool={"pm": "static", "pm.max_children": 1,
                                         "slowlog": slow, "request_slowlog_timeout": "200ms",
                                         "request_slowlog_trace_depth": 5}, wait_children=1)
    try:
        pid = P.get_pid(b.addr())
        r = P.fcgi_request(b.addr(), "proc_info.php", P.q(sleep=1), timeout=30)
        assert r.ok(), r
        assert H.wait_for(lambda: os.path.exists(slow) and "script_filename" in open(slow).read(), 10, 0.2), \
            "no slowlog entry"
        text = open(slow).read()
        assert "[pool www] pid %d" % pid in text, text
        assert "proc_info.php" in text, text
        # a quick request writes nothing more
        size = os.path.getsize(slow)
        assert P.fcgi_request(b.addr(), "proc_info.php", timeout=30).ok()
        time.sleep(0.5)
        assert os.path.getsize(slow) == size
    finally:
        b.stop()


def test_request_terminate_timeout_via_nginx_502():
    b = P.start_pfpm(TMP, "rtt-ng", pool={"pm": "static", "pm.max_children": 1,
                                           "request_terminate_timeout": "1s"}, wait_children=1)
    ng = H.Nginx(TMP, [{"name": "rtt", "backend": b.addr()}], name="nginx-rtt")
    try:
        ng.start()
        port = ng.server("rtt")["port"]
        r = H.http_request(port, "GET", "/proc_info.php?" + P.q(sleep=5))
        assert r.status == 502, "expected 502 for a terminated request, got %r %r" % (r.status, r.body[:200])
        ok = H.wait_for(lambda: H.http_request(port, "GET", "/proc_info.php").status == 200, 10, 0.2)
        assert ok
    finally:
        ng.stop()
        b.stop()
