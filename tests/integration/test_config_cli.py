"""Command line and configuration checking of the pfpm binary:
`-t` on good and bad configurations (exit status, file:line and option in
every message, all errors at once), starting with a bad configuration (no
process, no socket), -v, -h, bad flags, and the root/user rule.
"""

import os
import re
import signal
import subprocess
import time

import harness as H
import procutil as P

TMP = None


def setup_module():
    global TMP
    H.require_pfpm("pfpm CLI tests need the pfpm binary")
    TMP = H.TestDir("pfpm-cli")


def teardown_module():
    if TMP is not None:
        TMP.cleanup()


def _conf(name, text):
    """Write a config; returns (path, {marker: line}) for lines ending in '# @marker'.
    Markers are stripped (libconfuse 3.3 miscounts lines after comments)."""
    lines, marks = [], {}
    for i, line in enumerate(text.strip("\n").split("\n"), 1):
        m = re.search(r"\s*#\s*@(\w+)\s*$", line)
        if m:
            marks[m.group(1)] = i
            line = line[:m.start()]
        lines.append(line)
    path = TMP.write(name, "\n".join(lines) + "\n")
    return path, marks


def _sock(name):
    return TMP.file(name + ".sock")


def _check(args, env=None):
    return P.run_pfpm(args, env=env)


def _error_lines(stderr):
    return [l for l in stderr.splitlines() if "ERROR" in l or "error" in l.lower()]


def _assert_names(stderr, path, lines, needles, what):
    """Some error line names path:<one of lines> and every needle."""
    base = os.path.basename(path)
    for l in stderr.splitlines():
        m = re.search(r"(?:^|[\s/])" + re.escape(base) + r":(\d+):", l)
        if not m or int(m.group(1)) not in lines:
            continue
        if all(n in l for n in needles):
            return l
    raise AssertionError("%s: no message naming %s:%s and %s in:\n%s" % (
        what, base, "|".join(map(str, sorted(lines))), needles, stderr))


def _span(marks, first, last):
    return set(range(marks[first], marks[last] + 1))


# ---------------------------------------------------------------------------
# -t


def test_t_valid_config_exit_0():
    path, _ = _conf("valid.conf", """
error_log = "%s"
log_level = notice
pool www {
    listen = "%s"
    pm = dynamic
    pm.max_children = 5
    pm.min_spare_servers = 1
    pm.max_spare_servers = 2
    pm.max_requests = 0
    catch_workers_output = yes
    php_admin_value { memory_limit = 128M }
}
""" % (TMP.file("valid.log"), _sock("valid")))
    rc, out, err = _check(["-t", "-R", "-c", path])
    assert rc == 0, "pfpm -t on a valid config: exit %d\n%s" % (rc, err)
    assert "successful" in (out + err), (out, err)
    assert not os.path.exists(_sock("valid")), "-t created the socket"


BAD = [
    # name, config text, needles, marker range of acceptable lines
    ("unknown_option", """
pool www {                                  # @start
    listen = "{sock}"
    bogus_option = 1                        # @bad
}                                           # @end
""", ["bogus_option"], ("bad", "bad")),
    ("wrong_type", """
pool www {
    listen = "{sock}"
    pm.max_children = "lots"                # @bad
}
""", ["pm.max_children"], ("bad", "bad")),
    ("wrong_type_bool", """
pool www {
    listen = "{sock}"
    catch_workers_output = sometimes        # @bad
}
""", ["catch_workers_output"], ("bad", "bad")),
    ("max_children_zero", """
pool www {
    listen = "{sock}"
    pm = static
    pm.max_children = 0                     # @bad
}
""", ["pm.max_children"], ("bad", "bad")),
    ("missing_include", """
pool www {
    listen = "{sock}"
}
include("does-not-exist-{name}.conf")        # @bad
""", ["does-not-exist-"], ("bad", "bad")),
    ("duplicate_pool", """
pool www {
    listen = "{sock}"
}
pool www {                                  # @start
    listen = "{sock}2"
}                                           # @end
""", ["www"], ("start", "end")),
    ("two_pools_one_socket", """
pool one {
    listen = "{sock}"
}
pool two {                                  # @start
    listen = "{sock}"
}                                           # @end
""", ["listen", "two"], ("start", "end")),
    ("min_spare_gt_max_spare", """
pool www {                                  # @start
    listen = "{sock}"
    pm = dynamic
    pm.max_children = 10
    pm.min_spare_servers = 5
    pm.max_spare_servers = 2
}                                           # @end
""", ["pm.min_spare_servers"], ("start", "end")),
]


def _bad_conf(name, text):
    return _conf(name + ".conf", text.replace("{sock}", _sock(name)).replace("{name}", name))


def test_t_bad_configs_exit_1_and_name_file_line_option():
    failures = []
    for name, text, needles, (a, b) in BAD:
        path, marks = _bad_conf(name, text)
        rc, out, err = _check(["-t", "-R", "-c", path])
        try:
            assert rc == 1, "exit status %d (expected 1)" % rc
            _assert_names(err, path, _span(marks, a, b), needles, name)
            assert not os.path.exists(_sock(name)), "-t created the socket"
        except AssertionError as e:
            failures.append("%s: %s\n%s" % (name, str(e).splitlines()[0], err.strip()))
    assert not failures, "%d of %d bad configs not reported properly:\n%s" % (
        len(failures), len(BAD), "\n".join(failures))


def test_t_two_semantic_errors_both_reported():
    path, marks = _conf("two_semantic.conf", """
pool a {                                    # @a_start
    listen = "%s"
    pm = dynamic
    pm.max_children = 10
    pm.min_spare_servers = 5
    pm.max_spare_servers = 2
}                                           # @a_end
pool b {                                    # @b_start
    listen = "%s"
    pm = ondemand
    pm.process_idle_timeout = 0
}                                           # @b_end
""" % (_sock("two_a"), _sock("two_b")))
    rc, out, err = _check(["-t", "-R", "-c", path])
    assert rc == 1, (rc, err)
    _assert_names(err, path, _span(marks, "a_start", "a_end"), ["pm.min_spare_servers"], "first error")
    _assert_names(err, path, _span(marks, "b_start", "b_end"), ["pm.process_idle_timeout"], "second error")


def test_t_two_range_errors_both_reported():
    """Two out-of-range values in two pools: `pfpm -t` prints every error
    (DESIGN 6), not only the first one."""
    path, marks = _conf("two_range.conf", """
pool a {
    listen = "%s"
    pm = static
    pm.max_children = 0                     # @bad1
}
pool b {
    listen = "%s"
    pm.max_requests = -5                    # @bad2
}
""" % (_sock("range_a"), _sock("range_b")))
    rc, out, err = _check(["-t", "-R", "-c", path])
    assert rc == 1, (rc, err)
    _assert_names(err, path, {marks["bad1"]}, ["pm.max_children"], "first range error")
    _assert_names(err, path, {marks["bad2"]}, ["pm.max_requests"], "second range error")


def _processes_with(needle):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if needle.encode() in cmd:
            out.append(int(d))
    return out


def test_start_with_broken_config_starts_nothing():
    for mode in ("-F", "-D"):
        name = "broken_start%s" % mode.strip("-")
        path, _ = _conf(name + ".conf", """
error_log = "%s"
pid = "%s"
pool good {
    listen = "%s"
    pm = static
    pm.max_children = 2
}
pool bad {
    listen = "%s"
    pm = dynamic
    pm.min_spare_servers = 4
    pm.max_spare_servers = 2
}
""" % (TMP.file(name + ".log"), TMP.file(name + ".pid"), _sock(name + "-good"), _sock(name + "-bad")))
        p = subprocess.Popen([H.pfpm_binary(), mode, "-R", "-c", path], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=H.base_env())
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            for pid in _processes_with(path):
                P.kill_quiet(pid)
            raise AssertionError("pfpm %s with a broken config is still running" % mode)
        left = _processes_with(path)
        for pid in left:
            P.kill_quiet(pid)
        assert p.returncode != 0, "pfpm %s with a broken config exited 0" % mode
        assert not left, "pfpm %s with a broken config left processes %s" % (mode, left)
        for s in (_sock(name + "-good"), _sock(name + "-bad")):
            assert not os.path.exists(s), "pfpm %s with a broken config left socket %s" % (mode, s)
        assert not os.path.exists(TMP.file(name + ".pid")), "pid file written"
        text = (err.decode("utf-8", "replace") + H.tail(TMP.file(name + ".log"), 20))
        assert "pm.min_spare_servers" in text, "the error is reported nowhere:\n%s" % text


# ---------------------------------------------------------------------------
# -v -h, bad flags


def test_version():
    rc, out, err = _check(["-v"])
    assert rc == 0, (rc, out, err)
    m = re.search(r"pfpm (\d+\.\d+\.\d+)\S* \(PHP (\d+\.\d+\.\d+)", out)
    assert m, "unexpected -v output: %r" % out
    try:
        php = subprocess.run(["php-config8.2", "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        php = None
    if php:
        assert m.group(2) == php, "pfpm -v says PHP %s, php-config says %s" % (m.group(2), php)
    rc2, out2, _ = _check(["--version"])
    assert rc2 == 0 and out2 == out


def test_help():
    rc, out, err = _check(["-h"])
    assert rc == 0, (rc, err)
    assert "usage" in out.lower(), out
    for flag in ("-t", "-c", "-D", "-F", "-R"):
        assert flag in out, "usage does not mention %s:\n%s" % (flag, out)
    rc2, out2, _ = _check(["--help"])
    assert rc2 == 0 and out2 == out


def test_unknown_flag_exit_64():
    for args in (["-Z"], ["--no-such-option"], ["-t", "stray-argument"], ["-c"]):
        rc, out, err = _check(args)
        assert rc == 64, "pfpm %s: exit %d (expected 64 = EX_USAGE)" % (" ".join(args), rc)
        assert "usage" in err.lower(), "pfpm %s: no usage on stderr: %r" % (" ".join(args), err)


# ---------------------------------------------------------------------------
# root without -R


def test_root_without_R_needs_user():
    if os.geteuid() != 0:
        raise H.Skip("needs root")
    path, marks = _conf("nouser.conf", """
error_log = "%s"
pool nouserpool {                           # @start
    listen = "%s"
    pm = static
    pm.max_children = 1
}                                           # @end
pool withuser {
    listen = "%s"
    user = "nobody"
    pm = static
    pm.max_children = 1
}
""" % (TMP.file("nouser.log"), _sock("nouser"), _sock("withuser")))
    rc, out, err = _check(["-t", "-c", path])
    assert rc == 1, "-t as root without -R or user: exit %d\n%s" % (rc, err)
    line = _assert_names(err, path, _span(marks, "start", "end"), ["nouserpool", "user"], "root rule")
    assert "withuser" not in err, "the pool with a user is reported too:\n%s" % err
    # starting fails too, before anything listens
    p = subprocess.Popen([H.pfpm_binary(), "-F", "-c", path], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=H.base_env())
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("pfpm as root without -R and without user is running")
    assert p.returncode != 0
    assert "nouserpool" in err.decode() + H.tail(TMP.file("nouser.log"))
    assert not os.path.exists(_sock("nouser")) and not os.path.exists(_sock("withuser"))
    # -R accepts it
    rc, out, err = _check(["-t", "-R", "-c", path])
    assert rc == 0, "with -R the same config is valid: %d\n%s" % (rc, err)
