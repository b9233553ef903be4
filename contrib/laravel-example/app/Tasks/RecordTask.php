<?php

namespace App\Tasks;

use App\Support\TestRecorder;
use Pfpm\Task;
use RuntimeException;

/**
 * A task for the integration tests (GET /tasks/deliver): records one row
 * per attempt into PFPM_TEST_DB (task = its id, the attempt, the task
 * worker's pid), sleeps $sleepMs (default PFPM_TEST_TASK_SLEEP_MS, 0),
 * then fails its first $failTimes attempts.  finish() records "<id>:finish".
 */
class RecordTask extends Task
{
    /** @var string */
    public $id;

    /** @var int */
    public $failTimes;

    /** @var int|null */
    public $sleepMs;

    public function __construct(string $id, int $failTimes = 0, ?int $sleepMs = null)
    {
        $this->id = $id;
        $this->failTimes = $failTimes;
        $this->sleepMs = $sleepMs;
    }

    public function handle(): void
    {
        TestRecorder::record($this->id, $this->attempt());

        $sleepMs = $this->sleepMs ?? (int) env('PFPM_TEST_TASK_SLEEP_MS', 0);
        if ($sleepMs > 0) {
            usleep($sleepMs * 1000);
        }

        if ($this->attempt() <= $this->failTimes) {
            throw new RuntimeException("RecordTask {$this->id} fails attempt {$this->attempt()} of {$this->failTimes}");
        }
    }

    public function finish(): void
    {
        TestRecorder::record($this->id . ':finish', $this->attempt());
    }
}
