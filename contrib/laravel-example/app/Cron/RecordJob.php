<?php

namespace App\Cron;

use App\Support\TestRecorder;
use Pfpm\CronJob;

/**
 * A timer job for the integration tests, enabled by PFPM_TEST_CRON
 * (config/pfpm.php): every PFPM_TEST_CRON_MS milliseconds (default 100)
 * records a row "cron" (attempt = the run's number, at = microtime(true));
 * stops itself after PFPM_TEST_CRON_STOP_AFTER runs when that is > 0.
 * PFPM_TEST_CRON_IMMEDIATE=1 runs it as soon as the timer process starts.
 */
class RecordJob extends CronJob
{
    /** @var int */
    private $runs = 0;

    public function interval(): int
    {
        return max(1, (int) env('PFPM_TEST_CRON_MS', 100));
    }

    public function isImmediate(): bool
    {
        return (bool) env('PFPM_TEST_CRON_IMMEDIATE', false);
    }

    public function run(): void
    {
        $this->runs++;
        TestRecorder::record('cron', $this->runs);

        $stopAfter = (int) env('PFPM_TEST_CRON_STOP_AFTER', 0);
        if ($stopAfter > 0 && $this->runs >= $stopAfter) {
            $this->stop();
        }
    }
}
