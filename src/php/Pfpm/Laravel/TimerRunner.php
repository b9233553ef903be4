<?php

namespace Pfpm\Laravel;

use Illuminate\Foundation\Application;
use Pfpm\CronJob;
use RuntimeException;
use Throwable;

/**
 * The timer process of a pool (`timer = on`): registers the jobs of
 * config/pfpm.php 'timer' and runs them with pfpm's timer loop.
 *
 *     $timer = new TimerRunner($worker);
 *     $timer->register();
 *     $timer->run();            // pfpm_timer_run(): returns when pfpm stops the process
 *
 * Each job is resolved once from the booted application; each run calls
 * its run() in a sandbox of the booted application, as a request
 * (Worker::sandboxed()).  An exception is reported through the
 * application's exception handler and rethrown to pfpm, which logs it; the
 * job runs again at its next slot.
 *
 * The process stays up until pfpm stops it, even when every job stopped
 * itself (CronJob::stop()) or none is configured: otherwise pfpm would
 * start a new timer process, whose jobs would start again.
 */
final class TimerRunner
{
    /** A timer that keeps pfpm_timer_run() waiting when no job is left. */
    private const KEEPALIVE_MS = 3600000;

    /** @var Worker */
    private $worker;

    /** @var CronJob[] */
    private $jobs = [];

    public function __construct(Worker $worker)
    {
        $this->worker = $worker;
    }

    /**
     * The job classes config/pfpm.php asks for: 'timer' => ['jobs' => [...]],
     * plus SchedulerJob unless 'timer' => ['scheduler' => false].
     *
     * @return string[]
     */
    public static function configuredJobs(array $config): array
    {
        $timer = (array) ($config['timer'] ?? []);
        $classes = [];
        foreach ((array) ($timer['jobs'] ?? []) as $class) {
            $classes[] = ltrim((string) $class, '\\');
        }
        if ((bool) ($timer['scheduler'] ?? true)) {
            $classes[] = SchedulerJob::class;
        }
        return array_values(array_unique($classes));
    }

    /**
     * Register the configured jobs.  A job that cannot be created or
     * registered is reported and left out; the others run.
     *
     * @return CronJob[] the registered jobs
     */
    public function register(): array
    {
        $app = $this->worker->application();
        foreach (self::configuredJobs($this->worker->config()) as $class) {
            try {
                $job = $app->make($class);
                if (!$job instanceof CronJob) {
                    throw new RuntimeException("pfpm: timer job {$class} does not extend " . CronJob::class);
                }
                $this->add($job);
            } catch (Throwable $e) {
                error_log("pfpm: timer job {$class} not started: " . get_class($e) . ': ' . $e->getMessage());
                $this->worker->report($e);
            }
        }
        pfpm_timer_tick(self::KEEPALIVE_MS, static function (): void {
        });
        return $this->jobs;
    }

    /** Register one job; returns its timer id. */
    public function add(CronJob $job): int
    {
        $interval = $job->interval();
        if ($interval < 1) {
            throw new RuntimeException('pfpm: ' . get_class($job) . "::interval() returned {$interval}: it must be >= 1 (milliseconds)");
        }
        $id = pfpm_timer_tick($interval, function () use ($job): void {
            $this->tick($job);
        }, $job->isImmediate());
        $job->setTimerId($id);
        $this->jobs[] = $job;
        return $id;
    }

    /** @return CronJob[] */
    public function jobs(): array
    {
        return $this->jobs;
    }

    /** Wait for timers and run them until pfpm stops the process. */
    public function run(): void
    {
        pfpm_timer_run();
    }

    /** One run of a job, in a sandbox. */
    public function tick(CronJob $job): void
    {
        $this->worker->sandboxed(function (Application $app) use ($job): void {
            try {
                $job->run();
            } catch (Throwable $e) {
                $this->worker->report($e, $app);
                throw $e;
            }
        });
    }
}
