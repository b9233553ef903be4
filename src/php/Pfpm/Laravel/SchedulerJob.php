<?php

namespace Pfpm\Laravel;

use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Container\Container;
use Illuminate\Contracts\Console\Kernel as ConsoleKernelContract;
use Illuminate\Foundation\Application;
use Pfpm\CronJob;
use Symfony\Component\Console\Output\BufferedOutput;
use Throwable;

/**
 * The application's scheduler (app/Console/Kernel.php schedule()) in the
 * timer process: `schedule:run` once per wall-clock minute, as the crontab
 * line `* * * * * php artisan schedule:run` would, without cron.
 *
 * Enabled by default when the pool has a timer (`timer = on`); turn it off
 * with config/pfpm.php 'timer' => ['scheduler' => false].  It looks at the
 * clock every second and runs when the minute changed, shortly after second
 * 0 of each minute.  A new timer process (start, reload, restart) runs the
 * current minute at once unless a previous process already ran it (the
 * minute of the last run is kept in the application's default cache), so
 * that a reload neither runs a minute twice nor skips one.
 *
 * schedule:run runs in the timer process, in a sandbox, with a new Artisan
 * application each time (fresh command objects).  $schedule->command()
 * events run `php artisan ...` as child processes, $schedule->call() and
 * $schedule->job() in the timer process; a run that takes more than a
 * minute delays the next one (use runInBackground() for long commands).
 */
class SchedulerJob extends CronJob
{
    /** @var Application */
    private $base;

    /** @var ConsoleKernelContract */
    private $kernel;

    /** @var int|null the minute (unix time / 60) of the last run */
    private $minute;

    /** @var bool */
    private $first = true;

    public function __construct(Application $app)
    {
        $this->base = $app;
        // Resolved now, from the booted application: the kernel defines
        // the Schedule singleton (with the app's schedule()) on it.
        $this->kernel = $app->make(ConsoleKernelContract::class);
    }

    public function interval(): int
    {
        return 1000;
    }

    public function run(): void
    {
        $minute = intdiv(time(), 60);
        if ($this->first) {
            $this->first = false;
            $this->minute = $minute;
            if ($this->lastMinute() === $minute) {
                return;
            }
        } elseif ($minute === $this->minute) {
            return;
        }
        $this->minute = $minute;
        $this->rememberMinute($minute);
        $this->runSchedule();
    }

    /**
     * `schedule:run` now, in the current application (the sandbox of the
     * run).  Returns its exit status; output and a non-zero status are
     * logged.
     */
    public function runSchedule(): int
    {
        $app = Container::getInstance();
        if (!$app instanceof Application) {
            $app = $this->base;
        }
        $kernel = $this->kernel;

        // A new Schedule (and events) and a new Artisan application (and
        // command objects: ScheduleRunCommand keeps its start time) for
        // this run, built by the sandbox.
        $app->forgetInstance(Schedule::class);
        $app->instance(ConsoleKernelContract::class, $kernel);
        Props::set($kernel, 'app', $app);
        $kernel->setArtisan(null);
        $output = new BufferedOutput();
        try {
            $status = (int) $kernel->call('schedule:run', [], $output);
        } finally {
            Props::set($kernel, 'app', $this->base);
            $kernel->setArtisan(null);
        }
        if ($status !== 0) {
            error_log("pfpm: schedule:run exited with status {$status}: " . trim($output->fetch()));
        }
        return $status;
    }

    private function cacheKey(): string
    {
        $pool = function_exists('pfpm_worker_info') ? (string) (pfpm_worker_info()['pool'] ?? '') : '';
        return 'pfpm:scheduler:' . $pool . ':minute';
    }

    private function lastMinute(): ?int
    {
        try {
            $value = Container::getInstance()->make('cache')->get($this->cacheKey());
            return is_numeric($value) ? (int) $value : null;
        } catch (Throwable $e) {
            return null;
        }
    }

    private function rememberMinute(int $minute): void
    {
        try {
            Container::getInstance()->make('cache')->put($this->cacheKey(), $minute, 600);
        } catch (Throwable $e) {
            // Only a reload in the first seconds of a minute misses it.
        }
    }
}
