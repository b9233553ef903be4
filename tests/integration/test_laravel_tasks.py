"""Tasks, events, cron jobs, the scheduler and custom processes through the
Laravel adapter (src/php/Pfpm), with the example application
(contrib/laravel-example, copied into a temp dir) behind real nginx.

One pfpm master runs pool "app": 1 request worker, 2 task workers
(embedded SQLite queue in the test's state_dir), the timer (the example's
App\\Cron\\RecordJob every 200 ms, stopping itself after 12 runs, and the
scheduler running the example's
`pfpm:mark` command every minute) and a custom process
(App\\Processes\\RecordProcess) that exits 1.5 s after it starts, so pfpm
restarts it after its restart_interval.

The application records what runs into an SQLite file (PFPM_TEST_DB, table
runs(task, attempt, pid, at)); the tests read it.  A second pfpm, started and
stopped by its test, checks onStop() on SIGQUIT and onReload() on SIGUSR2.
"""

import os
import signal
import sqlite3
import subprocess
import time

import harness as H
import laravel_util as L
import procutil as P

ENV = None
CRON_MS = 200
RESTART_S = 1.0
CRASH_MS = 1500
CRON_STOP_AFTER = 12


def rows(db, like="%"):
    """[(task, attempt, pid, at)] recorded so far, in order."""
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("SELECT task, attempt, pid, at FROM runs WHERE task LIKE ? "
                           "ORDER BY rowid", (like,)).fetchall()
    except sqlite3.OperationalError:
        return []       # no table yet
    finally:
        con.close()


def wait_rows(db, like, n, timeout=20):
    got = [[]]

    def enough():
        got[0] = rows(db, like)
        return len(got[0]) >= n
    H.wait_for(enough, timeout, 0.05)
    return got[0]


class Env:
    def __init__(self):
        self.tmp = H.TestDir("pfpm-laravel-tasks")
        self.app = L.prepare_app(self.tmp)
        self.db = self.tmp.file("runs.db")
        self.ini, self.scan = H.write_php_ini(self.tmp, "laravel-tasks")
        sock = self.tmp.file("app.sock")
        self.pool = L.worker_pool("app", sock, self.app, env={
            "PFPM_TEST_DB": self.db,
            "PFPM_TEST_CRON": "1",
            "PFPM_TEST_CRON_MS": str(CRON_MS),
            "PFPM_TEST_CRON_STOP_AFTER": str(CRON_STOP_AFTER),
            "PFPM_TEST_PROCESS_CRASH_AFTER_MS": str(CRASH_MS),
        }, **{
            "task_workers": 2,
            "task.backoff": "100ms",
            "catch_workers_output": False,     # a custom process's output is logged anyway
            "timer": True,
            "pm.status_path": "/pfpm-status",
            "process recorder": {"class": "App\\Processes\\RecordProcess",
                                 "restart_interval": "%dms" % int(RESTART_S * 1000)},
        })
        self.pfpm = H.make_backend("pfpm", self.tmp, "pfpm", [self.pool], self.ini,
                                   self.scan, global_opts={
                                       "state_dir": self.tmp.file("state")})
        self.pfpm.env["PFPM_PHP_DIR"] = L.PHP_DIR
        self.nginx = L.LaravelNginx(self.tmp, [
            {"name": "app", "backend": sock, "root": os.path.join(self.app, "public")}])
        self.pfpm.start()
        self.nginx.start()
        self.client = L.Client(self.nginx.port("app"))
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                if self.client.get("/api/hello", timeout=10).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise H.HarnessError("the app never served\n%s" % H.tail(self.pfpm.log_path))

    def get(self, path):
        r, data = self.client.get_json(path)
        assert r.status == 200 and data is not None, "%s: %s" % (path, L.describe(r))
        return data

    def pfpm_cli(self, *args):
        return subprocess.run([H.pfpm_binary(), "-c", self.pfpm.conf_path, "task"] +
                              list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=30, env=H.base_env({"PFPM_PHP_DIR": L.PHP_DIR}))

    def stop(self):
        for d in (self.nginx, self.pfpm):
            try:
                d.stop()
            except Exception:
                pass
        self.tmp.cleanup()


def setup_module():
    global ENV
    L.require_laravel("tasks have no php-fpm equivalent")
    ENV = Env()


def teardown_module():
    if ENV is not None:
        ENV.stop()


def test_task_runs_in_a_task_worker_with_finish():
    data = ENV.get("/tasks/deliver?n=3&prefix=basic-")
    assert data["false"] == 0 and len(data["ids"]) == 3, data
    assert all(len(i) == 32 for i in data["ids"]), data["ids"]
    runs = wait_rows(ENV.db, "basic-%", 6)
    done = sorted(r[0] for r in runs)
    assert done == ["basic-0", "basic-0:finish", "basic-1", "basic-1:finish",
                    "basic-2", "basic-2:finish"], runs
    assert all(r[2] != data["pid"] for r in runs), \
        "a task ran in the request worker %d: %s" % (data["pid"], runs)


def test_task_uses_the_applications_services():
    data = ENV.get("/tasks/services")
    assert data["id"], data
    runs = wait_rows(ENV.db, "services:%", 1)
    assert runs, "ServicesTask never ran\n%s" % H.tail(ENV.pfpm.log_path)
    name, users, cls = runs[0][0].split(":")[1:4]
    assert name == "pfpm example", "config('app.name') in the task: %s" % runs
    assert int(users) > 0, "the seeded users are not visible from the task: %s" % runs
    assert cls.endswith("Config\\Repository"), runs


def test_task_retried_until_it_succeeds():
    data = ENV.get("/tasks/deliver?n=1&prefix=retry-&tries=3&fail=2")
    assert data["false"] == 0, data
    runs = wait_rows(ENV.db, "retry-0%", 4)
    attempts = [(r[0], r[1]) for r in runs]
    assert attempts == [("retry-0", 1), ("retry-0", 2), ("retry-0", 3),
                        ("retry-0:finish", 3)], attempts
    # task.backoff = 100ms, doubled: the retries wait.
    assert runs[1][3] - runs[0][3] >= 0.09 and runs[2][3] - runs[1][3] >= 0.19, runs


def test_task_dead_letter_listed_retried_and_purged():
    data = ENV.get("/tasks/deliver?n=1&prefix=dead-&tries=2&fail=100")
    tid = data["ids"][0]
    wait_rows(ENV.db, "dead-0", 2)
    listed = [""]

    def in_list():
        r = ENV.pfpm_cli("list", "app")
        listed[0] = r.stdout.decode() + r.stderr.decode()
        return r.returncode == 0 and tid in listed[0]
    assert H.wait_for(in_list, 10), "dead letter %s not listed:\n%s" % (tid, listed[0])
    assert "RecordTask dead-0 fails attempt 2" in listed[0], listed[0]
    assert "2/2" in listed[0], listed[0]
    time.sleep(0.5)
    assert len(rows(ENV.db, "dead-0")) == 2, "a dead task ran again"
    r = ENV.pfpm_cli("retry", "app", tid)
    assert r.returncode == 0, r
    runs = wait_rows(ENV.db, "dead-0", 4)
    assert [x[1] for x in runs] == [1, 2, 1, 2], runs
    assert H.wait_for(lambda: tid in ENV.pfpm_cli("list", "app").stdout.decode(), 10)
    r = ENV.pfpm_cli("purge", "app", "--all")
    assert r.returncode == 0, r
    r = ENV.pfpm_cli("list", "app")
    assert r.returncode == 0 and tid not in r.stdout.decode(), r.stdout


def test_task_delay_honoured():
    t0 = time.time()
    data = ENV.get("/tasks/deliver?n=1&prefix=delayed-&delay=1.5")
    assert data["false"] == 0, data
    runs = wait_rows(ENV.db, "delayed-0", 1, timeout=10)
    assert runs, "the delayed task never ran"
    waited = runs[0][3] - t0
    assert 1.5 <= waited <= 3.5, "ran %.3f s after delivery (delay 1.5 s)" % waited


def test_event_listeners_in_order_and_stop_propagation():
    ENV.get("/tasks/event?name=go")
    runs = wait_rows(ENV.db, "event%:go", 2)
    assert [r[0] for r in runs] == ["event1:go", "event2:go"], runs
    ENV.get("/tasks/event?name=stop")
    first = wait_rows(ENV.db, "event1:stop", 1)
    assert first, "the first listener never ran"
    ENV.get("/tasks/event?name=after")      # runs after the stopped one
    wait_rows(ENV.db, "event2:after", 1)
    assert rows(ENV.db, "event2:stop") == [], "propagation was not stopped"


def test_cron_job_runs_on_its_interval_until_it_stops():
    runs = wait_rows(ENV.db, "cron", CRON_STOP_AFTER, timeout=15)
    assert len(runs) >= CRON_STOP_AFTER, "cron ran %d times" % len(runs)
    # On the grid first + k * 200 ms: a run may be late (the scheduler
    # shares the process) or a slot skipped (the runs after are on the grid).
    step = CRON_MS / 1000.0
    phase = [(r[3] - runs[0][3]) % step for r in runs]
    ref = sorted(phase)[len(phase) // 2]        # the grid most runs are on
    off = [min(abs(p - ref), step - abs(p - ref)) for p in phase]
    assert len([d for d in off if d > 0.03]) <= 2, \
        "cron runs off their 200 ms grid by %s s" % ["%.3f" % d for d in off]
    time.sleep(5 * CRON_MS / 1000.0)
    assert len(rows(ENV.db, "cron")) == CRON_STOP_AFTER, \
        "the job ran %d times after stop()" % (len(rows(ENV.db, "cron")) - CRON_STOP_AFTER)


def test_scheduler_runs_scheduled_command():
    runs = wait_rows(ENV.db, "scheduled", 1, timeout=20)
    assert runs, "schedule:run never ran pfpm:mark\n%s" % H.tail(ENV.pfpm.log_path)


def test_custom_process_restarted_after_exit():
    starts = wait_rows(ENV.db, "process-start:%", 3, timeout=20)
    assert len(starts) >= 3, starts
    pids = [int(r[0].split(":")[1]) for r in starts]
    assert len(set(pids)) == len(pids), "restarted in the same pid: %s" % pids
    for a, b in zip(starts, starts[1:]):
        gap = b[3] - a[3]
        # it runs CRASH_MS, then waits restart_interval
        assert gap >= (CRASH_MS / 1000.0 + RESTART_S) * 0.9, \
            "restarted %.2f s after the previous start" % gap
    # What it prints goes to pfpm's log, without catch_workers_output.
    assert H.wait_for(lambda: "RecordProcess %d running" % pids[0] in
                      ENV.pfpm.log_text(), 5), H.tail(ENV.pfpm.log_path)


def test_status_page_counts_tasks_and_roles():
    ENV.get("/tasks/deliver?n=2&prefix=status-")
    wait_rows(ENV.db, "status-%:finish", 2)
    # Straight to the socket: nginx's Laravel location sends every path to
    # index.php.
    r = P.fcgi_request(ENV.pool["listen"], "/pfpm-status", "json&full")
    assert r.ok(), r
    st = r.json()
    assert st["tasks done"] >= 2 and st["tasks queued"] == 0, st
    roles = sorted(p["role"] for p in st["processes"])
    assert roles.count("task") == 2 and roles.count("timer") == 1 and \
        roles.count("request") == 1, roles
    assert st["total processes"] == 1, "only FastCGI workers count: %s" % st


def test_process_onstop_and_onreload():
    tmp = H.TestDir("pfpm-laravel-process")
    db = tmp.file("runs.db")
    try:
        app = L.prepare_app(tmp)
        ini, scan = H.write_php_ini(tmp, "laravel-process")
        pool = L.worker_pool("proc", tmp.file("proc.sock"), app,
                             env={"PFPM_TEST_DB": db},
                             **{"process recorder": {
                                 "class": "App\\Processes\\RecordProcess"}})
        pfpm = H.make_backend("pfpm", tmp, "pfpm", [pool], ini, scan,
                              global_opts={"state_dir": tmp.file("state")})
        pfpm.env["PFPM_PHP_DIR"] = L.PHP_DIR
        pfpm.start()
        start = wait_rows(db, "process-start:%", 1)
        assert start, "the process never started\n%s" % H.tail(pfpm.log_path)
        pid = int(start[0][0].split(":")[1])
        os.kill(pid, signal.SIGUSR2)
        assert wait_rows(db, "process-reload:%d" % pid, 1), "onReload() not called"
        assert H.pid_alive(pid), "the process ended on SIGUSR2"
        pfpm.send_signal(signal.SIGQUIT)
        try:
            pfpm.proc.wait(15)
        except subprocess.TimeoutExpired:
            raise AssertionError("pfpm did not stop on SIGQUIT\n%s" % H.tail(pfpm.log_path))
        assert rows(db, "process-stop:%d" % pid), \
            "onStop() not called on SIGQUIT\n%s" % H.tail(pfpm.log_path)
        pfpm.stop()
    finally:
        tmp.cleanup()
