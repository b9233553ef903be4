"""Process management: pm strategies, recycling, crashes, signals (reload,
graceful stop, stop, log reopen), worker output, shared opcache, -D.

Every test starts its own pfpm master (foreground, -R when root) in this
module's temp dir and stops it in `finally`. Nothing asserts a duration:
state changes are awaited with generous polling timeouts.
"""

import json
import os
import signal
import subprocess
import threading
import time

import harness as H
import procutil as P

TMP = None


def setup_module():
    global TMP
    ok, why = H.pfpm_available()
    if not ok:
        raise H.Skip(why)
    TMP = H.TestDir("pfpm-proc")


def teardown_module():
    if TMP is not None:
        TMP.cleanup()


def _fixture(name):
    return os.path.join(H.PHP_FIXTURES, name)


def _sample_children(b, seconds, interval=0.1):
    """Children sets seen over `seconds` (polling)."""
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen.append(tuple(b.workers()))
        time.sleep(interval)
    return seen


# ---------------------------------------------------------------------------
# pm strategies


def test_static_children_stay():
    b = P.start_pfpm(TMP, "static", pool={"pm": "static", "pm.max_children": 3},
                     wait_children=3)
    try:
        kids = b.workers()
        for k in kids:
            assert P.ppid_of(k) == b.pid, "child %d: ppid %r, master %d" % (k, P.ppid_of(k), b.pid)
        # a few requests, then the set must not change (no respawn, no scaling)
        for _ in range(6):
            assert P.get_pid(b.addr()) in kids
        seen = set(_sample_children(b, 1.5))
        assert seen == {tuple(kids)}, "static children changed: %s (first %s)\n%s" % (
            seen, kids, H.tail(b.log_path))
    finally:
        b.stop()


def test_dynamic_grows_and_shrinks():
    pool = {"pm": "dynamic", "pm.max_children": 5, "pm.start_servers": 2,
            "pm.min_spare_servers": 1, "pm.max_spare_servers": 2}
    b = P.start_pfpm(TMP, "dynamic", pool=pool, wait_children=2)
    try:
        # start_servers, and no growth while idle
        seen = set(len(s) for s in _sample_children(b, 1.2))
        assert seen == {2}, "idle dynamic pool should keep start_servers=2, saw %s" % seen
        counts = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                counts.append(len(b.workers()))
                time.sleep(0.05)
        w = threading.Thread(target=watch, daemon=True)
        w.start()
        load = [P.Background(P.fcgi_request, b.addr(), "proc_info.php", P.q(sleep=3),
                             timeout=60) for _ in range(4)]
        replies = [x.join(90) for x in load]
        stop.set()
        w.join(5)
        for x, r in zip(load, replies):
            assert x.error is None, "load request raised %r" % x.error
            assert r.ok(), "load request failed: %r" % r
        peak = max(counts)
        assert peak >= 4, "pool did not grow under 4 concurrent slow requests: peak %d children\n%s" % (
            peak, H.tail(b.log_path))
        assert peak <= 5, "pool exceeded pm.max_children=5: peak %d" % peak
        # idle again: back to <= max_spare_servers (php-fpm stops one idle per second)
        b.wait_workers(lambda k: 1 <= len(k) <= 2, 15, "after the load, <= max_spare_servers=2 idle")
    finally:
        b.stop()


def test_ondemand_spawns_and_idles_out():
    pool = {"pm": "ondemand", "pm.max_children": 3, "pm.process_idle_timeout": "1s"}
    # readiness from the log: a probe connection would itself spawn a worker
    b = P.start_pfpm(TMP, "ondemand", pool=pool, ready_by_log=True)
    try:
        seen = set(len(s) for s in _sample_children(b, 0.8))
        assert seen == {0}, "ondemand pool must start without workers, saw %s" % seen
        prev = None
        for rnd in range(3):
            pid = P.get_pid(b.addr())
            assert pid != prev and P.ppid_of(pid) in (b.pid, None), (rnd, pid, prev)
            time.sleep(0.3)   # room for a (wrong) second spawn to show up
            kids = b.workers()
            assert kids == [pid], "round %d: one request should spawn exactly one worker, " \
                "master has %s (request served by %d)\n%s" % (rnd + 1, kids, pid, H.tail(b.log_path, 8))
            b.wait_workers(lambda k: not k, 10, "ondemand worker after pm.process_idle_timeout=1s")
            prev = pid
    finally:
        b.stop()


def test_max_requests_recycles():
    pool = {"pm": "static", "pm.max_children": 1, "pm.max_requests": 3}
    b = P.start_pfpm(TMP, "maxreq", pool=pool, wait_children=1)
    try:
        pids = [P.get_pid(b.addr()) for _ in range(7)]
        assert len(set(pids[0:3])) == 1, "first 3 requests should share one worker: %s" % pids
        assert len(set(pids[3:6])) == 1, "requests 4-6 should share one worker: %s" % pids
        assert pids[3] != pids[0] and pids[6] not in (pids[0], pids[3]), \
            "worker not recycled after pm.max_requests=3: %s" % pids
        assert H.wait_for(lambda: not H.pid_alive(pids[0]), 5), "recycled worker %d still alive" % pids[0]
        assert b.alive()
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# crashes


def test_kill9_worker_is_replaced():
    b = P.start_pfpm(TMP, "kill9", pool={"pm": "static", "pm.max_children": 2}, wait_children=2)
    try:
        master = b.pid
        before = b.workers()
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        b.wait_workers(lambda k: len(k) == 2 and victim not in k, 10,
                       "replacement of SIGKILLed worker %d" % victim)
        after = b.workers()
        assert before[1] in after, "the other worker should be untouched: %s -> %s" % (before, after)
        for _ in range(10):
            assert P.get_pid(b.addr()) in after
        assert b.alive() and b.pid == master
        assert "child %d exited on signal 9" % victim in b.log_text(), H.tail(b.log_path)
    finally:
        b.stop()


def test_segfault_request_fails_worker_replaced():
    b = P.start_pfpm(TMP, "segv", pool={"pm": "static", "pm.max_children": 2}, wait_children=2)
    try:
        before = set(b.workers())
        r = P.fcgi_request(b.addr(), "proc_crash.php", timeout=20)
        assert r.end is None and (r.eof or r.reset), \
            "a worker killed by SIGSEGV cannot complete the request: %r" % r
        assert b"still alive" not in r.stdout, r
        b.wait_workers(lambda k: len(k) == 2 and set(k) != before, 10,
                       "replacement after SIGSEGV")
        assert len(before & set(b.workers())) == 1, (before, b.workers())
        r = P.fcgi_request(b.addr(), "proc_info.php", timeout=20)
        assert r.ok(), "the next request must succeed: %r" % r
        log = b.log_text()
        assert "exited on signal 11" in log, H.tail(b.log_path)
    finally:
        b.stop()


def test_segfault_via_nginx_is_502():
    b = P.start_pfpm(TMP, "segvng", pool={"pm": "static", "pm.max_children": 1}, wait_children=1)
    ng = H.Nginx(TMP, [{"name": "segv", "backend": b.addr()}], name="nginx-segv")
    try:
        ng.start()
        port = ng.server("segv")["port"]
        r = H.http_request(port, "GET", "/proc_crash.php")
        assert r.status == 502, "SIGSEGV in the worker should give 502 through nginx, got %r %r" % (
            r.status, r.body[:200])
        ok = H.wait_for(lambda: H.http_request(port, "GET", "/proc_info.php").status == 200, 10, 0.2)
        assert ok, "no 200 after the crash\n%s" % H.tail(b.log_path)
    finally:
        ng.stop()
        b.stop()


def _cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rpartition(")")[2].split()
    return int(rest[11]) + int(rest[12])       # utime + stime


def test_crash_loop_is_throttled():
    b = P.start_pfpm(TMP, "crashloop", pool={"pm": "static", "pm.max_children": 2},
                     wait_children=2)
    try:
        crashes = 5
        seen = set(b.workers())
        peak = [0]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                k = b.workers()
                peak[0] = max(peak[0], len(k))
                seen.update(k)
                time.sleep(0.02)
        w = threading.Thread(target=watch, daemon=True)
        w.start()
        cpu0, t0 = _cpu_ticks(b.pid), time.monotonic()
        for i in range(crashes):
            r = P.fcgi_request(b.addr(), "proc_crash.php", timeout=60)
            assert r.end is None, "crash request %d completed?! %r" % (i, r)
        wall = time.monotonic() - t0
        cpu = (_cpu_ticks(b.pid) - cpu0) / os.sysconf("SC_CLK_TCK")
        # afterwards the pool recovers (the throttle delay is bounded)
        r = P.fcgi_request(b.addr(), "proc_info.php", timeout=60)
        stop.set()
        w.join(5)
        assert r.ok(), "pool did not recover after a crash loop: %r\n%s" % (r, H.tail(b.log_path))
        log = b.log_text()
        assert log.count("exited on signal 11") == crashes, \
            "expected %d SIGSEGV exits in the log\n%s" % (crashes, H.tail(b.log_path))
        assert "respawning in" in log, "no respawn throttling message\n%s" % H.tail(b.log_path)
        assert peak[0] <= 2, "more children than pm.max_children during the crash loop: %d" % peak[0]
        # every crash costs at most one replacement process: no respawn storm
        assert len(seen) <= 2 + crashes + 1, "%d distinct worker pids for %d crashes: %s" % (
            len(seen), crashes, sorted(seen))
        assert b.alive()
        # the master waits (timerfd/epoll) instead of spinning while throttled
        assert cpu < max(1.0, wall * 0.5), "master used %.2fs CPU in %.2fs of crash loop" % (cpu, wall)
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# reload (USR2)


def test_usr2_reload_applies_config_and_keeps_inflight():
    pool = {"pm": "static", "pm.max_children": 2,
            "php_admin_value": {"memory_limit": "128M"}}
    b = P.start_pfpm(TMP, "reload", pool=pool, wait_children=2)
    try:
        master = b.pid
        old = set(b.workers())
        assert P.get_json(b.addr(), query=P.q(ini="memory_limit"))["ini"]["memory_limit"] == "128M"
        mark = TMP.file("reload.mark")
        slow = P.Background(P.fcgi_request, b.addr(), "proc_info.php",
                            P.q(mark=mark, sleep=2, pad=50000), timeout=60)
        assert P.wait_file(mark), "slow request did not start"
        newpool = dict(b.pool())
        newpool["pm.max_children"] = 3
        newpool["php_admin_value"] = {"memory_limit": "96M"}
        b.rewrite(pools=[newpool])
        off = b.log_size()
        b.send_signal(signal.SIGUSR2)
        r = slow.join(60)
        assert slow.error is None, slow.error
        assert r.ok(), "request in flight during the reload failed: %r" % r
        assert len(r.json()["pad"]) == 50000, "truncated body"
        b.wait_workers(lambda k: len(k) == 3 and not (set(k) & old), 15,
                       "3 new-generation workers after reload")
        assert b.alive() and b.pid == master, "master pid changed or master died"
        assert H.proc_stat(master)[1] != "Z"
        info = P.get_json(b.addr(), query=P.q(ini="memory_limit"))
        assert info["ini"]["memory_limit"] == "96M", "php_admin_value change not applied: %r" % info
        assert info["pid"] in b.workers()
        log = b.log_since(off)
        assert "reloading" in log, log
    finally:
        b.stop()


def test_usr2_broken_config_keeps_running():
    b = P.start_pfpm(TMP, "badreload", pool={"pm": "static", "pm.max_children": 2},
                     wait_children=2)
    try:
        old = b.workers()
        with open(b.conf_path) as f:
            good = f.read()
        b.write_raw_conf(good + "\npool broken {\n    listen = \"%s\"\n    pm.max_children = 0\n    nonsense_option = 1\n}\n"
                         % TMP.file("never.sock"))
        off = b.log_size()
        b.send_signal(signal.SIGUSR2)
        assert b.wait_log("reload aborted", off, 10), "no 'reload aborted' in the log:\n%s" % b.log_since(off)
        time.sleep(0.5)   # let a (wrong) re-exec show up if there were one
        assert b.alive(), "master died on a broken reload"
        assert b.workers() == old, "workers changed on an aborted reload: %s -> %s" % (old, b.workers())
        for _ in range(5):
            assert P.get_pid(b.addr()) in old
        assert not os.path.exists(TMP.file("never.sock"))
    finally:
        b.stop()


def test_reloads_under_load_drop_nothing():
    b = P.start_pfpm(TMP, "reloadload", pool={"pm": "static", "pm.max_children": 3},
                     wait_children=3)
    ng = H.Nginx(TMP, [{"name": "rl", "backend": b.addr()}], name="nginx-rl")
    try:
        ng.start()
        port = ng.server("rl")["port"]
        stop = threading.Event()
        lock = threading.Lock()
        stats = {"ok": 0, "bad": [], "errors": []}

        def client(n):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = H.http_request(port, "GET", "/proc_info.php?" + P.q(token="%d-%d" % (n, i),
                                                                             sleep=0.05), timeout=30)
                    good = r.status == 200 and json.loads(r.body)["token"] == "%d-%d" % (n, i)
                    with lock:
                        if good:
                            stats["ok"] += 1
                        else:
                            stats["bad"].append((r.status, r.body[:200]))
                except Exception as e:   # connection errors count as failures
                    with lock:
                        stats["errors"].append(repr(e))
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
        for t in threads:
            t.start()
        master = b.pid
        for k in range(3):
            time.sleep(1.0)
            before = set(b.workers())
            off = b.log_size()
            b.send_signal(signal.SIGUSR2)
            assert b.wait_log("new generation ready", off, 15), \
                "reload %d did not complete:\n%s" % (k + 1, b.log_since(off))
            H.wait_for(lambda: not (set(b.workers()) & before), 10)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(60)
        assert b.pid == master and b.alive()
        assert not stats["errors"], "%d connection errors during reloads, e.g. %s" % (
            len(stats["errors"]), stats["errors"][:3])
        assert not stats["bad"], "%d non-200 responses during reloads, e.g. %s\n%s" % (
            len(stats["bad"]), stats["bad"][:3], H.tail(ng.server("rl")["error_log"], 10))
        assert stats["ok"] >= 40, "too few requests to mean anything: %d" % stats["ok"]
        b.wait_workers(lambda k: len(k) == 3, 15, "3 workers after the last reload")
    finally:
        ng.stop()
        b.stop()


# ---------------------------------------------------------------------------
# stop signals


def test_quit_graceful_finishes_inflight():
    b = P.start_pfpm(TMP, "quit", pool={"pm": "static", "pm.max_children": 2}, wait_children=2)
    try:
        sock = H.parse_addr(b.addr())[1]
        kids = b.workers()
        mark = TMP.file("quit.mark")
        slow = P.Background(P.fcgi_request, b.addr(), "proc_info.php",
                            P.q(mark=mark, sleep=2, pad=200000), timeout=60)
        assert P.wait_file(mark), "slow request did not start"
        b.send_signal(signal.SIGQUIT)
        r = slow.join(60)
        assert slow.error is None, slow.error
        assert r.ok(), "request in flight during QUIT failed: %r" % r
        assert len(r.json()["pad"]) == 200000, "truncated body"
        try:
            rc = b.proc.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError("master still running 20s after QUIT\n%s" % H.tail(b.log_path))
        assert rc == 0, "master exit status %r after QUIT" % rc
        assert not os.path.exists(sock), "unix socket %s left behind" % sock
        for k in kids:
            assert H.wait_for(lambda: not H.pid_alive(k), 5), "worker %d survived QUIT" % k
    finally:
        b.stop()


def test_term_stops_now():
    b = P.start_pfpm(TMP, "term", pool={"pm": "static", "pm.max_children": 3}, wait_children=3)
    try:
        kids = b.workers()
        mark = TMP.file("term.mark")
        slow = P.Background(P.fcgi_request, b.addr(), "proc_info.php",
                            P.q(mark=mark, sleep=30), timeout=60)
        assert P.wait_file(mark), "slow request did not start"
        b.send_signal(signal.SIGTERM)
        try:
            b.proc.wait(10)      # far less than the 30 s request: TERM does not wait for it
        except subprocess.TimeoutExpired:
            raise AssertionError("master still running 10s after TERM\n%s" % H.tail(b.log_path))
        for k in kids:
            assert H.wait_for(lambda: not H.pid_alive(k), 5), "worker %d survived TERM" % k
        assert not H.descendants_of(b.pid)
        r = slow.join(30)
        assert r is None or not r.ok(), "a request killed by TERM cannot have completed: %r" % r
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# USR1, worker output


def test_usr1_reopens_log():
    b = P.start_pfpm(TMP, "usr1", pool={"pm": "static", "pm.max_children": 2}, wait_children=2)
    try:
        log = b.log_path
        rotated = log + ".1"
        P.get_json(b.addr(), query=P.q(log="before-rotation-token"))
        assert b.wait_log("before-rotation-token"), H.tail(log)
        os.rename(log, rotated)
        b.send_signal(signal.SIGUSR1)
        assert H.wait_for(lambda: os.path.exists(log), 10), "USR1 did not recreate %s" % log
        time.sleep(0.5)   # the workers read their USR1 between requests
        for i in range(4):     # both workers
            P.get_json(b.addr(), query=P.q(log="after-rotation-token-%d" % i))
        workers_ok = H.wait_for(lambda: all("after-rotation-token-%d" % i in b.log_since(0)
                                            for i in range(4)), 10)
        master_ok = b.wait_log("reopen", 0, 2)
        new_text = b.log_since(0)
        old_text = H.read_new(rotated, 0)[0]
        problems = []
        if not workers_ok:
            problems.append("worker error_log() messages after USR1 are missing from the new log")
        if "after-rotation-token" in old_text:
            problems.append("workers kept writing to the rotated file")
        if not master_ok:
            problems.append("the master's reopen message is not in the new log")
        if "before-rotation-token" in new_text:
            problems.append("pre-rotation message in the new log")
        assert not problems, "%s\n--- new log ---\n%s\n--- rotated log (tail) ---\n%s" % (
            "; ".join(problems), new_text[-2000:], old_text[-1200:])
    finally:
        b.stop()


def test_catch_workers_output():
    yes = P.start_pfpm(TMP, "cwo-yes", pool={"pm": "static", "pm.max_children": 1,
                                              "catch_workers_output": True}, wait_children=1)
    no = P.start_pfpm(TMP, "cwo-no", pool={"pm": "static", "pm.max_children": 1,
                                            "catch_workers_output": False}, wait_children=1)
    try:
        pid = P.get_json(yes.addr(), query=P.q(stderr="stderr-token-yes"))["pid"]
        want = 'child %d said into stderr: "stderr-token-yes"' % pid
        assert yes.wait_log(want, 0, 10), "expected %r in the log:\n%s" % (want, H.tail(yes.log_path))
        P.get_json(no.addr(), query=P.q(stderr="stderr-token-no"))
        # a later log line from the same worker proves the log is up to date
        P.get_json(no.addr(), query=P.q(log="flush-marker-no"))
        assert no.wait_log("flush-marker-no", 0, 10), H.tail(no.log_path)
        time.sleep(0.3)
        assert "stderr-token-no" not in no.log_text(), \
            "catch_workers_output = no must discard stderr:\n%s" % H.tail(no.log_path)
    finally:
        yes.stop()
        no.stop()


# ---------------------------------------------------------------------------
# opcache


def test_opcache_shared_between_workers():
    b = P.start_pfpm(TMP, "opcache", pool={"pm": "static", "pm.max_children": 2},
                     ini={"opcache.enable": "1"}, wait_children=2)
    try:
        target = _fixture("proc_info.php")
        # 1. worker A compiles proc_info.php (and is kept busy by it) ...
        mark = TMP.file("opc.mark1")
        a = P.Background(P.fcgi_request, b.addr(), "proc_info.php", P.q(mark=mark, sleep=1.5))
        assert P.wait_file(mark), "first request did not start"
        # ... so worker B answers this one: is A's script in B's opcache?
        rb = P.fcgi_request(b.addr(), "proc_opcache.php", P.q(check=target))
        ra = a.join(30)
        assert ra.ok() and rb.ok(), (ra, rb)
        pa, vb = ra.json()["pid"], rb.json()
        assert pa != vb["pid"], "both requests served by %d" % pa
        assert vb["enabled"], "opcache not enabled in worker %d: %r" % (vb["pid"], vb)
        assert vb["cached"] is True, \
            "script compiled by worker %d is not cached when asked from worker %d: opcache not shared (%r)" % (
                pa, vb["pid"], vb)
        # 2. both workers at once (each one serves one request at a time, so
        # two requests in flight together are two workers): same opcache
        # start_time = the same shared memory segment
        marks = [TMP.file("opc.mark2"), TMP.file("opc.mark3")]
        both = [P.Background(P.fcgi_request, b.addr(), "proc_opcache.php", P.q(mark=m, sleep=1.0))
                for m in marks]
        started = P.wait_file(marks[0]) and P.wait_file(marks[1])
        views = [x.join(30) for x in both]
        assert started, "two concurrent requests did not both start"
        assert all(v.ok() for v in views), views
        v1, v2 = views[0].json(), views[1].json()
        assert v1["pid"] != v2["pid"], "two concurrent requests served by one worker: %r %r" % (v1, v2)
        assert v1["enabled"] and v2["enabled"], (v1, v2)
        assert v1["start_time"] == v2["start_time"], \
            "different opcache start_time per worker (not shared): %r %r" % (v1, v2)
        assert v1["num_cached_scripts"] >= 2 and v2["num_cached_scripts"] >= 2, (v1, v2)
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# -D


def _daemon_conf(name):
    d = TMP.sub(name)
    ini, scan = P.php_ini(TMP, name)
    conf = H.pfpm_conf_text(
        {"pid": os.path.join(d, "pfpm.pid"), "error_log": os.path.join(d, "pfpm.log"),
         "php_ini": ini},
        [{"name": "www", "listen": os.path.join(d, "pfpm.sock"), "pm": "static",
          "pm.max_children": 1}])
    path = os.path.join(d, "pfpm.conf")
    with open(path, "w") as f:
        f.write(conf)
    return d, path, scan


def _kill_daemon(pidfile, pids=()):
    pids = list(pids)
    try:
        with open(pidfile) as f:
            pids.append(int(f.read().strip()))
    except (OSError, ValueError):
        pass
    for p in pids:
        if H.pid_alive(p):
            family = H.descendants_of(p)
            P.kill_quiet(p, signal.SIGKILL)
            for c in family:
                P.kill_quiet(c, signal.SIGKILL)


def test_daemonize_D():
    d, conf, scan = _daemon_conf("daemon")
    pidfile, sock = os.path.join(d, "pfpm.pid"), os.path.join(d, "pfpm.sock")
    master = None
    try:
        env = H.base_env({"PHP_INI_SCAN_DIR": scan})
        p = subprocess.Popen([H.pfpm_binary(), "-D", "-R", "-c", conf], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("pfpm -D did not return")
        assert rc == 0, "pfpm -D exit status %r\n%s" % (rc, H.tail(os.path.join(d, "pfpm.log")))
        assert P.wait_file(pidfile, 10), "no pid file %s" % pidfile
        master = int(open(pidfile).read().strip())
        assert master != p.pid, "the pid file names the foreground process"
        assert H.pid_alive(master), "pid file names a dead process %d" % master
        assert os.path.realpath("/proc/%d/exe" % master) == os.path.realpath(H.pfpm_binary())
        assert H.wait_for(lambda: H.can_connect(sock), 10)
        r = P.fcgi_request(sock, "proc_info.php")
        assert r.ok(), r
        assert P.ppid_of(r.json()["pid"]) == master
        os.kill(master, signal.SIGTERM)
        assert H.wait_for(lambda: not H.pid_alive(master), 10), "daemon survived TERM"
        assert not os.path.exists(sock), "socket left behind"
        assert H.wait_for(lambda: not os.path.exists(pidfile), 5), "pid file left behind"
    finally:
        _kill_daemon(pidfile, [master] if master else [])


def test_daemonize_detaches_stdio():
    """php-fpm -D redirects stdin/stdout/stderr to /dev/null: whoever started
    it (a shell pipe, ssh, an init script capturing output) gets EOF."""
    d, conf, scan = _daemon_conf("daemon-stdio")
    pidfile = os.path.join(d, "pfpm.pid")
    try:
        env = H.base_env({"PHP_INI_SCAN_DIR": scan})
        p = subprocess.Popen([H.pfpm_binary(), "-D", "-R", "-c", conf], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            out, err = p.communicate(timeout=8)
        except subprocess.TimeoutExpired:
            p.kill()
            assert P.wait_file(pidfile, 5)
            master = int(open(pidfile).read().strip())
            fds = {}
            for fd in (0, 1, 2):
                try:
                    fds[fd] = os.readlink("/proc/%d/fd/%d" % (master, fd))
                except OSError:
                    fds[fd] = None
            raise AssertionError("the daemonized master keeps the caller's stdout/stderr pipe open "
                                 "(caller never sees EOF); master %d fds 0-2: %s" % (master, fds))
        assert p.returncode == 0, (p.returncode, err)
    finally:
        _kill_daemon(pidfile)


def test_emergency_restart_threshold_reloads():
    """emergency_restart_threshold crashes within the interval: the master
    reloads (same pid, a new generation of workers)."""
    b = P.start_pfpm(TMP, "emerg", pool={"pm": "static", "pm.max_children": 2},
                     global_opts={"emergency_restart_threshold": 3,
                                  "emergency_restart_interval": "1m"},
                     wait_children=2)
    try:
        master = b.pid
        for _ in range(3):
            P.fcgi_request(b.addr(), "proc_crash.php", timeout=60)
        assert b.wait_log("emergency_restart_threshold", 0, 20), H.tail(b.log_path)
        assert b.wait_log("reloading: starting a new generation", 0, 20), H.tail(b.log_path)
        r = P.fcgi_request(b.addr(), "proc_info.php", timeout=60)
        assert r.ok(), r
        assert b.pid == master and b.alive()
    finally:
        b.stop()


def test_process_max_caps_all_pools():
    pools = [{"name": n, "listen": TMP.file("pmax-%s.sock" % n), "pm": "static",
              "pm.max_children": 2} for n in ("a", "b")]
    b = P.start_pfpm(TMP, "pmax", pools=pools, global_opts={"process.max": 3})
    try:
        assert H.wait_for(lambda: len(b.workers()) == 3, 15, 0.1), b.workers()
        time.sleep(1)
        assert len(b.workers()) == 3, "process.max = 3 exceeded: %r" % b.workers()
        assert "process.max (3) reached" in b.log_text(), H.tail(b.log_path)
    finally:
        b.stop()


def test_chroot():
    """Workers chroot into the pool's directory; SCRIPT_FILENAME is a path
    inside it, as with php-fpm."""
    root = TMP.sub("chroot-root", mode=0o755)
    os.makedirs(os.path.join(root, "www"), exist_ok=True)
    with open(os.path.join(root, "www", "c.php"), "w") as f:
        f.write('<?php echo __FILE__, "|", file_exists("/etc/hostname") ? "host" : "jail";')
    b = P.start_pfpm(TMP, "chroot", pool={"pm": "static", "pm.max_children": 1,
                                           "chroot": root}, wait_children=1)
    try:
        r = P.fcgi_request(b.addr(), "/www/c.php", timeout=30)
        assert r.ok() and r.body == b"/www/c.php|jail", r
    finally:
        b.stop()
