<?php
/*
 * bench/tasks: the worker script of the task benchmark.  The request worker
 * delivers no-op tasks and times each pfpm_task_deliver() call; the task
 * workers run them.  Nothing else: the figures are pfpm's own cost.
 */
$info = pfpm_worker_info();

if ($info['role'] === 'task') {
    while (pfpm_task_wait(static function (string $payload, array $meta): void {
    })) {
    }
    return;
}

while (pfpm_handle_request(static function (): void {
    $n = (int)($_GET['n'] ?? 1);
    $times = [];
    $refused = 0;
    $t0 = hrtime(true);
    for ($i = 0; $i < $n; $i++) {
        $a = hrtime(true);
        if (pfpm_task_deliver('noop') === false) {
            $refused++;
        }
        $times[] = hrtime(true) - $a;
    }
    $loop = hrtime(true) - $t0;
    sort($times);
    header('Content-Type: application/json');
    echo json_encode([
        'n' => $n,
        'refused' => $refused,
        'loop_ns' => $loop,
        'p50_ns' => $times[intdiv($n, 2)],
        'p99_ns' => $times[min($n - 1, intdiv($n * 99, 100))],
        'max_ns' => $times[$n - 1],
    ]);
})) {
}
