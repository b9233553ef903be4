<?php

namespace App\Pfpm;

use Illuminate\Foundation\Application;
use Throwable;

/**
 * The worker hooks named in config/pfpm.php.  They append one line per call
 * to storage/logs/pfpm-worker.log (the test suite reads it).
 */
class WorkerHooks
{
    public static function start(Application $app): void
    {
        self::line($app, 'start');
    }

    public static function stop(Application $app): void
    {
        self::line($app, 'stop');
    }

    public static function error(Throwable $e, Application $app): void
    {
        self::line($app, 'error ' . get_class($e) . ': ' . $e->getMessage());
    }

    private static function line(Application $app, string $what): void
    {
        file_put_contents($app->storagePath() . '/logs/pfpm-worker.log',
            sprintf("%s pid=%d %s\n", date('c'), getmypid(), $what), FILE_APPEND | LOCK_EX);
    }
}
