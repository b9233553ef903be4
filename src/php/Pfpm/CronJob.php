<?php

namespace Pfpm;

/**
 * A job of the pool's timer process, run every interval() milliseconds.
 *
 *     final class PruneSessions extends \Pfpm\CronJob
 *     {
 *         public function interval(): int
 *         {
 *             return 60000;                    // every minute
 *         }
 *
 *         public function run(): void
 *         {
 *             DB::table('sessions')->where('last_activity', '<', time() - 7200)->delete();
 *         }
 *     }
 *
 * List jobs in config/pfpm.php 'timer' => ['jobs' => [...]]; the pool needs
 * `timer = on`.  Each job is resolved from the container once, when the
 * timer process boots (constructor injection), and its run() is called on
 * that instance, each time in a sandbox of the booted application (the
 * request cleaners run first, as for a request).
 *
 * Runs stay on a fixed grid (start + k * interval, monotonic clock); a run
 * that takes longer than the interval skips the slots it missed.  An
 * exception is logged by pfpm and the job runs again at its next slot.  A
 * job may deliver tasks (Pfpm\Task::deliver()).  stop() removes the job's
 * timer for the rest of the process's life (a new timer process — after a
 * reload, say — starts it again).
 */
abstract class CronJob
{
    /** @var int|null */
    private $pfpmTimerId;

    /** Milliseconds between two runs (>= 1). */
    abstract public function interval(): int;

    /** The work of one run. */
    abstract public function run(): void;

    /** Run once as soon as the timer process starts, rather than after one interval. */
    public function isImmediate(): bool
    {
        return false;
    }

    /** The id of this job's timer (pfpm_timer_tick()), null before it is registered. */
    public function timerId(): ?int
    {
        return $this->pfpmTimerId;
    }

    /** Stop running this job (in this timer process). */
    public function stop(): void
    {
        if ($this->pfpmTimerId !== null && function_exists('pfpm_timer_clear')) {
            pfpm_timer_clear($this->pfpmTimerId);
        }
        $this->pfpmTimerId = null;
    }

    /** Is the job still registered? */
    public function isRunning(): bool
    {
        return $this->pfpmTimerId !== null;
    }

    /**
     * @internal set by Pfpm\Laravel\TimerRunner
     */
    public function setTimerId(?int $id): void
    {
        $this->pfpmTimerId = $id;
    }
}
