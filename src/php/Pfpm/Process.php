<?php

namespace Pfpm;

/**
 * A custom process of a pool: pfpm runs run() in its own process, started
 * with the pool and started again (after restart_interval) when it ends.
 *
 *     process metrics {
 *         class = "App\\Processes\\Metrics"
 *         count = 1
 *         restart_interval = 5s
 *     }
 *
 * The class is resolved from the container of a sandbox of the booted
 * application (constructor injection), then run() is called; it usually
 * loops.  Optional methods, called from signal handlers between two PHP
 * statements (a sleep() in progress is cut short):
 *
 *     public function onReload(): void   // pfpm is reloading (SIGUSR2): the process
 *                                        // keeps running until pfpm stops it
 *     public function onStop(): void     // pfpm stops the process (SIGQUIT); it
 *                                        // exits with status 0 after onStop() returns
 *
 * run() returning ends the process (pfpm starts it again after
 * restart_interval); an exception is logged and the process exits with
 * status 1.
 */
interface Process
{
    public function run(): void;
}
