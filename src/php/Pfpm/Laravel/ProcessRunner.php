<?php

namespace Pfpm\Laravel;

use Illuminate\Foundation\Application;
use Pfpm\Process;
use RuntimeException;
use Throwable;

/**
 * Runs a custom process of a pool (`process NAME { class = "..." }`): the
 * class, resolved from the container of a sandbox of the booted
 * application, must implement Pfpm\Process.
 *
 *     $runner = new ProcessRunner($worker, $info['class'], $info['name']);
 *     exit($runner->run());
 *
 * pfpm leaves SIGQUIT and SIGUSR2 to the process.  With pcntl, the runner
 * handles them asynchronously (between two PHP statements; a sleep() in
 * progress returns early):
 *   SIGQUIT  (pfpm stops the process)  onStop() if the class has it, the
 *            pool's on_worker_stop hook, then exit status 0;
 *   SIGUSR2  (pfpm reloads)            onReload() if the class has it; the
 *            process keeps running until pfpm stops it with SIGQUIT.
 * Without pcntl, SIGQUIT ends the process at once (default action) and
 * onReload()/onStop() never run: a warning says so.
 *
 * run() returning ends the process (status 0; pfpm starts it again after
 * restart_interval).  An exception from run() is reported and logged, and
 * run() returns 1.
 */
final class ProcessRunner
{
    /** @var Worker */
    private $worker;

    /** @var string */
    private $class;

    /** @var string */
    private $name;

    /** @var Process|null */
    private $process;

    /** @var bool */
    private $stopping = false;

    public function __construct(Worker $worker, string $class, string $name = 'process')
    {
        $this->worker = $worker;
        $this->class = ltrim($class, '\\');
        $this->name = $name;
    }

    /** The process object, once run() created it. */
    public function process(): ?Process
    {
        return $this->process;
    }

    /**
     * Create the process object and run it.  Returns the exit status the
     * script should end with.
     */
    public function run(): int
    {
        if ($this->class === '') {
            error_log("pfpm: process {$this->name}: no class configured (process {$this->name} { class = \"App\\\\Processes\\\\...\" })");
            return 1;
        }
        $this->installSignalHandlers();
        try {
            $this->worker->sandboxed(function (Application $app): void {
                $process = $app->make($this->class);
                if (!$process instanceof Process) {
                    throw new RuntimeException("pfpm: process class {$this->class} does not implement " . Process::class);
                }
                $this->process = $process;
                $process->run();
            });
        } catch (Throwable $e) {
            error_log("pfpm: process {$this->name} ({$this->class}) failed: " . get_class($e) . ': '
                . $e->getMessage() . ' in ' . $e->getFile() . ':' . $e->getLine());
            $this->worker->report($e);
            return 1;
        }
        return 0;
    }

    /**
     * SIGQUIT and SIGUSR2 handlers (pcntl, asynchronous).  Returns false
     * when pcntl is missing.
     */
    public function installSignalHandlers(): bool
    {
        if (!function_exists('pcntl_signal') || !function_exists('pcntl_async_signals')
            || !defined('SIGQUIT') || !defined('SIGUSR2')) {
            error_log("pfpm: process {$this->name}: the pcntl extension is not available: "
                . 'onStop() and onReload() cannot run, and SIGQUIT ends the process at once');
            return false;
        }
        pcntl_async_signals(true);
        pcntl_signal(SIGQUIT, function (): void {
            $this->onQuit();
        });
        pcntl_signal(SIGUSR2, function (): void {
            $this->onUsr2();
        });
        return true;
    }

    /** SIGQUIT: onStop(), the stop hook, exit(0). */
    public function onQuit(): void
    {
        if ($this->stopping) {
            return;
        }
        $this->stopping = true;
        $status = 0;
        $process = $this->process;
        if ($process !== null && method_exists($process, 'onStop')) {
            try {
                $process->onStop();
            } catch (Throwable $e) {
                error_log("pfpm: process {$this->name}: onStop() failed: " . get_class($e) . ': ' . $e->getMessage());
                $this->worker->report($e);
                $status = 1;
            }
        }
        try {
            $this->worker->stop();
        } catch (Throwable $e) {
            error_log("pfpm: process {$this->name}: on_worker_stop failed: " . $e->getMessage());
        }
        exit($status);
    }

    /** SIGUSR2: onReload(); the process goes on. */
    public function onUsr2(): void
    {
        $process = $this->process;
        if ($process === null || !method_exists($process, 'onReload')) {
            return;
        }
        try {
            $process->onReload();
        } catch (Throwable $e) {
            error_log("pfpm: process {$this->name}: onReload() failed: " . get_class($e) . ': ' . $e->getMessage());
            $this->worker->report($e);
        }
    }
}
