<?php

/*
 * pfpm's worker script for Laravel applications.
 *
 * A pool with `worker = laravel` and `app_root = "/srv/app"` runs this file
 * once per worker process (its boot request).  It boots the application once,
 * then serves every FastCGI request from a sandboxed clone of it:
 *
 *     pool app {
 *         listen = /run/pfpm/app.sock
 *         worker = laravel
 *         app_root = /srv/app
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

// Boot and serve are separate steps: a preloading master will boot once and
// fork the processes that serve (DESIGN.md section 2).
$worker = new Pfpm\Laravel\Worker($appRoot);
$worker->boot();

while (pfpm_handle_request([$worker, 'handle'])) {
}

$worker->stop();
