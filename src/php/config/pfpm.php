<?php

/*
 * pfpm's Laravel worker: configuration of an application.
 *
 * Copy this file into the application's config directory:
 *
 *     cp /usr/local/share/pfpm/php/config/pfpm.php config/pfpm.php
 *
 * (the directory is $(pkgdatadir)/php of the pfpm installation; pfpm reads
 * these defaults when the application has no config/pfpm.php, and an
 * application's file only needs the keys it changes).  Only the worker mode
 * (`worker = laravel` in the pfpm pool) reads it; under php-fpm or pfpm's
 * classic mode it is an ordinary, unused config file.
 */

return [

    /*
     * Services resolved once when the worker boots and shared by every
     * request (the cleaners reset what a request changes in them).  A
     * service that is not listed is resolved by each request that uses it,
     * in its sandbox, and thrown away with it.
     */
    'warm' => [
        'auth',
        'cache',
        'cache.store',
        'config',
        'cookie',
        'db',
        'db.factory',
        'encrypter',
        'files',
        'hash',
        'log',
        'redirect',
        'router',
        'routes',
        'session',
        'session.store',
        'translator',
        'url',
        'view',
    ],

    /*
     * Application cleaners, run after the default ones at the start of each
     * request: classes implementing Pfpm\Laravel\Cleaner, resolved from the
     * container once per worker process.
     *
     *     'cleaners' => [App\Pfpm\ForgetTenant::class],
     */
    'cleaners' => [
    ],

    /*
     * Default cleaners not to run, by short name or class name:
     *   config       ConfigCleaner           config()->set() stays in its request
     *   application  ApplicationCleaner      router, events, validator, managers build from the sandbox
     *   auth         AuthCleaner             guards and their user forgotten; gate uses the sandbox
     *   session      SessionCleaner          session store emptied before the request's session loads
     *   cookies      CookieCleaner           Cookie::queue() queue emptied
     *   request      RequestCleaner          URL generator/redirector get the request; forced root/scheme undone
     *   translator   TranslatorCleaner       App::setLocale() undone (translator, Carbon)
     *   view         ViewCleaner             View::share() undone; `$app` is the sandbox; engines renewed
     *   database     DatabaseCleaner         open transactions rolled back; query log off and empty
     *   log          LogCleaner              Log::withContext() undone; Monolog reset
     *   scoped       ScopedInstancesCleaner  $app->scoped() instances forgotten
     *   paginator    PaginatorCleaner        current page/path come from the current request
     *   dumper       DumperCleaner           a new dump()/dd() dumper per request
     * Disabling one makes the state it resets leak from request to request:
     * for diagnosis only.
     */
    'disabled_cleaners' => [
    ],

    /*
     * Service providers registered (and booted) again in every request's
     * sandbox: providers whose bindings capture per-request state.
     */
    'providers' => [
    ],

    /*
     * Container bindings forgotten in every request's sandbox, so that each
     * request resolves its own instance of a singleton the booted
     * application resolved.
     */
    'flush' => [
    ],

    /*
     * Worker hooks: a callable, 'Class@method' or an invokable class name.
     *   on_worker_start(Application $app)            after the application booted
     *   on_worker_stop(Application $app)             when the process stops gracefully
     *                                                 (reload, pm.max_requests, QUIT)
     *   on_worker_error(Throwable $e, Application $sandbox)
     *                                                 an exception escaped Laravel's own
     *                                                 handling (event listener, send(),
     *                                                 terminate(), a cleaner); it was reported
     *                                                 and answered with a 500 already
     * Closures work too, but `php artisan config:cache` cannot cache them.
     */
    'on_worker_start' => null,
    'on_worker_stop' => null,
    'on_worker_error' => null,

    /*
     * Events fired with Pfpm\Event::fire() and their listeners (classes
     * extending Pfpm\Listener), run in this order by a task worker (the
     * pool needs task_workers > 0); a listener returning false stops the
     * propagation.  Listeners listed for a parent class or an interface of
     * the event run after those of its own class.
     *
     *     'events' => [
     *         App\Events\OrderShipped::class => [
     *             App\Listeners\NotifyCustomer::class,
     *             App\Listeners\UpdateStock::class,
     *         ],
     *     ],
     */
    'events' => [
    ],

    /*
     * The timer process (pool option `timer = on`).
     *   jobs       classes extending Pfpm\CronJob, resolved from the container
     *              when the timer process starts; each runs every interval()
     *              milliseconds, in a sandbox like a request
     *   scheduler  run the application's scheduler (app/Console/Kernel.php
     *              schedule(), `schedule:run`) once a minute: no crontab needed
     * A pool without `timer = on` ignores this key.
     */
    'timer' => [
        'jobs' => [
        ],
        'scheduler' => true,
    ],

    /*
     * Collect garbage cycles after a request when the worker uses more than
     * this many megabytes (0: leave it to PHP).
     */
    'garbage' => 50,

];
