<?php

namespace Pfpm\Laravel;

use Illuminate\Foundation\Application;

/**
 * A cleaner resets one kind of state that a request can leave behind in the
 * objects a worker keeps between requests.
 *
 * pfpm's Laravel worker calls every cleaner at the start of each request,
 * with the request's sandbox (a fresh clone of the booted application, with
 * the new request already bound as 'request') and the booted application
 * itself.  Cleaning at the start, rather than after the previous request,
 * means a request that ended with exit(), dd() or an error anywhere still
 * leaves a clean world for the next one.
 *
 * Cleaners are created once per worker process; they may keep what they
 * need between calls (for example a snapshot of the booted state taken on
 * their first call, which happens before the first request is handled).
 *
 * List application cleaners in config/pfpm.php:
 *
 *     'cleaners' => [App\Pfpm\ResetTenant::class],
 */
interface Cleaner
{
    public function clean(Application $sandbox, Application $base): void;
}
