<?php
/*
 * Tasks without a framework: one script for every role of a pool.
 *
 *     pool jobs {
 *         listen = /run/pfpm/jobs.sock
 *         pm = static
 *         pm.max_children = 2
 *         worker = "/srv/jobs/tasks.php"
 *         task_workers = 2                  # processes running tasks
 *         env = {"TASKS_DB=/srv/jobs/var/tasks.sqlite"}
 *     }
 *
 * The request workers deliver tasks with pfpm_task_deliver(): the payload
 * is any string (JSON here; the Laravel adapter uses serialize()), the
 * options are delay_ms, tries and queue.  pfpm stores the task in the
 * pool's durable queue (the master's SQLite database) and a task worker
 * runs it: pfpm_task_wait($handler) waits for the next task and calls
 * $handler($payload, $meta).  Returning acknowledges the task; an exception
 * fails the attempt (pfpm retries it while attempt < tries, then keeps it as
 * a dead letter: `pfpm task list jobs`).
 *
 * Routes (request workers):
 *   GET /deliver?n=3&delay=0&tries=1&fail=0   deliver n "square" tasks
 *   GET /results                               what the task workers did
 */

declare(strict_types=1);

// ---------------------------------------------------------------- BOOT
// Common to every role: one SQLite connection per process.

$dbPath = getenv('TASKS_DB') ?: sys_get_temp_dir() . '/pfpm-tasks-example.sqlite';
$db = new PDO('sqlite:' . $dbPath, null, null, [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
]);
$db->exec('PRAGMA journal_mode = WAL');
$db->exec('PRAGMA busy_timeout = 5000');
$db->exec('CREATE TABLE IF NOT EXISTS results (task TEXT, attempt INT, input INT, output INT, pid INT, at REAL)');

if (!function_exists('pfpm_worker_info')) {
    fwrite(STDERR, "tasks.php runs in a pfpm worker-mode pool with task_workers > 0\n");
    exit(1);
}
$info = pfpm_worker_info();

// ---------------------------------------------------------- TASK ROLE

if ($info['role'] === 'task') {
    $insert = $db->prepare('INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)');

    // $meta: id (32 hex), attempt (1 for the first run), tries, queue,
    // created (unix time, float).
    $handler = function (string $payload, array $meta) use ($insert): void {
        $task = json_decode($payload, true, 8, JSON_THROW_ON_ERROR);
        if (($task['type'] ?? null) !== 'square') {
            throw new UnexpectedValueException("unknown task type in $payload");
        }
        $n = (int) $task['n'];
        $insert->execute([$meta['id'], $meta['attempt'], $n, $n * $n, getmypid(), microtime(true)]);
        if ($meta['attempt'] <= (int) ($task['fail'] ?? 0)) {
            // Recorded above, then failed: pfpm tries again after a back-off.
            throw new RuntimeException("square($n) fails attempt {$meta['attempt']}");
        }
    };

    // false: pfpm stops this process (reload, shutdown, max requests).
    while (pfpm_task_wait($handler)) {
    }
    return;
}

// ------------------------------------------------------- REQUEST ROLE

function respond(int $status, array $data): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($data, JSON_UNESCAPED_SLASHES), "\n";
}

$handle = function () use ($db): void {
    $path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
    switch ($path) {
    case '/deliver':
        $n = max(1, min(1000, (int) ($_GET['n'] ?? 3)));
        $options = [
            'delay_ms' => max(0, (int) ($_GET['delay'] ?? 0)),
            'tries' => max(1, (int) ($_GET['tries'] ?? 1)),
            'queue' => 'squares',
        ];
        $ids = [];
        $refused = 0;
        for ($i = 1; $i <= $n; $i++) {
            $payload = json_encode(['type' => 'square', 'n' => $i, 'fail' => (int) ($_GET['fail'] ?? 0)]);
            // The id at once, or false when pfpm refused the task (no task
            // workers, queue full, payload too large, master unreachable:
            // pfpm logs why).  The tasks are durable before this response
            // is finished.
            $id = pfpm_task_deliver($payload, $options);
            if ($id === false) {
                $refused++;
            } else {
                $ids[] = $id;
            }
        }
        respond($refused === 0 ? 202 : 503, ['ids' => $ids, 'refused' => $refused]);
        return;

    case '/results':
        $rows = $db->query('SELECT task, attempt, input, output, pid FROM results ORDER BY rowid DESC LIMIT 100')->fetchAll();
        respond(200, ['results' => $rows]);
        return;
    }
    respond(404, ['error' => 'Not Found', 'path' => $path]);
};

if ($info['role'] === 'request') {
    while (pfpm_handle_request($handle)) {
    }
} else {
    error_log("tasks.php: nothing to do in a {$info['role']} process");
    exit(1);
}
