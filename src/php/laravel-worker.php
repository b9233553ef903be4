<?php

/*
 * pfpm's worker script for Laravel applications.
 *
 * A pool with `worker = laravel` and `app_root = "/srv/app"` runs this file
 * once per worker-mode process.  It boots the application once, then serves
 * according to the process's role (pfpm_worker_info()['role']):
 *
 *     request   every FastCGI request from a sandboxed clone of the app
 *     task      tasks of the pool's queue (Pfpm\Task, Pfpm\Event)
 *     timer     the jobs of config/pfpm.php 'timer' (Pfpm\CronJob) and the
 *               application's scheduler
 *     process   a custom process (`process NAME { class = "..." }`, Pfpm\Process)
 *
 *     pool app {
 *         listen = /run/pfpm/app.sock
 *         worker = laravel
 *         app_root = /srv/app
 *         task_workers = 2
 *         timer = on
 *     }
 *
 * The adapter (namespace Pfpm\, next to this file) is documented in
 * README.md in this directory; an application tunes it with config/pfpm.php
 * (copy config/pfpm.php from this directory into the application).
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Pfpm\\', 5) === 0) {
        $file = __DIR__ . '/' . str_replace('\\', '/', $class) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});

if (!function_exists('pfpm_handle_request')) {
    fwrite(STDERR, "laravel-worker.php runs inside pfpm's worker mode (pool option `worker = laravel`)\n");
    exit(1);
}

$info = pfpm_worker_info();
$appRoot = $info['app_root'] ?? (getenv('PFPM_APP_ROOT') ?: getcwd());
$role = (string) ($info['role'] ?? 'request');

// Boot and serve are separate steps: a preloading master will boot once and
// fork the processes that serve (DESIGN.md section 2).  So nothing below
// the boot may depend on having booted in the same process.
$worker = new Pfpm\Laravel\Worker($appRoot);
$worker->boot();

switch ($role) {
case 'request':
    while (pfpm_handle_request([$worker, 'handle'])) {
    }
    $worker->stop();
    break;

case 'task':
    $runner = new Pfpm\Laravel\TaskRunner($worker);
    while (pfpm_task_wait([$runner, 'handle'])) {
    }
    $worker->stop();
    break;

case 'timer':
    $timer = new Pfpm\Laravel\TimerRunner($worker);
    $timer->register();
    $timer->run();
    $worker->stop();
    break;

case 'process':
    $runner = new Pfpm\Laravel\ProcessRunner($worker, (string) ($info['class'] ?? ''),
        (string) ($info['name'] ?? 'process'));
    $status = $runner->run();
    if ($status === 0) {
        $worker->stop();
    }
    exit($status);

default:
    error_log("laravel-worker.php: unknown process role '{$role}'");
    exit(1);
}
