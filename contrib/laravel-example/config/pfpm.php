<?php

/*
 * pfpm worker-mode settings of this application (read only when pfpm runs
 * it with `worker = laravel`).  Started from pfpm's default file:
 *     cp $(pkgdatadir)/php/config/pfpm.php config/pfpm.php
 * Keys left out take pfpm's defaults (see that file for what each means).
 */

return [

    /*
     * App\Pfpm\ResetProbeStatics shows an application cleaner.
     */
    'cleaners' => [
        App\Pfpm\ResetProbeStatics::class,
    ],

    /*
     * The test suite disables one default cleaner at a time to show that
     * the state it resets leaks without it: PFPM_DISABLED_CLEANERS is a
     * comma-separated list of short names (config, auth, session, ...),
     * set in the pfpm pool (env = {"PFPM_DISABLED_CLEANERS=auth"}).
     */
    'disabled_cleaners' => array_filter(explode(',', (string) env('PFPM_DISABLED_CLEANERS', ''))),

    /*
     * Registered again for every request: RequestStampServiceProvider
     * captures the request when it registers.
     */
    'providers' => [
        App\Providers\RequestStampServiceProvider::class,
    ],

    /*
     * Pfpm\Event listeners, run by a task worker (GET /tasks/event).
     */
    'events' => [
        App\Events\RecordEvent::class => [
            App\Listeners\RecordFirstListener::class,
            App\Listeners\RecordSecondListener::class,
        ],
    ],

    /*
     * The timer process (pool option `timer = on`).  App\Cron\RecordJob
     * only when PFPM_TEST_CRON is set, so that the demo stays quiet; the
     * scheduler (app/Console/Kernel.php) schedules nothing unless
     * PFPM_TEST_DB is set.  PFPM_TEST_SCHEDULER=false turns it off.
     */
    'timer' => [
        'jobs' => env('PFPM_TEST_CRON') ? [App\Cron\RecordJob::class] : [],
        'scheduler' => (bool) env('PFPM_TEST_SCHEDULER', true),
    ],

    'on_worker_start' => [App\Pfpm\WorkerHooks::class, 'start'],
    'on_worker_stop' => [App\Pfpm\WorkerHooks::class, 'stop'],
    'on_worker_error' => [App\Pfpm\WorkerHooks::class, 'error'],

];
