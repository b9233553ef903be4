<?php

namespace App\Support;

use PDO;

/**
 * Records what tasks, listeners, timer jobs, scheduled commands and custom
 * processes did into the SQLite database named by PFPM_TEST_DB (the
 * integration tests read it):
 *
 *     runs(task TEXT, attempt INT, pid INT, at REAL)
 *
 * Without PFPM_TEST_DB nothing is recorded.  One short-lived connection per
 * row (busy timeout 5 s, WAL): any number of processes record at once.
 */
final class TestRecorder
{
    public static function path(): ?string
    {
        $path = env('PFPM_TEST_DB');
        return is_string($path) && $path !== '' ? $path : null;
    }

    public static function record(string $task, int $attempt = 0, ?int $pid = null): bool
    {
        $path = self::path();
        if ($path === null) {
            return false;
        }
        $db = new PDO('sqlite:' . $path, null, null, [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_TIMEOUT => 5,
        ]);
        $db->exec('PRAGMA busy_timeout = 5000');
        $db->exec('PRAGMA journal_mode = WAL');
        $db->exec('CREATE TABLE IF NOT EXISTS runs (task TEXT, attempt INT, pid INT, at REAL)');
        $insert = $db->prepare('INSERT INTO runs (task, attempt, pid, at) VALUES (?, ?, ?, ?)');
        $insert->execute([$task, $attempt, $pid ?? getmypid(), microtime(true)]);
        return true;
    }

    private function __construct()
    {
    }
}
