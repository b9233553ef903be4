<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;

/**
 * Cookie::queue() adds to the cookie jar's queue, and the web middleware
 * sends the queue without emptying it: a queued cookie would be sent to
 * every later client.
 */
final class CookieCleaner implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        if ($base->resolved('cookie')) {
            $sandbox->make('cookie')->flushQueuedCookies();
        }
    }
}
