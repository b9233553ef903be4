<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;

/**
 * config()->set() during a request must not outlive it: each sandbox gets
 * its own copy of the booted configuration repository.
 */
final class ConfigCleaner implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        $sandbox->instance('config', clone $base->make('config'));
    }
}
