"""php-fpm parity suite.

The same request goes through the same web server (nginx or Apache, one vhost
per backend) to real php-fpm and to pfpm, both started with the same php.ini,
the same extensions and the same worker count; the normalised responses
(status, reason, header multiset incl. every Set-Cookie, body bytes) must be
equal. Each case is data (see C(...) below); one case x one transport is one
test. With PFPM_PARITY_SELFTEST=1 the pfpm side is a second php-fpm.

Transports: nginx-unix (every case), nginx-tcp, nginx-keepalive and
nginx-keepalive-tcp (fastcgi_keep_conn on + upstream keepalive, over the unix
socket / TCP), apache-unix and apache-tcp (mod_proxy_fcgi, SetHandler).

Profiles (php.ini variants; each profile is its own pair of backends):
  a  display_errors=Off, post_max_size=8M, upload_max_filesize=6M, max_input_vars=1000
  b  display_errors=On,  post_max_size=1M, upload_max_filesize=512K, max_input_vars=50
"""

import json
import os
import socket
import time
import urllib.parse

import harness as H

SIDES = ("fpm", "pfpm")
LABEL = {"fpm": "php-fpm", "pfpm": "pfpm" if not H.selftest() else "php-fpm#2"}
WORKERS = 2

PROFILES = {
    "a": {"display_errors": "Off", "post_max_size": "8M", "upload_max_filesize": "6M",
          "max_input_vars": "1000"},
    "b": {"display_errors": "On", "post_max_size": "1M", "upload_max_filesize": "512K",
          "max_input_vars": "50"},
}

# transport -> (web server, pool, keepalive)
TRANSPORTS = {
    "nginx-unix": ("nginx", "www", False),
    "nginx-tcp": ("nginx", "tcp", False),
    "nginx-keepalive": ("nginx", "www", True),
    "nginx-keepalive-tcp": ("nginx", "tcp", True),
    "apache-unix": ("apache", "www", False),
    "apache-tcp": ("apache", "tcp", False),
}
ALL = tuple(TRANSPORTS)
PROFILE_TRANSPORTS = {"a": ALL, "b": ("nginx-unix",)}

# Apache decides on its own between Content-Length and chunked for proxied
# responses depending on how the backend's FastCGI records are split; the
# body is compared byte for byte anyway.
APACHE_DROP = ("content-length", "transfer-encoding")


# ---------------------------------------------------------------------------
# cases

class Case:
    """A request case (data only).

    name      test name (the transport is prefixed: nginx-unix.<name>)
    path      request target incl. query string
    method    HTTP method; headers: [(name, value)]
    body      bytes, a (content_type, bytes) tuple from H.multipart(), or a
              zero-argument callable returning either (built lazily, cached)
    ctype     Content-Type for a bytes body
    profile   php.ini profile ('a' or 'b', see PROFILES)
    via       transports to run through (see TRANSPORTS)
    hash_body compare sha1+length instead of keeping the body
    stream    record chunk arrival; pfpm must stream whenever php-fpm does
    finish    fastcgi_finish_request() case: fast response + marker file after
    expect    sanity checks on the php-fpm reference: status, reason,
              contains (bytes), body_len, header (name or (name, value))
    stderr    text php-fpm sends on FastCGI stderr (found in the web server's
              error log); pfpm must send it too
    drop      extra response headers to ignore
    """

    def __init__(self, name, path, method="GET", headers=(), body=None, ctype=None,
                 profile="a", via=("nginx-unix",), hash_body=False, stream=False,
                 finish=False, expect=None, stderr=None, drop=(), timeout=40):
        self.name = name
        self.path = path
        self.method = method
        self.headers = list(headers)
        self._body = body
        self.ctype = ctype
        self.profile = profile
        self.via = via
        self.hash_body = hash_body
        self.stream = stream
        self.finish = finish
        self.expect = expect or {}
        self.stderr = stderr
        self.drop = drop
        self.timeout = timeout
        self._cache = None

    def body(self):
        if callable(self._body):
            if self._cache is None:
                self._cache = self._body()
            return self._cache
        return self._body

    def request_headers(self):
        h = list(self.headers)
        body = self.body()
        if isinstance(body, tuple):          # (content_type, bytes) from multipart()
            h.append(("Content-Type", body[0]))
        elif self.ctype:
            h.append(("Content-Type", self.ctype))
        return h

    def request_body(self):
        b = self.body()
        return b[1] if isinstance(b, tuple) else b


class Item:
    """One case through one transport = one test."""

    def __init__(self, case, transport):
        self.case = case
        self.transport = transport
        self.name = "%s.%s" % (transport, case.name)


def C(*a, **kw):
    return Case(*a, **kw)


def form(pairs):
    return urllib.parse.urlencode(pairs).encode()


def small_upload():
    return H.multipart(
        fields=[("title", "Grüße"), ("tags[]", "x"), ("tags[]", "y"), ("empty", "")],
        files=[("doc", "hello.txt", "text/plain", b"hello upload\n" * 10),
               ("bin", "data.bin", "application/octet-stream", H.pattern_bytes(3000, b"bin"))])


def big_upload():
    return H.multipart(
        fields=[("kind", "big")],
        files=[("big", "five-mb.bin", "application/octet-stream", H.pattern_bytes(5 * 1024 * 1024, b"5mb")),
               ("small", "s.txt", "text/plain", b"tiny")])


def multi_upload():
    return H.multipart(
        fields=[("n", "3")],
        files=[("files[]", "a.txt", "text/plain", b"AAAA"),
               ("files[]", "b.txt", "text/plain", b"BBBBBBBB"),
               ("files[]", "dir/c.txt", "text/plain", b"C" * 100),
               ("nested[x][y]", "n.txt", "text/plain", b"nested"),
               ("empty_file", "empty.txt", "text/plain", b"")])


def upload_form_size():
    return H.multipart(fields=[("MAX_FILE_SIZE", "100")],
                       files=[("f", "toolarge.txt", "text/plain", b"x" * 1000),
                              ("g", "ok.txt", "text/plain", b"y" * 50)])


def upload_no_file():
    return H.multipart(fields=[("a", "1")], files=[("f", "", "application/octet-stream", b"")])


def upload_ini_size():
    return H.multipart(fields=[("a", "1")],
                       files=[("f", "600k.bin", "application/octet-stream", H.pattern_bytes(600 * 1024, b"ini")),
                              ("g", "ok.txt", "text/plain", b"fine")])


def many_fields(n):
    def gen():
        pairs = [("f%04d" % i, "v%d" % i) for i in range(n)]
        pairs.append(("deep" + "[a]" * 70, "too deep"))
        return form(pairs)
    return gen


def post_2mb():
    return form([("big", "x" * (2 * 1024 * 1024)), ("after", "1")])


def post_2mb_multipart():
    return H.multipart(fields=[("a", "1")],
                       files=[("f", "two.bin", "application/octet-stream", H.pattern_bytes(2 * 1024 * 1024, b"2m"))])


def status_case(code, via=("nginx-unix",)):
    return C("status_%d" % code, "/status.php?code=%d" % code, via=via, expect={"status": code})


JSON_BODY = json.dumps({"name": "Jürgen", "list": [1, 2.5, None, True], "nested": {"k": "ü€"},
                        "emoji": "🐘"}, ensure_ascii=False).encode()

DEFS = [
    # --- basics / GET
    C("hello", "/hello.php", via=ALL, expect={"status": 200, "contains": b"Hello, world\n",
                                             "header": "X-Powered-By"}),
    C("index_directory", "/", via=("nginx-unix", "apache-unix")),
    C("get_query_arrays", "/get.php?a[]=1&a[]=2&m[x][y]=z&m[x][w]=w&plain=p&dup=1&dup=2&i[3]=three&i[]=next",
      via=ALL, expect={"contains": b'"dup": "2"'}),
    C("get_query_unicode", "/get.php?q=%E2%9C%93&name=J%C3%BCrgen&raw=%FF%FE&plus=a+b&enc=a%2Bb%26c&"
      "%C3%A9t%C3%A9=summer", via=("nginx-unix", "apache-tcp")),
    C("get_query_empty_values", "/get.php?empty=&novalue&=nokey&a[]=&&x=1&%20lead=sp&dot.ted=1&sp%20ace=2"),
    C("get_no_query", "/get.php"),
    C("get_long_query", "/get.php?long=" + "x" * 6000 + "&after=1"),
    C("head_request", "/headers.php?mode=basic", method="HEAD", via=("nginx-unix", "apache-unix")),
    # --- POST / uploads
    C("post_urlencoded", "/post.php?from=query&same=get",
      method="POST", ctype="application/x-www-form-urlencoded",
      body=b"a=1&b[]=x&b[]=y&c[k]=v&same=post&utf=%C3%A9&sp=a+b&empty=", via=ALL,
      expect={"contains": b'"same": "post"'}),
    C("post_urlencoded_charset", "/post.php", method="POST",
      ctype="application/x-www-form-urlencoded; charset=UTF-8", body=b"k=v&n=%E2%82%AC"),
    C("post_no_content_type", "/post.php", method="POST", body=b"a=1&b=2"),
    C("post_empty_body", "/post.php", method="POST", ctype="application/x-www-form-urlencoded", body=b""),
    C("post_text_plain", "/post.php", method="POST", ctype="text/plain", body=b"a=1\nb=2\n"),
    C("upload_small", "/upload.php", method="POST", body=small_upload, via=ALL,
      expect={"contains": b'"is_uploaded_file": true'}),
    C("upload_5mb", "/upload.php", method="POST", body=big_upload,
      via=("nginx-unix", "nginx-tcp", "apache-unix"), expect={"contains": b'"size": 5242880'}),
    C("upload_multiple_and_nested", "/upload.php", method="POST", body=multi_upload),
    C("upload_error_form_size", "/upload.php", method="POST", body=upload_form_size,
      expect={"contains": b'"error": 2'}),
    C("upload_error_no_file", "/upload.php", method="POST", body=upload_no_file,
      expect={"contains": b'"error": 4'}),
    C("upload_error_ini_size", "/upload.php", method="POST", body=upload_ini_size, profile="b",
      expect={"contains": b'"error": 1'}),
    C("post_raw_multipart_to_post", "/post.php", method="POST", body=small_upload),
    # --- other methods, php://input
    C("put_raw", "/raw.php", method="PUT", ctype="text/plain; charset=utf-8",
      body="raw PUT body ✓\nline 2\n".encode() * 50, via=ALL, expect={"contains": b"second_read_equal: true"}),
    C("delete_with_body", "/raw.php?id=7", method="DELETE", ctype="application/json", body=b'{"id":7}'),
    C("delete_no_body", "/raw.php?id=8", method="DELETE"),
    C("patch_json", "/raw.php", method="PATCH", ctype="application/merge-patch+json", body=JSON_BODY),
    C("post_binary_input_twice", "/raw.php", method="POST", ctype="application/octet-stream",
      body=lambda: H.pattern_bytes(200 * 1024, b"raw")),
    C("post_json", "/json.php", method="POST", ctype="application/json", body=JSON_BODY,
      via=("nginx-unix", "apache-tcp"), expect={"header": ("Content-Type", "application/json; charset=utf-8")}),
    C("options_method", "/raw.php", method="OPTIONS"),
    # --- cookies
    C("cookies_in", "/cookies.php", headers=[("Cookie", "plain=1; arr[a]=x; arr[b]=y; enc=a%20b%3B; "
                                                        "dup=first; dup=second; list[]=1; list[]=2; sp ace=v; "
                                                        "dot.ted=d; novalue")], via=ALL),
    C("setcookie_options", "/setcookie.php", via=ALL, expect={"header": "Set-Cookie"}),
    C("request_order", "/request.php?g=1&both=get", method="POST",
      ctype="application/x-www-form-urlencoded", body=b"p=2&both=post",
      headers=[("Cookie", "c=3; both=cookie")]),
    # --- headers
    C("headers_basic", "/headers.php?mode=basic", via=ALL),
    C("headers_remove_all", "/headers.php?mode=remove_all"),
    C("headers_remove_powered_by", "/headers.php?mode=remove_powered"),
    C("headers_content_length", "/headers.php?mode=content_length", via=("nginx-unix", "nginx-keepalive")),
    C("headers_empty_content_type", "/headers.php?mode=no_content_type"),
    C("headers_unicode", "/headers.php?mode=unicode", via=("nginx-unix", "apache-unix")),
    C("headers_sent", "/headers_sent.php"),
    C("request_headers_many", "/allheaders.php",
      headers=[("X-Custom-%03d" % i, "value %d" % i) for i in range(60)] +
              [("X-Dup", "one"), ("X-Dup", "two"), ("Accept-Language", "de-DE,de;q=0.9"),
               ("Authorization", "Bearer abc.def"), ("If-None-Match", '"etag"')]),
    # --- status codes
    status_case(201, via=ALL),
    status_case(204),
    status_case(404),
    status_case(418),
    status_case(500),
    status_case(299),
    status_case(599),
    C("status_503_custom_reason", "/status_line.php?mode=busy", via=ALL,
      expect={"status": 503, "reason": "Busy"}),
    C("status_header_422", "/status_line.php?mode=status_header"),
    C("status_code_arg_409", "/status_line.php?mode=code_arg"),
    C("status_http10_404", "/status_line.php?mode=http10"),
    C("redirect_implicit_302", "/redirect.php?mode=implicit", via=ALL, expect={"status": 302}),
    C("redirect_301", "/redirect.php?mode=permanent", expect={"status": 301}),
    C("redirect_201_location", "/redirect.php?mode=created", expect={"status": 201}),
    C("redirect_303", "/redirect.php?mode=see_other"),
    C("redirect_307_code_first", "/redirect.php?mode=temporary"),
    # --- bodies, buffering, streaming
    C("big_10mb", "/big.php?mb=10", hash_body=True,
      via=("nginx-unix", "nginx-keepalive", "nginx-keepalive-tcp", "apache-unix"),
      expect={"body_len": 10 * 1048576}),
    C("big_10mb_content_length", "/big.php?mb=10&cl=1", hash_body=True),
    C("ob_callbacks", "/ob.php?mode=callbacks", via=ALL),
    C("ob_clean_all", "/ob.php?mode=clean_all"),
    C("ob_header_after_output", "/ob.php?mode=header_after_buffered_output", expect={"status": 202}),
    C("stream_flush", "/stream.php?ms=800", stream=True,
      via=("nginx-unix", "nginx-tcp", "nginx-keepalive", "nginx-keepalive-tcp", "apache-unix")),
    C("fastcgi_finish_request", "/finish.php?ms=1500", finish=True,
      via=("nginx-unix", "nginx-keepalive", "nginx-keepalive-tcp", "apache-unix", "apache-tcp")),
    C("ignore_user_abort", "/abort.php"),
    # --- errors
    C("warning_display_off", "/warning.php", stderr="PHP message: PHP Warning:  Undefined variable $undefined_variable",
      via=("nginx-unix", "apache-unix")),
    C("warning_display_on", "/warning.php", profile="b", stderr="PHP message: PHP Warning:  Undefined variable"),
    C("fatal_display_off", "/fatal.php", via=("nginx-unix", "apache-tcp"), expect={"status": 500},
      stderr="PHP Fatal error:  Uncaught Error: Call to undefined function this_function_does_not_exist()"),
    C("fatal_display_on", "/fatal.php", profile="b"),
    C("fatal_after_flush", "/fatal_unbuffered.php"),
    C("exception_display_off", "/exception.php", expect={"status": 500}, stderr="PHP Fatal error:  Uncaught RuntimeException"),
    C("exception_display_on", "/exception.php", profile="b"),
    C("parse_error_display_off", "/parse_error.php", expect={"status": 500}),
    C("parse_error_display_on", "/parse_error.php", profile="b"),
    C("missing_script", "/does-not-exist.php", via=ALL,
      expect={"status": 404}, stderr="Primary script unknown"),
    C("missing_script_path_info", "/does-not-exist.php/extra/path", expect={"status": 404}),
    C("disallowed_extension", "/foo.txt", via=ALL, expect={"status": 403, "contains": b"Access denied."}),
    C("exit_int", "/exit.php?mode=int"),
    C("exit_die_message", "/exit.php?mode=die_msg", via=("nginx-unix", "apache-unix")),
    C("exit_with_500", "/exit.php?mode=code_then_exit", expect={"status": 500}),
    C("exit_inside_ob", "/exit.php?mode=in_ob"),
    # --- environment
    C("server_dump", "/server.php?x=1&y[]=2", via=ALL,
      headers=[("X-Custom-Header", "custom"), ("User-Agent", "pfpm-parity/1.0"), ("Accept", "*/*"),
               ("Referer", "http://localhost/from")],
      expect={"contains": b'"REQUEST_METHOD": "GET"'}),
    C("server_dump_path_info", "/server.php/extra/path%20x/?q=1", via=("nginx-unix", "apache-unix")),
    C("server_dump_post", "/server.php", method="POST", ctype="application/x-www-form-urlencoded",
      body=b"a=1", via=("nginx-unix", "apache-tcp")),
    C("getenv_and_env", "/env.php?e=1", via=("nginx-unix", "apache-unix")),
    C("sapi_name_and_ini", "/sapi.php", via=ALL, expect={"contains": b'php_sapi_name: "fpm-fcgi"'}),
    C("sapi_name_and_ini_profile_b", "/sapi.php", profile="b"),
    C("unicode_query_and_body", "/unicode.php?q=%E2%9C%93%20J%C3%BCrgen%20%F0%9F%90%98", method="POST",
      ctype="application/x-www-form-urlencoded", body="name=Jürgen&city=Zürich&✓=yes".encode()),
    C("max_input_vars_a", "/many_fields.php", method="POST", ctype="application/x-www-form-urlencoded",
      body=many_fields(1500), expect={"contains": b"Input variables exceeded 1000"}),
    C("max_input_vars_b", "/many_fields.php?g1=1&g2=2", method="POST", profile="b",
      ctype="application/x-www-form-urlencoded", body=many_fields(80)),
    C("post_max_size_exceeded", "/post.php?q=1", method="POST", profile="b",
      ctype="application/x-www-form-urlencoded", body=post_2mb, expect={"contains": b"exceeds the limit"}),
    C("post_max_size_exceeded_multipart", "/upload.php", method="POST", profile="b", body=post_2mb_multipart),
]

CASES = [Item(c, t) for c in DEFS for t in ALL if t in c.via and t in PROFILE_TRANSPORTS[c.profile]]


# ---------------------------------------------------------------------------
# environment: backends + web servers, started lazily and shared by the module

class ParityEnv:
    def __init__(self):
        self.tmp = None
        self.backends = {}        # (side, profile) -> Backend
        self.nginx = None
        self.apache = None
        self.failed = {}          # component -> HarnessError text (fail fast afterwards)
        self.timeouts = {}        # backend name -> request timeouts seen

    def _guard(self, what, fn):
        if what in self.failed:
            raise H.HarnessError("%s failed to start earlier: %s (full log in the first failure)"
                                 % (what, self.failed[what].splitlines()[0]))
        try:
            return fn()
        except H.HarnessError as e:
            self.failed[what] = str(e)
            raise

    MAX_RESTARTS = 3
    MAX_TIMEOUTS = 3

    def check_alive(self, side, profile):
        """Before a case: if the backend's master died (during an earlier case),
        restart it so one crash does not hide every later result. Returns a
        note for the report, or raises when it keeps dying / hangs."""
        b = self.backend(side, profile)
        if self.timeouts.get(b.name, 0) >= self.MAX_TIMEOUTS:
            raise AssertionError("%s timed out %d times: treated as hung, not retried"
                                 % (b.name, self.timeouts[b.name]))
        if b.alive():
            return None
        how = b.exit_description()
        if b.starts > self.MAX_RESTARTS:
            raise AssertionError("%s is not running (%s) and was restarted %d times already"
                                 % (b.name, how, self.MAX_RESTARTS))
        self._guard("%s-%s" % (side, profile), b.start)
        return "%s had exited (%s) after an earlier test; restarted it" % (b.name, how)

    def ensure_tmp(self):
        if self.tmp is None:
            self.tmp = H.TestDir("pfpm-parity")
        return self.tmp

    def backend(self, side, profile):
        key = (side, profile)
        if key not in self.backends:
            self._guard("%s-%s" % (side, profile), lambda: self._start_backend(side, profile))
        return self.backends[key]

    def _start_backend(self, side, profile):
        tmp = self.ensure_tmp()
        ini, scan = self._ini(profile)
        pools = [{"name": "www", "listen": tmp.file("%s-%s.sock" % (side, profile)),
                  "pm.max_children": WORKERS}]
        if "nginx-tcp" in PROFILE_TRANSPORTS[profile] or "apache-tcp" in PROFILE_TRANSPORTS[profile]:
            pools.append({"name": "tcp", "listen": "127.0.0.1:%d" % H.free_port(),
                          "pm.max_children": WORKERS})
        b = H.make_backend("php-fpm" if side == "fpm" else "pfpm", tmp, "%s-%s" % (side, profile),
                           pools, ini, scan)
        b.start()
        self.backends[(side, profile)] = b

    _inis = {}

    def _ini(self, profile):
        if profile not in self._inis:
            self._inis[profile] = H.write_php_ini(self.ensure_tmp(), "profile-%s" % profile,
                                                  PROFILES[profile])
        return self._inis[profile]

    def vhost_name(self, side, profile, transport):
        return "%s-%s-%s" % (side, profile, transport)

    def web(self, server):
        if server == "nginx":
            if self.nginx is None:
                self._guard("nginx", self._start_nginx)
            return self.nginx
        if self.apache is None:
            self._guard("apache", self._start_apache)
        return self.apache

    def _vhosts(self, server):
        out = []
        for profile, transports in PROFILE_TRANSPORTS.items():
            for t in transports:
                srv, pool, keep = TRANSPORTS[t]
                if srv != server:
                    continue
                for side in SIDES:
                    b = self.backend(side, profile)
                    out.append({"name": self.vhost_name(side, profile, t), "backend": b.listen(pool),
                                "keepalive": keep, "also_fastcgi": r"\.txt$",
                                "unbuffered": r"^/stream[^/]*\.php(/|$)"})
        return out

    def _start_nginx(self):
        n = H.Nginx(self.ensure_tmp(), self._vhosts("nginx"))
        n.start()
        self.nginx = n

    def _start_apache(self):
        a = H.Apache(self.ensure_tmp(), self._vhosts("apache"))
        a.start()
        self.apache = a

    def stop(self):
        for d in [self.nginx, self.apache] + list(self.backends.values()):
            if d is not None:
                try:
                    d.stop()
                except Exception:
                    pass
        if self.tmp:
            self.tmp.cleanup()
        self.__init__()


ENV = ParityEnv()


def setup_module():
    pass


def teardown_module():
    ENV.stop()


# ---------------------------------------------------------------------------
# running one item

def perform(item, side, url_suffix=""):
    case = item.case
    srv_kind = TRANSPORTS[item.transport][0]
    web = ENV.web(srv_kind)
    vh = web.server(ENV.vhost_name(side, case.profile, item.transport))
    log_off = H.file_size(vh["error_log"])
    backend = ENV.backend(side, case.profile)
    try:
        resp = H.http_request(vh["port"], case.method, case.path + url_suffix, case.request_headers(),
                              case.request_body(), timeout=case.timeout, stream=case.stream,
                              hash_body=case.hash_body)
    except (socket.timeout, TimeoutError):
        ENV.timeouts[backend.name] = ENV.timeouts.get(backend.name, 0) + 1
        raise AssertionError("%s: no response within %ss through %s\n%s" % (
            LABEL[side], case.timeout, item.transport,
            H.read_new(vh["error_log"], log_off)[0][-800:]))
    if resp.status == 504:
        ENV.timeouts[backend.name] = ENV.timeouts.get(backend.name, 0) + 1
    if case.stderr is not None:
        # the web server logs FastCGI stderr while it receives it; allow a moment
        def seen():
            return case.stderr in H.read_new(vh["error_log"], log_off)[0]
        H.wait_for(seen, 1.0)
    log_new = H.read_new(vh["error_log"], log_off)[0]
    return resp, log_new


def check_expect(case, resp, side_label):
    e = case.expect
    errs = []
    if "status" in e and resp.status != e["status"]:
        errs.append("status %r != expected %r" % (resp.status, e["status"]))
    if "reason" in e and resp.reason != e["reason"]:
        errs.append("reason %r != expected %r" % (resp.reason, e["reason"]))
    if "contains" in e and e["contains"] not in resp.body:
        errs.append("body lacks %r (body starts %r)" % (e["contains"], resp.body[:200]))
    if "body_len" in e and resp.body_len != e["body_len"]:
        errs.append("body length %d != %d" % (resp.body_len, e["body_len"]))
    if "header" in e:
        h = e["header"]
        if isinstance(h, tuple):
            if resp.header(h[0]) != h[1]:
                errs.append("header %s is %r, expected %r" % (h[0], resp.header(h[0]), h[1]))
        elif resp.header(h) is None:
            errs.append("header %s missing" % h)
    if errs:
        raise AssertionError("reference %s response not as the case expects (test bug or "
                             "environment problem): %s" % (side_label, "; ".join(errs)))


def stream_gap(resp, first=b"first chunk", last=b"last chunk"):
    """seconds between the arrival of the chunk holding `first` and the end."""
    seen = b""
    t_first = None
    for t, data in resp.chunks:
        seen += data
        if t_first is None and first in seen:
            t_first = t
    if t_first is None or last not in seen:
        return None
    return resp.elapsed - t_first


def run_case(item):
    ok, why = H.pfpm_available()
    if not ok:
        raise H.Skip(why)
    case = item.case
    resps, logs, extra_errs, notes = {}, {}, [], []
    for side in SIDES:
        n = ENV.check_alive(side, case.profile)
        if n:
            notes.append(n)
    for side in SIDES:
        suffix = ""
        marker = None
        if case.finish:
            mid = "%s-%s-%d" % (side, item.transport, int(time.time() * 1000))
            suffix = "&id=" + mid
            marker = os.path.join(ENV._ini(case.profile)[0].rsplit("/", 1)[0], "sys_tmp", "markers",
                                  "finish-" + mid)
        resp, log_new = perform(item, side, suffix)
        resps[side], logs[side] = resp, log_new
        if case.finish:
            limit = 1.0
            if resp.elapsed >= limit:
                extra_errs.append("%s: response took %.2fs, fastcgi_finish_request() should have "
                                  "completed it before the script's 1.5s sleep (limit %.1fs)"
                                  % (LABEL[side], resp.elapsed, limit))
            if not H.wait_for(lambda: os.path.exists(marker), 6):
                extra_errs.append("%s: script did not continue after fastcgi_finish_request() "
                                  "(marker %s never appeared)" % (LABEL[side], marker))
            else:
                H.wait_for(lambda: os.path.getsize(marker) > 0, 2)
                with open(marker) as f:
                    resp.marker = f.read()
                os.unlink(marker)
    ref = resps["fpm"]
    check_expect(case, ref, LABEL["fpm"])
    drop = tuple(case.drop) + (APACHE_DROP if item.transport.startswith("apache") else ())
    na = H.normalize(ref, drop)
    nb = H.normalize(resps["pfpm"], drop)
    d = H.diff_normalized(na, nb, LABEL["fpm"], LABEL["pfpm"])
    if d:
        extra_errs.insert(0, "responses differ\n" + d)
    if case.finish and not extra_errs:
        ma, mb = getattr(ref, "marker", None), getattr(resps["pfpm"], "marker", None)
        if ma != mb:
            extra_errs.append("after-finish state differs: %s=%s %s=%s" % (LABEL["fpm"], ma, LABEL["pfpm"], mb))
    if case.stream:
        gaps = {s: stream_gap(resps[s]) for s in SIDES}
        if gaps["fpm"] is None or gaps["pfpm"] is None:
            extra_errs.append("stream markers missing: %r" % gaps)
        else:
            ref_streams = gaps["fpm"] >= 0.4
            if item.transport.startswith("nginx") and not ref_streams:
                extra_errs.append("php-fpm reference did not stream through nginx with "
                                  "fastcgi_buffering off (gap %.2fs): harness problem" % gaps["fpm"])
            if ref_streams and gaps["pfpm"] < 0.4:
                extra_errs.append("%s did not stream: first chunk arrived %.2fs before the end "
                                  "(php-fpm: %.2fs); flush() must send data immediately"
                                  % (LABEL["pfpm"], gaps["pfpm"], gaps["fpm"]))
            for s in SIDES:
                if resps[s].elapsed > 20:
                    extra_errs.append("%s: streaming response took %.1fs" % (LABEL[s], resps[s].elapsed))
    if case.stderr is not None:
        seen = {s: case.stderr in logs[s] for s in SIDES}
        if not seen["fpm"]:
            extra_errs.append("reference php-fpm stderr not found in the web server log: %r\n%s"
                              % (case.stderr, logs["fpm"][-600:]))
        elif not seen["pfpm"]:
            extra_errs.append("%s did not send %r on FastCGI stderr (web server log got: %r)"
                              % (LABEL["pfpm"], case.stderr, logs["pfpm"][:1500] or "nothing"))
    for side in SIDES:
        b = ENV.backend(side, case.profile)
        if not b.alive():
            extra_errs.append("%s master exited during this test (%s); log tail:\n%s"
                              % (b.name, b.exit_description(), H.tail(b.log_path, 15)))
    for side in SIDES:
        r = resps[side]
        if r.status in (502, 503, 504) and resps["fpm"].status != r.status:
            srv_log = "\n".join(l for l in logs[side].splitlines() if "FastCGI sent in stderr" not in l)
            extra_errs.append("%s: web server answered %d; its error log says:\n%s"
                              % (LABEL[side], r.status, srv_log[-800:] or "(nothing)"))
    if extra_errs:
        raise AssertionError("\n".join(extra_errs + notes))


# ---------------------------------------------------------------------------
# plain tests (run before the CASES)

def _established_to(port):
    """ESTABLISHED TCP connections whose remote port is `port` (/proc/net/tcp*)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.readlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def test_keepalive_tcp_connection_reused():
    """nginx with fastcgi_keep_conn on sets FCGI_KEEP_CONN: the backend must
    leave the connection open after the request (php-fpm does), so nginx can
    reuse it from its upstream keepalive pool."""
    ok, why = H.pfpm_available()
    if not ok:
        raise H.Skip(why)
    found = {}
    for side in SIDES:
        ENV.check_alive(side, "a")
        vh = ENV.web("nginx").server(ENV.vhost_name(side, "a", "nginx-keepalive-tcp"))
        port = H.parse_addr(vh["backend"])[2]
        for _ in range(3):
            r = H.http_request(vh["port"], "GET", "/hello.php", timeout=20)
            assert r.status == 200, "%s: status %s" % (LABEL[side], r.status)
        found[side] = H.wait_for(lambda: _established_to(port), 1.0) or 0
    assert found["fpm"] >= 1, "reference php-fpm kept no FastCGI connection open: harness problem"
    assert found["pfpm"] >= 1, ("%s closed the FastCGI connection although nginx asked to keep it "
                                "(FCGI_KEEP_CONN); php-fpm kept %d open" % (LABEL["pfpm"], found["fpm"]))
