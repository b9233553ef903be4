"""Helpers for test_laravel.py: a temp copy of contrib/laravel-example,
worker-mode pools, nginx with Laravel's front-controller routing, and an
HTTP client with a cookie jar (Python 3 standard library only).

harness.py is used as it is (read-only); everything Laravel-specific is here.
"""

import collections
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.parse

import harness as H

APP_SRC = os.path.join(H.REPO, "contrib", "laravel-example")
PHP_DIR = os.path.join(H.REPO, "src", "php")          # PFPM_PHP_DIR of the tests
ILLUMINATE = "/usr/share/php/Illuminate/Foundation/Application.php"
PHP_CLI = os.environ.get("PHP_CLI", "php")

# Files of the example that setup.sh generates (never copied from the repo).
_GENERATED = {"database.sqlite", "database.sqlite-journal", "app.key"}


def preflight():
    """(ok, reason): what the Laravel tests need besides pfpm."""
    if not os.path.isfile(ILLUMINATE):
        return False, "Laravel 8 (Debian php-laravel-framework) is not installed"
    if not os.path.isfile(os.path.join(APP_SRC, "artisan")):
        return False, "contrib/laravel-example is missing"
    if not os.path.isfile(os.path.join(PHP_DIR, "laravel-worker.php")):
        return False, "src/php/laravel-worker.php is missing"
    if shutil.which(PHP_CLI) is None:
        return False, "no PHP CLI (%s) to run artisan" % PHP_CLI
    r = subprocess.run([PHP_CLI, "-r", "echo extension_loaded('pdo_sqlite') ? 1 : 0;"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if r.stdout.strip() != b"1":
        return False, "the PHP CLI has no pdo_sqlite (php8.2-sqlite3)"
    if not os.access(H.NGINX_BIN, os.X_OK):
        return False, "nginx not found at %s" % H.NGINX_BIN
    return True, ""


def require_laravel(selftest_reason):
    """In setup_module: skip unless pfpm and everything preflight() checks
    are there (see harness.require_pfpm)."""
    H.require_pfpm(selftest_reason)
    ok, why = preflight()
    if not ok:
        raise H.Skip(why)


def prepare_app(tmp, name="app"):
    """Copy contrib/laravel-example into the temp dir and run its setup.sh
    (key, directories, SQLite database, migrations, seeded users)."""
    dst = os.path.join(tmp.path, name)

    def ignore(d, names):
        skip = set()
        for n in names:
            if n in _GENERATED:
                skip.add(n)
            elif n.endswith(".log"):
                skip.add(n)
            elif os.sep + "storage" + os.sep in d + os.sep and n != ".gitignore" and \
                    os.path.isfile(os.path.join(d, n)):
                skip.add(n)     # sessions, compiled views, cache, uploads
        return skip

    shutil.copytree(APP_SRC, dst, ignore=ignore)
    env = dict(os.environ, OWNER="", PHP=PHP_CLI)
    r = subprocess.run([os.path.join(dst, "setup.sh"), dst], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env, timeout=120)
    if r.returncode != 0:
        raise H.HarnessError("setup.sh failed (%d):\n%s" % (r.returncode,
                                                           r.stdout.decode("utf-8", "replace")))
    # pfpm workers run as root (-R) or as the invoking user: both can write.
    return dst


def worker_pool(name, listen, app_root, children=1, env=None, **opts):
    """A worker-mode pool for the example app. PFPM_PHP_DIR is also put into
    the pool's environment: the master's environment does not reach the
    worker when clear_env = yes (see test_php_dir_from_master_env)."""
    envs = ["PFPM_PHP_DIR=%s" % PHP_DIR]
    for k, v in (env or {}).items():
        envs.append("%s=%s" % (k, v))
    pool = collections.OrderedDict([
        ("name", name),
        ("listen", listen),
        ("pm", "static"),
        ("pm.max_children", children),
        ("worker", "laravel"),
        ("app_root", app_root),
        ("env", envs),
    ])
    pool.update(opts)
    return pool


class LaravelNginx(H.Daemon):
    """nginx in front of Laravel: static files from public/, everything else
    to public/index.php (`try_files $uri /index.php?$query_string`).
    servers: [{name, backend, root, port?, read_timeout?}]."""

    name = "nginx"

    def __init__(self, tmp, servers, name="nginx"):
        super().__init__(tmp, name)
        self.servers = []
        for s in servers:
            s = dict(s)
            s.setdefault("port", H.free_port())
            self.servers.append(s)
        self.log_path = tmp.file("%s.error.log" % name)

    def port(self, name):
        for s in self.servers:
            if s["name"] == name:
                return s["port"]
        raise KeyError(name)

    def ready_addrs(self):
        return ["127.0.0.1:%d" % s["port"] for s in self.servers]

    def conf_text(self):
        out = H.nginx_prelude(self, workers=2, connections=1024)
        for s in self.servers:
            b = H.parse_addr(s["backend"])
            target = "unix:%s" % b[1] if b[0] == "unix" else "%s:%d" % (b[1], b[2])
            out += [
                "    server {",
                "        listen 127.0.0.1:%d;" % s["port"],
                "        server_name localhost;",
                "        root %s;" % s["root"],
                "        index index.php;",
                "        client_max_body_size 50m;",
                "        location / {",
                "            try_files $uri /index.php?$query_string;",
                "        }",
                "        location ~ \\.php$ {",
                "            fastcgi_split_path_info ^(.+?\\.php)(/.*)$;",
                "            include %s;" % H.NGINX_FASTCGI_PARAMS,
                "            fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;",
                "            fastcgi_param DOCUMENT_ROOT $realpath_root;",
                "            fastcgi_pass %s;" % target,
                "            fastcgi_read_timeout %ds;" % s.get("read_timeout", 30),
                "        }",
                "    }",
            ]
        out.append("}")
        return "\n".join(out) + "\n"

    def argv(self):
        conf = self.tmp.write("%s.conf" % self.name, self.conf_text())
        return [H.NGINX_BIN, "-p", self.tmp.path, "-c", conf, "-g", "daemon off;"]


_COOKIE_RE = re.compile(r"^\s*([^=;\s]+)=([^;]*)")


class Client:
    """A browser-ish client: one cookie jar, never follows redirects."""

    def __init__(self, port, label=""):
        self.port = port
        self.label = label
        self.jar = collections.OrderedDict()
        self.lock = threading.Lock()

    def request(self, method, path, headers=None, body=None, form=None, timeout=30):
        hdrs = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            hdrs.append(("Content-Type", "application/x-www-form-urlencoded"))
        with self.lock:
            if self.jar:
                hdrs.append(("Cookie", H.cookie_header(self.jar.items())))
        r = H.http_request(self.port, method, path, headers=hdrs, body=body, timeout=timeout)
        with self.lock:
            for v in r.header_all("Set-Cookie"):
                m = _COOKIE_RE.match(v)
                if not m:
                    continue
                name, value = m.group(1), m.group(2)
                if "max-age=0" in v.lower() or value in ("", "deleted"):
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = value
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def json(self, method, path, **kw):
        r = self.request(method, path, **kw)
        return r, parse_json(r)

    def get_json(self, path, **kw):
        return self.json("GET", path, **kw)

    def login(self, email, password="secret"):
        r, data = self.json("POST", "/login", form={"email": email, "password": password})
        if r.status != 200 or (data or {}).get("user") != email:
            raise AssertionError("login as %s failed: %s %s" % (email, r.status, r.text()[:300]))
        return data

    def csrf_token(self):
        """Starts a session (GET /web/hello) and returns its CSRF token."""
        r, data = self.get_json("/web/hello")
        if r.status != 200 or not data or not data.get("csrf"):
            raise AssertionError("/web/hello: %s %s" % (r.status, r.text()[:300]))
        return data["csrf"]


def parse_json(resp):
    try:
        return json.loads(resp.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def describe(resp, n=400):
    body = resp.text()
    if len(body) > n:
        body = body[:n] + "...(%d bytes)" % len(body)
    return "%s %s %r" % (resp.status, resp.reason, body)


def wait_line(path, pattern, timeout=10, offset=0):
    """First line of the file (from byte offset) matching the regex, or None."""
    rx = re.compile(pattern)

    def look():
        text, _ = H.read_new(path, offset)
        for line in text.splitlines():
            if rx.search(line):
                return line
        return None
    return H.wait_for(look, timeout)
