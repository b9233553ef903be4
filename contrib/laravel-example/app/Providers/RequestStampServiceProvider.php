<?php

namespace App\Providers;

use Illuminate\Support\ServiceProvider;

/**
 * A provider that captures request state when it registers (the kind of
 * provider that config/pfpm.php 'providers' lists, so that pfpm registers it
 * again for every request instead of only once at boot).
 */
class RequestStampServiceProvider extends ServiceProvider
{
    public function register()
    {
        $request = $this->app->make('request');

        $this->app->instance('request.stamp', $request->method() . ' ' . $request->getRequestUri());
    }
}
