"""Integration-test harness for pfpm (Python 3 standard library only).

Starts real php-fpm, pfpm, nginx and Apache from configs generated in a
per-module temp dir, on 127.0.0.1 / unix sockets with free ports, and gives
an HTTP client plus response normalisation/diffing for parity tests.

Environment:
  PFPM                   pfpm binary (default: <repo>/src/pfpm)
  PFPM_EXTRA_ARGS        extra arguments for pfpm (shell-split); -R is passed when root
  PHP_FPM                php-fpm binary (default: /usr/sbin/php-fpm8.2)
  NGINX, APACHE          web server binaries (/usr/sbin/nginx, /usr/sbin/apache2)
  PFPM_KEEP=1            keep temp dirs (and print where they are)
  PFPM_PARITY_SELFTEST=1 the "pfpm" side is a second php-fpm (validates the harness)

Nothing here is specific to one test module; test_parity.py is the main user.
"""

import atexit
import collections
import difflib
import errno
import hashlib
import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
PHP_FIXTURES = os.path.join(FIXTURES, "php")

PHP_FPM_BIN = os.environ.get("PHP_FPM", "/usr/sbin/php-fpm8.2")
NGINX_BIN = os.environ.get("NGINX", "/usr/sbin/nginx")
APACHE_BIN = os.environ.get("APACHE", "/usr/sbin/apache2")
APACHE_MODULES = "/usr/lib/apache2/modules"
NGINX_FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
PHP_CONF_D = "/etc/php/8.2/fpm/conf.d"   # extension set used by both sides

IS_ROOT = os.geteuid() == 0


class HarnessError(Exception):
    """Infrastructure failure (a daemon did not start, etc.)."""


class Skip(Exception):
    """Raise from a test (or setup) to report it as skipped."""


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0", "no", "false")


def pfpm_binary():
    return os.environ.get("PFPM") or os.path.join(REPO, "src", "pfpm")


def selftest():
    return env_flag("PFPM_PARITY_SELFTEST")


def pfpm_available():
    """(ok, reason). In self-test mode the pfpm side is php-fpm."""
    if selftest():
        return True, ""
    b = pfpm_binary()
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        return False, ("pfpm binary not found at %s (build it, set PFPM=..., "
                       "or PFPM_PARITY_SELFTEST=1 for php-fpm vs php-fpm)" % b)
    return True, ""


# ---------------------------------------------------------------------------
# temp dirs, ports, process bookkeeping

_LIVE = []        # started daemons, stopped at exit as a safety net
_TMPDIRS = []


def require_pfpm(selftest_reason):
    """In setup_module: skip the module without the real pfpm binary, and
    under PFPM_PARITY_SELFTEST (php-fpm stands in for pfpm there), saying
    why the module cannot run on php-fpm."""
    ok, why = pfpm_available()
    if not ok:
        raise Skip(why)
    if selftest():
        raise Skip("%s (PFPM_PARITY_SELFTEST)" % selftest_reason)


class TestDir:
    """A temp dir for one test module. World-traversable so that Apache
    workers (www-data) and nginx workers can reach sockets inside it."""

    def __init__(self, label="pfpm-it"):
        self.path = tempfile.mkdtemp(prefix="%s-" % label)
        os.chmod(self.path, 0o755)
        self.keep = env_flag("PFPM_KEEP")
        _TMPDIRS.append(self)

    def sub(self, *parts, mode=0o755):
        p = os.path.join(self.path, *parts)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, mode)
        return p

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    def write(self, name, text, mode=0o644):
        p = self.file(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def cleanup(self):
        if self in _TMPDIRS:
            _TMPDIRS.remove(self)
        if self.keep:
            sys.stderr.write("PFPM_KEEP: kept %s\n" % self.path)
            return
        shutil.rmtree(self.path, ignore_errors=True)


_ISSUED_PORTS = set()


def free_port(host="127.0.0.1"):
    """A TCP port that is free now (never one handed out before in this run)."""
    for _ in range(200):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _ISSUED_PORTS and port not in (80, 443):
            _ISSUED_PORTS.add(port)
            return port
    raise HarnessError("no free port")


def parse_addr(addr):
    """'/path.sock' | 'unix:/p' | '127.0.0.1:9000' | '[::1]:9000' | '9000'
    -> ('unix', path) or ('tcp', host, port)."""
    addr = str(addr)
    if addr.startswith("unix:"):
        return ("unix", addr[5:])
    if addr.startswith("/"):
        return ("unix", addr)
    if addr.startswith("["):
        host, _, port = addr[1:].partition("]:")
        return ("tcp", host, int(port))
    if ":" in addr:
        host, _, port = addr.rpartition(":")
        return ("tcp", host, int(port))
    return ("tcp", "127.0.0.1", int(addr))


def can_connect(addr, timeout=0.5):
    a = parse_addr(addr)
    if a[0] == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = a[1]
    else:
        s = socket.socket(socket.AF_INET6 if ":" in a[1] else socket.AF_INET,
                          socket.SOCK_STREAM)
        target = (a[1], a[2])
    s.settimeout(timeout)
    try:
        s.connect(target)
        return True
    except OSError:
        return False
    finally:
        s.close()


def proc_stat(pid):
    """(comm, state, ppid) from /proc/PID/stat or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    lp, rp = data.find("("), data.rfind(")")
    rest = data[rp + 2:].split()
    return data[lp + 1:rp], rest[0], int(rest[1])


def children_of(pid):
    """Direct children of pid (via /proc/*/stat ppid), sorted, zombies excluded."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = proc_stat(int(d))
        if st and st[2] == pid and st[1] != "Z":
            out.append(int(d))
    return sorted(out)


def descendants_of(pid):
    out, todo = [], [pid]
    while todo:
        for c in children_of(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[1] != "Z"


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "<cannot read %s: %s>" % (path, e)
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


def wait_for(pred, timeout, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return v
        time.sleep(interval)


def base_env(extra=None):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C",
        # present in every daemon's environment: a pool with clear_env=yes
        # (php-fpm's default) must not expose it to PHP
        "PFPM_HARNESS_LEAK": "leaked-from-master-env",
    }
    # Sanitizer settings of the ASan/UBSan run reach pfpm and its workers.
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "PFPM_PHP_DIR"):
        if k in os.environ:
            env[k] = os.environ[k]
    if extra:
        env.update(extra)
    return env


class Daemon:
    """A foreground daemon started by the harness."""

    name = "daemon"

    def __init__(self, tmp, name=None):
        self.tmp = tmp
        if name:
            self.name = name
        self.proc = None
        self.out_path = tmp.file("%s.out" % self.name)
        self.log_path = self.out_path
        self.env = base_env()

    def argv(self):
        raise NotImplementedError

    def ready_addrs(self):
        return []

    def start(self, timeout=20):
        argv = self.argv()
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     cwd=self.tmp.path, start_new_session=True)
        out.close()
        if self not in _LIVE:
            _LIVE.append(self)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=20):
        addrs = self.ready_addrs()
        end = time.monotonic() + timeout
        pending = list(addrs)
        while pending:
            if self.proc.poll() is not None:
                raise HarnessError("%s exited with status %s during startup\n"
                                   "argv: %s\n%s" % (self.name, self.proc.returncode,
                                                     " ".join(self.argv()), self.diagnostics()))
            pending = [a for a in pending if not can_connect(a)]
            if not pending:
                break
            if time.monotonic() > end:
                raise HarnessError("%s: %s not accepting connections after %ss\n%s"
                                   % (self.name, ", ".join(map(str, pending)), timeout,
                                      self.diagnostics()))
            time.sleep(0.05)

    def diagnostics(self):
        parts = []
        for p in dict.fromkeys([self.out_path, self.log_path]):
            parts.append("--- %s ---\n%s" % (p, tail(p)))
        return "\n".join(parts)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        """Send sig (e.g. signal.SIGUSR2) to the master."""
        if self.alive():
            os.kill(self.proc.pid, sig)

    def workers(self):
        """pids of the master's direct children."""
        return children_of(self.pid) if self.alive() else []

    def stop(self, timeout=10, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        if self in _LIVE:
            _LIVE.remove(self)
        if self.proc.poll() is None:
            family = descendants_of(self.proc.pid)
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            # any descendant still around after the master is gone is ours to end
            for p in family:
                if wait_for(lambda: not pid_alive(p), 2):
                    continue
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return self.proc.returncode

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _stop_all():
    for d in list(_LIVE):
        try:
            d.stop(timeout=5)
        except Exception:
            pass
    for t in list(_TMPDIRS):
        t.cleanup()


atexit.register(_stop_all)


# ---------------------------------------------------------------------------
# php.ini

DEFAULT_PHP_INI = collections.OrderedDict([
    ("engine", "On"),
    ("expose_php", "On"),
    ("short_open_tag", "Off"),
    ("precision", "14"),
    ("output_buffering", "4096"),
    ("implicit_flush", "Off"),
    ("zend.enable_gc", "On"),
    ("max_execution_time", "30"),
    ("max_input_time", "60"),
    ("memory_limit", "128M"),
    ("error_reporting", "E_ALL"),
    ("display_errors", "Off"),
    ("display_startup_errors", "Off"),
    ("log_errors", "On"),
    ("html_errors", "On"),
    ("ignore_repeated_errors", "Off"),
    ("variables_order", '"EGPCS"'),
    ("request_order", '"GP"'),
    ("register_argc_argv", "Off"),
    ("auto_globals_jit", "On"),
    ("post_max_size", "8M"),
    ("default_mimetype", '"text/html"'),
    ("default_charset", '"UTF-8"'),
    ("enable_dl", "Off"),
    ("cgi.fix_pathinfo", "1"),
    ("file_uploads", "On"),
    ("upload_max_filesize", "6M"),
    ("max_file_uploads", "20"),
    ("max_input_vars", "1000"),
    ("max_input_nesting_level", "64"),
    ("allow_url_fopen", "On"),
    ("default_socket_timeout", "60"),
    ("date.timezone", "UTC"),
    ("session.save_handler", "files"),
    ("session.use_strict_mode", "0"),
    ("session.use_cookies", "1"),
    ("session.name", "PHPSESSID"),
    ("session.auto_start", "0"),
    ("session.gc_probability", "0"),
    ("opcache.enable", "1"),
    ("opcache.enable_cli", "0"),
    ("opcache.validate_timestamps", "1"),
    ("opcache.revalidate_freq", "0"),
])


def write_php_ini(tmp, name, overrides=None):
    """Write <tmp>/<name>.ini and a scan dir with the same extensions that
    php-fpm's conf.d loads. Returns (ini_path, scan_dir). Start both sides
    with PHP_INI_SCAN_DIR=scan_dir so that they load identical settings."""
    work = tmp.sub("php-%s" % name)
    up = tmp.sub("php-%s" % name, "upload_tmp", mode=0o1777)
    systmp = tmp.sub("php-%s" % name, "sys_tmp", mode=0o1777)
    sess = tmp.sub("php-%s" % name, "sessions", mode=0o1733)
    settings = collections.OrderedDict(DEFAULT_PHP_INI)
    settings["upload_tmp_dir"] = '"%s"' % up
    settings["sys_temp_dir"] = '"%s"' % systmp
    settings["session.save_path"] = '"%s"' % sess
    for k, v in (overrides or {}).items():
        settings[k] = v
    lines = ["; generated by tests/integration/harness.py", "[PHP]"]
    for k, v in settings.items():
        if v is None:
            continue
        lines.append("%s = %s" % (k, v))
    ini = os.path.join(work, "php.ini")
    with open(ini, "w") as f:
        f.write("\n".join(lines) + "\n")
    scan = tmp.sub("php-%s" % name, "conf.d")
    if os.path.isdir(PHP_CONF_D):
        for e in sorted(os.listdir(PHP_CONF_D)):
            src = os.path.realpath(os.path.join(PHP_CONF_D, e))
            dst = os.path.join(scan, e)
            if not os.path.exists(dst):
                shutil.copyfile(src, dst)
    return ini, scan


# ---------------------------------------------------------------------------
# php-fpm and pfpm

def _fpm_ini_value(v):
    if v is True:
        return "yes"
    if v is False:
        return "no"
    return str(v)


def fpm_conf_text(global_opts, pools):
    """php-fpm INI syntax. pools: list of dicts with 'name' and options.
    Values that are dicts become name[key] = value (env, php_value, ...)."""
    lines = ["[global]"]
    for k, v in global_opts.items():
        lines.append("%s = %s" % (k, _fpm_ini_value(v)))
    for pool in pools:
        lines.append("")
        lines.append("[%s]" % pool["name"])
        for k, v in pool.items():
            if k == "name":
                continue
            if isinstance(v, dict):
                for sk, sv in v.items():
                    lines.append("%s[%s] = %s" % (k, sk, _fpm_ini_value(sv)))
            elif isinstance(v, (list, tuple)):
                lines.append("%s = %s" % (k, " ".join(map(str, v))))
            else:
                lines.append("%s = %s" % (k, _fpm_ini_value(v)))
    return "\n".join(lines) + "\n"


def confuse_quote(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _confuse_value(v):
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_confuse_value(x) for x in v) + "}"
    return confuse_quote(v)


def _confuse_lines(opts, indent):
    out = []
    pad = "    " * indent
    for k, v in opts.items():
        if isinstance(v, dict):
            out.append("%s%s {" % (pad, k))
            out.extend(_confuse_lines(v, indent + 1))
            out.append("%s}" % pad)
        else:
            out.append("%s%s = %s" % (pad, k, _confuse_value(v)))
    return out


def pfpm_conf_text(global_opts, pools):
    """pfpm's libconfuse syntax. Strings are quoted, ints/bools bare,
    lists as {..}, dicts as nested sections (php_admin_value { k = "v" })."""
    lines = ["# generated by tests/integration/harness.py"]
    lines.extend(_confuse_lines(global_opts, 0))
    for pool in pools:
        opts = collections.OrderedDict((k, v) for k, v in pool.items() if k != "name")
        lines.append("")
        lines.append("pool %s {" % pool["name"])
        lines.extend(_confuse_lines(opts, 1))
        lines.append("}")
    return "\n".join(lines) + "\n"


DEFAULT_POOL = collections.OrderedDict([
    ("pm", "static"),
    ("pm.max_children", 2),
    ("listen.mode", "0666"),
    ("catch_workers_output", True),
])


class Backend(Daemon):
    """Common interface of php-fpm and pfpm.

    pools: list of dicts {'name': 'www', 'listen': '/sock' | '127.0.0.1:port', ...}
    (options in php-fpm's names; DEFAULT_POOL is applied underneath)."""

    kind = "?"

    def __init__(self, tmp, name, pools, php_ini, scan_dir=None, global_opts=None,
                 log_level="notice"):
        super().__init__(tmp, name)
        self.pools = []
        for p in pools:
            full = collections.OrderedDict([("name", p["name"]), ("listen", p["listen"])])
            full.update(DEFAULT_POOL)
            if parse_addr(p["listen"])[0] != "unix":
                del full["listen.mode"]
            full.update((k, v) for k, v in p.items() if k not in ("name",))
            self.pools.append(full)
        self.php_ini = php_ini
        self.scan_dir = scan_dir
        self.global_opts = dict(global_opts or {})
        self.log_level = log_level
        self.log_path = tmp.file("%s.log" % name)
        self.conf_path = None
        if scan_dir:
            self.env["PHP_INI_SCAN_DIR"] = scan_dir
        self.starts = 0

    def start(self, timeout=20):
        # a stale socket of a crashed run would make the readiness check lie
        for p in self.pools:
            a = parse_addr(p["listen"])
            if a[0] == "unix" and os.path.exists(a[1]):
                os.unlink(a[1])
        self.starts += 1
        return super().start(timeout)

    def exit_description(self):
        """'exit status N' / 'killed by SIGxxx' once the master has exited, else None."""
        if self.proc is None or self.proc.poll() is None:
            return None
        rc = self.proc.returncode
        if rc < 0:
            try:
                return "killed by %s" % signal.Signals(-rc).name
            except ValueError:
                return "killed by signal %d" % -rc
        return "exit status %d" % rc

    def ready_addrs(self):
        return [p["listen"] for p in self.pools]

    def listen(self, pool=None):
        for p in self.pools:
            if pool is None or p["name"] == pool:
                return p["listen"]
        raise KeyError(pool)


class PhpFpm(Backend):
    kind = "php-fpm"

    def argv(self):
        g = collections.OrderedDict([
            ("pid", self.tmp.file("%s.pid" % self.name)),
            ("error_log", self.log_path),
            ("log_level", self.log_level),
            ("daemonize", "no"),
        ])
        g.update(self.global_opts)
        self.conf_path = self.tmp.write("%s.conf" % self.name, fpm_conf_text(g, self.pools))
        argv = [PHP_FPM_BIN, "-F", "-y", self.conf_path, "-c", self.php_ini]
        if IS_ROOT:
            argv.append("-R")
        return argv


class Pfpm(Backend):
    kind = "pfpm"

    def argv(self):
        g = collections.OrderedDict([
            ("pid", self.tmp.file("%s.pid" % self.name)),
            ("error_log", self.log_path),
            ("log_level", self.log_level),
            ("php_ini", self.php_ini),
        ])
        g.update(self.global_opts)
        self.conf_path = self.tmp.write("%s.conf" % self.name, pfpm_conf_text(g, self.pools))
        argv = [pfpm_binary(), "-F", "-c", self.conf_path]
        if IS_ROOT:
            argv.append("-R")            # like php-fpm: pools without a user when root
        return argv + shlex.split(os.environ.get("PFPM_EXTRA_ARGS", ""))


def make_backend(kind, *args, **kw):
    """kind 'php-fpm' or 'pfpm'. With PFPM_PARITY_SELFTEST=1 'pfpm' is php-fpm."""
    if kind == "pfpm" and not selftest():
        return Pfpm(*args, **kw)
    return PhpFpm(*args, **kw)


# ---------------------------------------------------------------------------
# nginx

def nginx_prelude(d, workers=1, connections=512):
    """nginx.conf up to the server blocks, everything in the daemon d's test dir."""
    t = d.tmp
    out = ["user root;"] if IS_ROOT else []
    return out + [
        "worker_processes %d;" % workers,
        "pid %s;" % t.file("%s.pid" % d.name),
        "error_log %s notice;" % d.log_path,
        "events { worker_connections %d; }" % connections,
        "http {",
        "    access_log %s;" % t.file("%s.access.log" % d.name),
        "    client_body_temp_path %s;" % t.sub("%s-tmp" % d.name, "body"),
        "    fastcgi_temp_path %s;" % t.sub("%s-tmp" % d.name, "fastcgi"),
        "    proxy_temp_path %s;" % t.sub("%s-tmp" % d.name, "proxy"),
        "    scgi_temp_path %s;" % t.sub("%s-tmp" % d.name, "scgi"),
        "    uwsgi_temp_path %s;" % t.sub("%s-tmp" % d.name, "uwsgi"),
        "    default_type application/octet-stream;",
        "    sendfile off;",
        "    keepalive_timeout 30s;",
    ]


class Nginx(Daemon):
    """servers: list of dicts
        name        label (per-server error log <tmp>/nginx-<name>.error.log)
        port        listen port on 127.0.0.1 (allocated when missing)
        backend     'unix:/path' | '/path' | '127.0.0.1:port'
        keepalive   True: upstream{keepalive} + fastcgi_keep_conn on
        buffering   fastcgi_buffering (default True)
        unbuffered  regex of script URIs served with fastcgi_buffering off
        also_fastcgi regex of non-.php URIs also passed to FastCGI (e.g. '\\.txt$')
        params      extra fastcgi_param dict
        root        document root (default tests/fixtures/php)
    """

    name = "nginx"

    def __init__(self, tmp, servers, name="nginx"):
        super().__init__(tmp, name)
        self.servers = []
        for s in servers:
            s = dict(s)
            s.setdefault("port", free_port())
            s.setdefault("root", PHP_FIXTURES)
            s["error_log"] = tmp.file("%s-%s.error.log" % (name, s["name"]))
            self.servers.append(s)
        self.log_path = tmp.file("%s.error.log" % name)

    def server(self, name):
        for s in self.servers:
            if s["name"] == name:
                return s
        raise KeyError(name)

    def ready_addrs(self):
        return ["127.0.0.1:%d" % s["port"] for s in self.servers]

    def _fastcgi_block(self, s, upstream, buffering, split=r"^(.+?\.php)(/.*)$"):
        b = parse_addr(s["backend"])
        target = upstream or ("unix:%s" % b[1] if b[0] == "unix" else
                              ("[%s]:%d" % (b[1], b[2]) if ":" in b[1] else "%s:%d" % (b[1], b[2])))
        lines = [
            "fastcgi_split_path_info %s;" % split,
            "include %s;" % NGINX_FASTCGI_PARAMS,
            "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;",
            "fastcgi_param PATH_INFO $fastcgi_path_info;",
        ]
        for k, v in (s.get("params") or {}).items():
            lines.append('fastcgi_param %s "%s";' % (k, v))
        lines.append("fastcgi_pass %s;" % target)
        if s.get("keepalive"):
            lines.append("fastcgi_keep_conn on;")
        lines.append("fastcgi_buffering %s;" % ("on" if buffering else "off"))
        lines.append("fastcgi_read_timeout %ds;" % s.get("read_timeout", 30))
        return "\n            ".join(lines)

    def prelude(self, workers=1, connections=512):
        return nginx_prelude(self, workers, connections)

    def conf_text(self):
        out = self.prelude()
        for s in self.servers:
            upstream = None
            if s.get("keepalive"):
                upstream = "up_%s" % re.sub(r"\W", "_", s["name"])
                b = parse_addr(s["backend"])
                srv = "unix:%s" % b[1] if b[0] == "unix" else "%s:%d" % (b[1], b[2])
                out.append("    upstream %s { server %s; keepalive 8; }" % (upstream, srv))
            out.append("    server {")
            out.append("        listen 127.0.0.1:%d;" % s["port"])
            out.append("        server_name localhost;")
            out.append("        root %s;" % s["root"])
            out.append("        index index.php;")
            out.append("        error_log %s notice;" % s["error_log"])
            out.append("        client_max_body_size 50m;")
            buffering = s.get("buffering", True)
            if s.get("unbuffered"):
                out.append("        location ~ %s {" % s["unbuffered"])
                out.append("            " + self._fastcgi_block(s, upstream, False))
                out.append("        }")
            out.append("        location ~ [^/]\\.php(/|$) {")
            out.append("            " + self._fastcgi_block(s, upstream, buffering))
            out.append("        }")
            if s.get("also_fastcgi"):
                out.append("        location ~ %s {" % s["also_fastcgi"])
                out.append("            " + self._fastcgi_block(s, upstream, buffering,
                                                             split=r"^(.+?\.[A-Za-z0-9]+)(/.*)$"))
                out.append("        }")
            out.append("    }")
        out.append("}")
        return "\n".join(out) + "\n"

    def argv(self):
        conf = self.tmp.write("%s.conf" % self.name, self.conf_text())
        return [NGINX_BIN, "-p", self.tmp.path, "-c", conf, "-g", "daemon off;"]


# ---------------------------------------------------------------------------
# Apache httpd 2.4 + mod_proxy_fcgi

class Apache(Daemon):
    """vhosts: list of dicts {name, port?, backend ('unix:/p' | '/p' | 'host:port'),
    also_fastcgi (regex of extra file names handed to FastCGI, e.g. '\\.txt$'),
    root}. Runs as www-data (httpd refuses root workers): the temp dir is 0755
    and pool sockets are created 0666 (listen.mode)."""

    name = "apache"
    MODULES = ["mpm_event", "authz_core", "proxy", "proxy_fcgi", "mime", "dir",
               "setenvif", "env"]

    def __init__(self, tmp, vhosts, name="apache"):
        super().__init__(tmp, name)
        self.vhosts = []
        for v in vhosts:
            v = dict(v)
            v.setdefault("port", free_port())
            v.setdefault("root", PHP_FIXTURES)
            v["error_log"] = tmp.file("%s-%s.error.log" % (name, v["name"]))
            self.vhosts.append(v)
        self.log_path = tmp.file("%s.error.log" % name)

    def server(self, name):
        for v in self.vhosts:
            if v["name"] == name:
                return v
        raise KeyError(name)

    def ready_addrs(self):
        return ["127.0.0.1:%d" % v["port"] for v in self.vhosts]

    @staticmethod
    def handler(backend):
        b = parse_addr(backend)
        if b[0] == "unix":
            return "proxy:unix:%s|fcgi://localhost" % b[1]
        return "proxy:fcgi://%s:%d" % (b[1], b[2])

    def conf_text(self):
        t = self.tmp
        rundir = t.sub("%s-run" % self.name)
        out = ["ServerRoot %s" % t.path]
        for m in self.MODULES:
            out.append("LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m))
        out += [
            "PidFile %s" % t.file("%s.pid" % self.name),
            "ErrorLog %s" % self.log_path,
            "LogLevel warn",
            "Mutex file:%s default" % rundir,
            "DefaultRuntimeDir %s" % rundir,
            "ScoreBoardFile %s" % t.file("%s.scoreboard" % self.name),
        ]
        if IS_ROOT:
            out += ["User www-data", "Group www-data"]
        out += [
            "ServerName localhost",
            "ServerTokens Prod",
            "ServerSignature Off",
            "TypesConfig /etc/mime.types",
            "StartServers 1",
            "ServerLimit 2",
            "ThreadsPerChild 16",
            "MaxRequestWorkers 32",
            "KeepAlive On",
            "LimitRequestBody 0",
            "<Directory />",
            "    Options None",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
        ]
        for v in self.vhosts:
            out.append("Listen 127.0.0.1:%d" % v["port"])
        for v in self.vhosts:
            h = self.handler(v["backend"])
            out += [
                "<VirtualHost 127.0.0.1:%d>" % v["port"],
                "    ServerName localhost",
                "    DocumentRoot %s" % v["root"],
                "    ErrorLog %s" % v["error_log"],
                "    AcceptPathInfo On",
                "    DirectoryIndex index.php index.html",
                "    <Directory %s>" % v["root"],
                "        Require all granted",
                "    </Directory>",
                '    <FilesMatch "\\.php$">',
                '        SetHandler "%s"' % h,
                "    </FilesMatch>",
            ]
            if v.get("also_fastcgi"):
                out += ['    <FilesMatch "%s">' % v["also_fastcgi"],
                        '        SetHandler "%s"' % h,
                        "    </FilesMatch>"]
            out.append("</VirtualHost>")
        return "\n".join(out) + "\n"

    def argv(self):
        conf = self.tmp.write("%s.conf" % self.name, self.conf_text())
        return [APACHE_BIN, "-f", conf, "-DFOREGROUND"]

    def stop(self, timeout=10, sig=signal.SIGTERM):
        return super().stop(timeout, sig)


# ---------------------------------------------------------------------------
# HTTP client

class HeaderAccess:
    """Lookups over self.headers ([(name, value)]) and self.body (bytes)."""

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def text(self):
        return self.body.decode("utf-8", "replace")


class Response(HeaderAccess):
    def __init__(self):
        self.status = None
        self.reason = None
        self.version = None
        self.headers = []          # [(name, value)] in received order, duplicates kept
        self.body = b""            # empty when hashed
        self.body_len = 0
        self.body_sha1 = None
        self.hashed = False
        self.chunks = []           # [(seconds since request sent, bytes)] (stream mode)
        self.elapsed = None        # seconds from request sent to body complete
        self.port = None

    def __repr__(self):
        return "<Response %s %s %d bytes>" % (self.status, self.reason, self.body_len)


def http_request(port, method="GET", path="/", headers=None, body=None,
                 host="127.0.0.1", host_header="localhost", timeout=30,
                 stream=False, hash_body=False, conn=None, read_size=65536):
    """One HTTP/1.1 request. headers: list of (name, value) or dict; body: bytes
    or None. Redirects are never followed. stream=True records chunk arrival
    times in resp.chunks. hash_body=True keeps only sha1+length of the body.
    conn: reuse an http.client.HTTPConnection (keep-alive)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    if "host" not in names and host_header is not None:
        conn.putheader("Host", host_header)
    for k, v in headers:
        conn.putheader(k, v)
    if body is not None and "content-length" not in names:
        conn.putheader("Content-Length", str(len(body)))
    t0 = time.monotonic()
    conn.endheaders(message_body=body)
    r = conn.getresponse()
    resp = Response()
    resp.port = port
    resp.status, resp.reason, resp.version = r.status, r.reason, r.version
    resp.headers = list(r.getheaders())
    h = hashlib.sha1()
    parts = []
    if method == "HEAD":
        r.read()
    else:
        while True:
            data = r.read1(read_size) if stream else r.read(read_size)
            if not data:
                break
            if stream:
                resp.chunks.append((time.monotonic() - t0, data))
            h.update(data)
            resp.body_len += len(data)
            if not hash_body:
                parts.append(data)
    resp.elapsed = time.monotonic() - t0
    resp.body = b"".join(parts)
    resp.body_sha1 = h.hexdigest()
    resp.hashed = hash_body
    if own:
        conn.close()
    return resp


MULTIPART_BOUNDARY = "----pfpmTestBoundary7MA4YWxkTrZu0gW"


def multipart(fields=(), files=(), boundary=MULTIPART_BOUNDARY):
    """Build multipart/form-data. fields: [(name, value)], files:
    [(field, filename, content_type, data_bytes)]. Returns (content_type, body)."""
    b = boundary.encode()
    out = []
    for name, value in fields:
        if isinstance(value, str):
            value = value.encode("utf-8")
        out += [b"--" + b, b"\r\n",
                b'Content-Disposition: form-data; name="' + name.encode("utf-8") + b'"\r\n\r\n',
                value, b"\r\n"]
    for field, filename, ctype, data in files:
        if b in data:
            raise ValueError("boundary occurs in file data")
        out += [b"--" + b, b"\r\n",
                b'Content-Disposition: form-data; name="' + field.encode("utf-8") +
                b'"; filename="' + filename.encode("utf-8") + b'"\r\n',
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n",
                data, b"\r\n"]
    out += [b"--" + b, b"--\r\n"]
    return "multipart/form-data; boundary=%s" % boundary, b"".join(out)


def pattern_bytes(n, seed=b"pfpm"):
    """Deterministic pseudo-random bytes (no multipart boundary in them)."""
    out = bytearray()
    block = hashlib.sha256(seed).digest()
    i = 0
    while len(out) < n:
        block = hashlib.sha256(block + i.to_bytes(8, "little")).digest()
        out += block * 64
        i += 1
    return bytes(out[:n])


def cookie_header(pairs):
    """[(name, value)] -> 'a=1; b=2' (values sent as given)."""
    return "; ".join("%s=%s" % (k, v) for k, v in pairs)


# ---------------------------------------------------------------------------
# parity normalisation

DROP_HEADERS = {"date", "server", "connection", "keep-alive"}
_MAX_AGE = re.compile(r"(?i)(max-age=)\d+")


def normalize(resp, drop=(), port_in_body=True):
    """-> dict with status, reason, headers (sorted multiset of (lower name,
    value)) and body (bytes, or 'sha1:<hex> len:<n>' when hashed).
    Set-Cookie Max-Age is computed from time() by PHP itself, so its number is
    masked (two requests can straddle a second)."""
    dropset = DROP_HEADERS | {d.lower() for d in drop}
    hdrs = []
    for k, v in resp.headers:
        lk = k.lower()
        if lk in dropset:
            continue
        if lk == "set-cookie":
            v = _MAX_AGE.sub(r"\1<n>", v)
        hdrs.append((lk, v))
    if resp.hashed:
        body = ("sha1:%s len:%d" % (resp.body_sha1, resp.body_len)).encode()
    else:
        body = resp.body
        if port_in_body and resp.port:
            body = re.sub(rb"\bPort %d\b" % resp.port, b"Port <PORT>", body)
            body = re.sub(rb":%d\b" % resp.port, b":<PORT>", body)
    return {"status": resp.status, "reason": resp.reason,
            "headers": sorted(hdrs), "body": body}


def _short(b, n=300):
    r = repr(b)
    return r if len(r) <= n else r[:n] + "...(%d bytes)" % len(b)


def diff_normalized(a, b, label_a="php-fpm", label_b="pfpm", max_lines=30):
    """None when equal, else a short human-readable diff."""
    out = []
    if (a["status"], a["reason"]) != (b["status"], b["reason"]):
        out.append("status: %s=%r %r, %s=%r %r" % (label_a, a["status"], a["reason"],
                                                   label_b, b["status"], b["reason"]))
    ca, cb = collections.Counter(a["headers"]), collections.Counter(b["headers"])
    if ca != cb:
        for (k, v), n in sorted((ca - cb).items()):
            out.append("header only in %s: %s: %s%s" % (label_a, k, v, " (x%d)" % n if n > 1 else ""))
        for (k, v), n in sorted((cb - ca).items()):
            out.append("header only in %s: %s: %s%s" % (label_b, k, v, " (x%d)" % n if n > 1 else ""))
    if a["body"] != b["body"]:
        ba, bb = a["body"], b["body"]
        out.append("body differs (%s %d bytes, %s %d bytes)" % (label_a, len(ba), label_b, len(bb)))
        try:
            ta, tb = ba.decode("utf-8"), bb.decode("utf-8")
            textual = len(ta) < 200000 and len(tb) < 200000
        except UnicodeDecodeError:
            textual = False
        if textual:
            d = list(difflib.unified_diff(ta.splitlines(), tb.splitlines(), label_a, label_b,
                                          n=1, lineterm=""))
            if len(d) > max_lines:
                d = d[:max_lines] + ["... (%d more diff lines)" % (len(d) - max_lines)]
            out.extend(d)
        else:
            i = next((i for i in range(min(len(ba), len(bb))) if ba[i] != bb[i]),
                     min(len(ba), len(bb)))
            out.append("first difference at byte %d: %s | %s" % (
                i, _short(ba[max(0, i - 20):i + 60], 200), _short(bb[max(0, i - 20):i + 60], 200)))
    return "\n".join(out) if out else None


def read_new(path, offset):
    """(new text since offset, new offset)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return "", offset
    return data.decode("utf-8", "replace"), offset + len(data)


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# ---------------------------------------------------------------------------
# Redis (test_tasks.py: the Redis task queue, the global timer lock)

REDIS_BIN = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")


class RedisServer(Daemon):
    """A throwaway redis-server on 127.0.0.1:<free port>, nothing persisted
    (--save "" --appendonly no). url(db) gives pfpm's task_queue value;
    command(...) is a minimal RESP client (for FLUSHDB, KEYS, ...)."""

    name = "redis"

    def __init__(self, tmp, name="redis", port=None):
        super().__init__(tmp, name)
        self.port = port or free_port()
        self.data_dir = tmp.sub("%s-data" % self.name)

    def argv(self):
        return [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", self.data_dir, "--logfile", ""]

    def ready_addrs(self):
        return ["127.0.0.1:%d" % self.port]

    def url(self, db=0):
        return "redis://127.0.0.1:%d/%d" % (self.port, db)

    def command(self, *args, db=0, timeout=5):
        """One command (after SELECT db); the decoded reply (bytes, int, list, None)."""
        def enc(*a):
            out = [b"*%d\r\n" % len(a)]
            for x in a:
                x = x if isinstance(x, bytes) else str(x).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(x), x))
            return b"".join(out)
        s = socket.create_connection(("127.0.0.1", self.port), timeout)
        f = s.makefile("rb")

        def read():
            line = f.readline()
            if not line:
                raise HarnessError("redis: connection closed")
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest
            if kind == b"-":
                raise HarnessError("redis: %s" % rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)
                return data[:-2]
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [read() for _ in range(n)]
            raise HarnessError("redis: unexpected reply %r" % line)
        try:
            s.sendall(enc("SELECT", db) + enc(*args))
            read()
            return read()
        finally:
            f.close()
            s.close()
