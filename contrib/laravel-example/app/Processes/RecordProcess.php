<?php

namespace App\Processes;

use App\Support\TestRecorder;
use Pfpm\Process;

/**
 * A custom process for the integration tests:
 *
 *     process recorder { class = "App\\Processes\\RecordProcess" }
 *
 * Records "process-start:<pid>" when it starts, then sleeps in steps of
 * 100 ms; with PFPM_TEST_PROCESS_CRASH_AFTER_MS > 0 it exits with status 3
 * after that many milliseconds.  SIGQUIT records "process-stop:<pid>"
 * (onStop), SIGUSR2 records "process-reload:<pid>" (onReload).
 */
class RecordProcess implements Process
{
    public function run(): void
    {
        $pid = getmypid();
        TestRecorder::record('process-start:' . $pid);
        // The constant STDOUT is the CLI's; php://stdout is fd 1 everywhere.
        file_put_contents('php://stdout', "RecordProcess {$pid} running\n");

        $started = microtime(true);
        $crashAfterMs = (int) env('PFPM_TEST_PROCESS_CRASH_AFTER_MS', 0);
        for (;;) {
            usleep(100000);
            if ($crashAfterMs > 0 && (microtime(true) - $started) * 1000 >= $crashAfterMs) {
                exit(3);
            }
        }
    }

    public function onReload(): void
    {
        TestRecorder::record('process-reload:' . getmypid());
    }

    public function onStop(): void
    {
        TestRecorder::record('process-stop:' . getmypid());
    }
}
