"""Self-checks of harness.py: the comparator must be able to fail, generated
configs must look right, and the process helpers must work on real php-fpm.
Fast (about a second); no pfpm needed."""

import email.parser
import email.policy
import os
import signal

import harness as H


def _resp(status=200, reason="OK", headers=(), body=b"", port=None):
    r = H.Response()
    r.status, r.reason, r.headers, r.body = status, reason, list(headers), body
    r.body_len = len(body)
    r.port = port
    return r


def test_normalize_drops_volatile_headers_only():
    a = _resp(headers=[("Date", "x"), ("Server", "nginx"), ("Connection", "keep-alive"),
                       ("Keep-Alive", "timeout=5"), ("X-Powered-By", "PHP/8.2"),
                       ("Set-Cookie", "a=1; expires=Wed, 18 May 2033 03:33:20 GMT; Max-Age=123")])
    n = H.normalize(a)
    names = [k for k, _ in n["headers"]]
    assert names == ["set-cookie", "x-powered-by"], names
    assert n["headers"][0][1].endswith("Max-Age=<n>"), n["headers"]


def test_comparator_detects_differences():
    base = dict(headers=[("X-Powered-By", "PHP/8.2.36"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
                body=b"hello\n")
    a = H.normalize(_resp(**base))
    assert H.diff_normalized(a, H.normalize(_resp(**base))) is None
    # header order does not matter, multiplicity does
    swapped = dict(base, headers=list(reversed(base["headers"])))
    assert H.diff_normalized(a, H.normalize(_resp(**swapped))) is None
    one_cookie = dict(base, headers=base["headers"][:2])
    d = H.diff_normalized(a, H.normalize(_resp(**one_cookie)))
    assert d and "set-cookie: b=2" in d, d
    d = H.diff_normalized(a, H.normalize(_resp(status=500, reason="Internal Server Error", **base)))
    assert d and "status" in d, d
    d = H.diff_normalized(a, H.normalize(_resp(reason="Okay", **base)))
    assert d and "status" in d, d
    d = H.diff_normalized(a, H.normalize(_resp(headers=base["headers"], body=b"hello")))
    assert d and "body differs" in d, d
    d = H.diff_normalized(a, H.normalize(_resp(headers=base["headers"][1:], body=base["body"])))
    assert d and "x-powered-by" in d, d


def test_hashed_bodies_compare_by_digest():
    a, b = _resp(), _resp()
    for r, data in ((a, b"x" * 100), (b, b"x" * 99 + b"y")):
        r.hashed, r.body_len = True, len(data)
        r.body_sha1 = __import__("hashlib").sha1(data).hexdigest()
    assert H.diff_normalized(H.normalize(a), H.normalize(b))


def test_multipart_builder_parses_back():
    ctype, body = H.multipart(fields=[("f", "Grüße")],
                              files=[("up", "a.bin", "application/octet-stream", H.pattern_bytes(5000))])
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    parts = list(msg.iter_parts())
    assert len(parts) == 2
    assert parts[0].get_payload(decode=True) == "Grüße".encode()
    assert parts[1].get_filename() == "a.bin"
    assert parts[1].get_payload(decode=True) == H.pattern_bytes(5000)


def test_pfpm_config_syntax():
    text = H.pfpm_conf_text({"error_log": "/tmp/d/pfpm.log", "log_level": "notice"},
                            [{"name": "www", "listen": "/tmp/d/p.sock", "pm": "static",
                              "pm.max_children": 2, "catch_workers_output": True,
                              "env": ["A=1", 'B="q"'], "php_admin_value": {"memory_limit": "64M"}}])
    expect = [
        'error_log = "/tmp/d/pfpm.log"',
        'log_level = "notice"',
        "pool www {",
        '    listen = "/tmp/d/p.sock"',
        '    pm = "static"',
        "    pm.max_children = 2",
        "    catch_workers_output = yes",
        '    env = {"A=1", "B=\\"q\\""}',
        "    php_admin_value {",
        '        memory_limit = "64M"',
        "    }",
        "}",
    ]
    lines = text.splitlines()
    for e in expect:
        assert e in lines, "missing %r in\n%s" % (e, text)


def test_parse_addr():
    assert H.parse_addr("/run/x.sock") == ("unix", "/run/x.sock")
    assert H.parse_addr("unix:/run/x.sock") == ("unix", "/run/x.sock")
    assert H.parse_addr("127.0.0.1:9001") == ("tcp", "127.0.0.1", 9001)
    assert H.parse_addr("[::1]:9001") == ("tcp", "::1", 9001)
    assert H.parse_addr("9001") == ("tcp", "127.0.0.1", 9001)


def test_php_fpm_lifecycle_workers_and_signals():
    tmp = H.TestDir("pfpm-harness")
    try:
        ini, scan = H.write_php_ini(tmp, "selfcheck")
        port = H.free_port()
        b = H.PhpFpm(tmp, "fpm-selfcheck", [{"name": "www", "listen": "127.0.0.1:%d" % port,
                                             "pm.max_children": 3}], ini, scan)
        b.start()
        workers = H.wait_for(lambda: len(b.workers()) == 3 and b.workers(), 5)
        assert workers and len(workers) == 3, "workers: %r" % b.workers()
        os.kill(workers[0], signal.SIGKILL)          # master must respawn it
        respawned = H.wait_for(lambda: len(b.workers()) == 3 and workers[0] not in b.workers(), 5)
        assert respawned, "no respawn: %r" % b.workers()
        b.send_signal(signal.SIGUSR1)                # reopen logs: keeps running
        assert H.wait_for(lambda: "re-opened" in b.log_text(), 5), b.log_text()
        assert b.alive()
        family = b.workers()
        rc = b.stop()
        assert rc == 0, "php-fpm exit status %r" % rc
        assert not [p for p in family if H.pid_alive(p)], "workers left behind"
        assert not H.can_connect("127.0.0.1:%d" % port)
    finally:
        tmp.cleanup()
