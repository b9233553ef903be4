<?php

namespace App\Providers;

use App\Support\RequestTally;
use Illuminate\Support\ServiceProvider;

class AppServiceProvider extends ServiceProvider
{
    /**
     * @return void
     */
    public function register()
    {
        // A scoped binding: one instance per request (Laravel forgets scoped
        // instances between requests / jobs, pfpm's ScopedInstancesCleaner
        // does so in worker mode).
        $this->app->scoped(RequestTally::class, function () {
            return new RequestTally();
        });
    }

    /**
     * @return void
     */
    public function boot()
    {
        // Resolved while booting (as a view composer or a middleware
        // constructor would): in worker mode the booted application keeps
        // this instance, so without the cleaner every request shares it.
        $this->app->make(RequestTally::class);
    }
}
