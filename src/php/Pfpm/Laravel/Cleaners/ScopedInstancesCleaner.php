<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;

/**
 * $app->scoped() bindings live for one request (Laravel forgets them
 * between requests and queue jobs): an instance resolved while booting, or
 * kept by the base application, is forgotten so that each request resolves
 * its own.
 */
final class ScopedInstancesCleaner implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        if (method_exists($base, 'forgetScopedInstances')) {
            $base->forgetScopedInstances();
            $sandbox->forgetScopedInstances();
        }
    }
}
