"""pfpm --convert-fpm: php-fpm configurations in, pfpm configurations out.

Converts Debian's own php-fpm.conf (with its include of pool.d/www.conf) and
tests/fixtures/fpm/full.conf, which uses every php-fpm pool directive.  The
output must pass `pfpm -t`, the exit status must say whether something was
dropped, every dropped directive must be named in a comment, and pfpm with
the converted file must serve what php-fpm serves with the original: the
same PHP settings, locks, environment, limits and user, seen through nginx
by tests/fixtures/fpm/www/dump.php.
"""

import json
import os
import re
import shlex
import subprocess

import harness as H

FPM_FIXTURES = os.path.join(H.FIXTURES, "fpm")
WWW = os.path.join(FPM_FIXTURES, "www")
DEBIAN_CONF = "/etc/php/8.2/fpm/php-fpm.conf"

# Environment of both daemons: env[X] = $FPM_CONV_FROM_ENV and ${...} read it.
DAEMON_ENV = {"FPM_CONV_FROM_ENV": "hello-env", "FPM_CONV_CHARSET": "ISO-8859-15"}

# What full.conf sets that pfpm does not have.
DROPPED_FULL = [
    "listen.acl_users", "listen.acl_groups", "process.priority",
    "pm.status_listen", "chroot", "apparmor_hat",
]
# What it sets that pfpm has (under the same name).
CARRIED_FULL = [
    "user", "group", "listen", "listen.backlog", "listen.owner", "listen.group",
    "listen.mode", "listen.allowed_clients", "pm", "pm.max_children",
    "pm.start_servers", "pm.min_spare_servers", "pm.max_spare_servers",
    "pm.max_spawn_rate", "pm.process_idle_timeout", "pm.max_requests",
    "pm.status_path", "ping.path", "ping.response", "access.log",
    "access.format", "access.suppress_path", "request_terminate_timeout",
    "rlimit_files", "rlimit_core", "chdir", "catch_workers_output",
    "decorate_workers_output", "clear_env", "security.limit_extensions", "env",
    "php_value", "php_flag", "php_admin_value", "php_admin_flag",
]

_tmp = None


def setup_module():
    global _tmp
    ok, why = H.pfpm_available()
    if not ok or H.selftest():
        raise H.Skip(why or "needs the real pfpm")
    _tmp = H.TestDir("pfpm-convert")


def teardown_module():
    if _tmp is not None:
        _tmp.cleanup()


def convert(*files, prefix=None):
    """(exit status, stdout, stderr) of pfpm --convert-fpm."""
    argv = [H.pfpm_binary(), "--convert-fpm"]
    if prefix:
        argv += ["-p", prefix]
    p = subprocess.run(argv + list(files), capture_output=True, text=True,
                       env=H.base_env(DAEMON_ENV), timeout=30)
    return p.returncode, p.stdout, p.stderr


def check_t(path):
    """pfpm -t -R -c path must accept the converted file."""
    p = subprocess.run([H.pfpm_binary(), "-t", "-R", "-c", path],
                       capture_output=True, text=True,
                       env=H.base_env(DAEMON_ENV), timeout=60)
    assert p.returncode == 0, "pfpm -t refuses the converted %s:\n%s\n--- file ---\n%s" % (
        path, p.stderr, open(path).read())


def fill(text, d, status_port):
    return text.replace("@DIR@", d).replace("@STATUS_PORT@", str(status_port))


def full_setup(name):
    """full.conf with its placeholders filled, in a fresh directory."""
    d = _tmp.sub(name)
    for sub in ("log", "www", "sessions", "lib"):
        _tmp.sub(name, sub)
    with open(os.path.join(FPM_FIXTURES, "full.conf")) as f:
        text = fill(f.read(), d, H.free_port())
    conf = os.path.join(d, "full.conf")
    with open(conf, "w") as f:
        f.write(text)
    return d, conf


def directives_in(text):
    """Names of the directives a converted file sets, pool sections included."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"^\s*([a-z_.]+)\s*(=|\{)", line)
        if m:
            names.add(m.group(1))
    return names


class FromFile(H.Daemon):
    """php-fpm or pfpm started on a configuration file of ours."""

    def __init__(self, tmp, name, argv, addrs, env, log_path=None):
        super().__init__(tmp, name)
        self._argv = argv
        self._addrs = addrs
        self.env.update(env)
        if log_path:
            self.log_path = log_path

    def argv(self):
        return self._argv

    def ready_addrs(self):
        return self._addrs


def php_fpm(name, conf, ini, scan, addrs, log_path):
    argv = [H.PHP_FPM_BIN, "-F", "-y", conf, "-c", ini]
    if H.IS_ROOT:
        argv.append("-R")
    env = dict(DAEMON_ENV, PHP_INI_SCAN_DIR=scan)
    return FromFile(_tmp, name, argv, addrs, env, log_path)


def pfpm(name, conf, ini, scan, addrs, log_path):
    argv = [H.pfpm_binary(), "-F", "-c", conf]
    if H.IS_ROOT:
        argv.append("-R")
    argv += shlex.split(os.environ.get("PFPM_EXTRA_ARGS", ""))
    # the converted file has no php_ini: pfpm reads PHPRC's
    env = dict(DAEMON_ENV, PHP_INI_SCAN_DIR=scan, PHPRC=ini)
    return FromFile(_tmp, name, argv, addrs, env, log_path)


def serve(backend, servers, requests):
    """Start backend and nginx in front; {(server, path): (status, body)}."""
    out = {}
    nginx = None
    backend.start()
    try:
        nginx = H.Nginx(_tmp, servers, name="nginx-" + backend.name).start()
        for server, path in requests:
            port = nginx.server(server)["port"]
            r = H.http_request(port, "GET", path)
            out[(server, path)] = (r.status, r.text())
    finally:
        if nginx is not None:
            nginx.stop()
        backend.stop()
    return out


def compare(ref, got, what):
    for key in ref:
        rs, rb = ref[key]
        gs, gb = got[key]
        assert rs == gs, "%s %s: php-fpm answered %s, pfpm %s\nphp-fpm:\n%s\npfpm:\n%s" % (
            what, key, rs, gs, rb[:2000], gb[:2000])
        if rs == 200 and rb.lstrip().startswith("{"):
            rj, gj = json.loads(rb), json.loads(gb)
            diffs = ["  %s.%s: php-fpm %r, pfpm %r" % (sect, k, rj[sect].get(k), gj[sect].get(k))
                     for sect in rj if isinstance(rj[sect], dict)
                     for k in sorted(set(rj[sect]) | set(gj.get(sect, {})))
                     if rj[sect].get(k) != gj.get(sect, {}).get(k)]
            diffs += ["  %s: php-fpm %r, pfpm %r" % (k, rj[k], gj.get(k))
                      for k in rj if not isinstance(rj[k], dict) and rj[k] != gj.get(k)]
            assert not diffs, "%s %s: pfpm differs from php-fpm:\n%s" % (what, key, "\n".join(diffs))
        else:
            assert rb == gb, "%s %s: bodies differ\nphp-fpm: %r\npfpm: %r" % (what, key, rb[:500], gb[:500])


# ---------------------------------------------------------------------------

def test_debian_config_converts():
    """Debian's php-fpm.conf and its pool.d/www.conf: everything carries over."""
    if not os.path.exists(DEBIAN_CONF):
        raise H.Skip("%s is not installed" % DEBIAN_CONF)
    rc, out, err = convert(DEBIAN_CONF)
    assert rc == 0, "exit %d, stderr:\n%s\n%s" % (rc, err, out)
    assert "cannot carry over" not in err and "# pfpm: cannot carry over" not in out, out
    assert "#   /etc/php/8.2/fpm/pool.d/www.conf" in out, out
    assert "pool www {" in out, out
    assert "    listen = /run/php/php8.2-fpm.sock\n" in out, out
    assert "pid = /run/php/php8.2-fpm.pid\n" in out, out
    assert "include" not in directives_in(out), "an include was left in:\n" + out
    path = _tmp.write("debian.pfpm.conf", out)
    check_t(path)


def test_full_config_converts():
    """Every pool directive: pfpm -t passes, exit 1, every drop commented."""
    d, conf = full_setup("full-t")
    # the fixture is a valid php-fpm configuration
    p = subprocess.run([H.PHP_FPM_BIN, "-t", "-y", conf, "-R"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, "php-fpm -t refuses the fixture:\n" + p.stderr + p.stdout
    rc, out, err = convert(conf)
    assert rc == 1, "exit %d (wanted 1: directives were dropped)\n%s" % (rc, err)
    assert "%d php-fpm directives could not be carried over" % len(DROPPED_FULL) in err, err
    dropped = re.findall(r"^\s*# pfpm: cannot carry over: ([a-z_.]+)", out, re.M)
    assert sorted(dropped) == sorted(DROPPED_FULL), \
        "dropped %s, wanted %s\n%s" % (sorted(dropped), sorted(DROPPED_FULL), out)
    have = directives_in(out)
    missing = [n for n in CARRIED_FULL if n not in have]
    assert not missing, "not carried over: %s\n%s" % (missing, out)
    for n in DROPPED_FULL:
        assert n not in have, "%s dropped and written:\n%s" % (n, out)
    path = os.path.join(d, "full.pfpm.conf")
    with open(path, "w") as f:
        f.write(out)
    check_t(path)


def test_convertible_exits_0():
    """A file pfpm can take whole: exit 0, nothing on stderr."""
    d = _tmp.sub("ok")
    conf = _tmp.write("ok/www.conf", "[www]\nlisten = %s/www.sock\npm = static\n"
                      "pm.max_children = 2\nphp_admin_value[memory_limit] = 64M\n"
                      "env[PATH] = $PATH\n" % d)
    rc, out, err = convert(conf)
    assert (rc, err) == (0, ""), "exit %d: %s" % (rc, err)
    assert '        "PATH=${PATH}"\n' in out, out
    check_t(_tmp.write("ok/www.pfpm.conf", out))


def test_errors_name_file_and_line():
    """Syntax errors and missing includes: file:line on stderr, exit 1, no output."""
    cases = [
        ("[global]\npid = /x.pid\n[www\n", 3, "unterminated section header"),
        ("[www]\nlisten = 9000\nthis is not a directive\n", 3, "'=' is missing"),
        ("[global]\n; comment\ninclude = /nonexistent/pool.d/www.conf\n", 3,
         "include: /nonexistent/pool.d/www.conf: no such file"),
    ]
    for i, (text, line, msg) in enumerate(cases):
        conf = _tmp.write("bad%d.conf" % i, text)
        rc, out, err = convert(conf)
        assert rc == 1, "case %d: exit %d" % (i, rc)
        assert out == "", "case %d: output on error:\n%s" % (i, out)
        assert err.startswith("pfpm: %s:%d: " % (conf, line)) and msg in err, \
            "case %d: stderr %r, wanted '%s:%d: ...%s'" % (i, err, conf, line, msg)
    p = subprocess.run([H.pfpm_binary(), "--convert-fpm"], capture_output=True, text=True)
    assert p.returncode == 64, p.returncode


def test_full_config_serves_the_same():
    """php-fpm with full.conf and pfpm with its conversion, through nginx."""
    d, conf = full_setup("full-serve")
    rc, out, err = convert(conf)
    assert rc == 1, err
    converted = os.path.join(d, "full.pfpm.conf")
    with open(converted, "w") as f:
        f.write(out)
    # AppArmor hats cannot be changed in a container without AppArmor
    original = os.path.join(d, "full.fpm.conf")
    with open(conf) as f, open(original, "w") as g:
        g.write("".join(l for l in f if not l.startswith("apparmor_hat")))
    ini, scan = H.write_php_ini(_tmp, "full", {"memory_limit": "128M"})
    addrs = [os.path.join(d, "full.sock"), os.path.join(d, "mini.sock")]
    servers = [
        {"name": "full", "backend": addrs[0], "root": WWW,
         "also_fastcgi": r"(\.(php5|txt)|/ping)$"},
        {"name": "mini", "backend": addrs[1], "root": WWW},
    ]
    requests = [("full", "/dump.php"), ("full", "/dump.php5"), ("full", "/plain.txt"),
                ("full", "/ping"), ("mini", "/dump.php")]
    ref = serve(php_fpm("fpm-full", original, ini, scan, addrs,
                        os.path.join(d, "full.log")), servers, requests)
    for a in addrs:
        if os.path.exists(a):
            os.unlink(a)
    got = serve(pfpm("pfpm-full", converted, ini, scan, addrs,
                     os.path.join(d, "full.log")), servers, requests)
    compare(ref, got, "full.conf")

    # and what they both served is what full.conf says
    full = json.loads(got[("full", "/dump.php")][1])
    mini = json.loads(got[("mini", "/dump.php")][1])
    ini_full = full["ini"]
    assert ini_full["memory_limit"] == "96M", ini_full      # the first one wins
    assert ini_full["error_reporting"] == "24567", ini_full  # E_ALL & ~E_NOTICE & ~E_DEPRECATED
    assert ini_full["user_agent"] == 'pfpm "test" a=b; c', ini_full
    assert ini_full["include_path"] == ".:/usr/share/php:%s/lib" % d, ini_full
    assert ini_full["session.save_path"] == "%s/sessions/full" % d, ini_full
    assert ini_full["default_charset"] == "ISO-8859-15", ini_full
    assert ini_full["error_log"] == "log/full.php.log", ini_full  # chroot: not expanded
    assert all(full["locked"].values()), full["locked"]
    assert full["env"] == {
        "FROM_ENV": "hello-env", "BRACED": "hello-env-braced",
        "PATH": "/usr/local/bin:/usr/bin:/bin", "POOL": "full",
        "QUOTED": 'a "b" c=d; e', "DUP": "first",
        "PFPM_HARNESS_LEAK": False, "FPM_CONV_FROM_ENV": False}, full["env"]
    assert full["rlimit"]["soft openfiles"] == 1024, full["rlimit"]
    assert full["rlimit"]["soft core"] == "unlimited", full["rlimit"]
    assert mini["rlimit"]["soft openfiles"] == 4096, mini["rlimit"]  # the global one
    assert mini["ini"]["memory_limit"] == "64M", mini["ini"]
    assert mini["ini"]["error_log"] == "%s/log/mini.php.log" % d, mini["ini"]
    if H.IS_ROOT:
        assert full["user"] == "www-data", full["user"]
    assert got[("full", "/plain.txt")][0] == 403
    assert got[("full", "/ping")] == (200, "pong")


def test_debian_config_serves_the_same():
    """Debian's configuration, its paths moved into a temp dir."""
    if not os.path.exists(DEBIAN_CONF):
        raise H.Skip("%s is not installed" % DEBIAN_CONF)
    d = _tmp.sub("debian")
    _tmp.sub("debian", "pool.d")

    def moved(text):
        return (text.replace("/etc/php/8.2/fpm/pool.d/", d + "/pool.d/")
                .replace("/run/php/", d + "/").replace("/var/log/", d + "/"))

    with open(DEBIAN_CONF) as f:
        main = _tmp.write("debian/php-fpm.conf", moved(f.read()))
    pools = os.path.join(os.path.dirname(DEBIAN_CONF), "pool.d")
    for name in sorted(os.listdir(pools)):
        if name.endswith(".conf"):
            with open(os.path.join(pools, name)) as f:
                _tmp.write("debian/pool.d/" + name, moved(f.read()))
    rc, out, err = convert(main)
    assert rc == 0, err
    assert d + "/pool.d/www.conf" in out, out
    converted = _tmp.write("debian/pfpm.conf", out)
    check_t(converted)
    listen = re.search(r"^\s*listen = (\S+)$", out, re.M).group(1)
    ini, scan = H.write_php_ini(_tmp, "debian")
    servers = [{"name": "www", "backend": listen, "root": WWW}]
    requests = [("www", "/dump.php"), ("www", "/plain.txt")]
    log = os.path.join(d, "php8.2-fpm.log")
    ref = serve(php_fpm("fpm-debian", main, ini, scan, [listen], log), servers, requests)
    if os.path.exists(listen):
        os.unlink(listen)
    got = serve(pfpm("pfpm-debian", converted, ini, scan, [listen], log), servers, requests)
    compare(ref, got, "Debian's php-fpm.conf")
