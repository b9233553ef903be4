<?php

namespace App\Providers;

use Illuminate\Foundation\Support\Providers\AuthServiceProvider as ServiceProvider;
use Illuminate\Support\Facades\Gate;

class AuthServiceProvider extends ServiceProvider
{
    /**
     * @var array<class-string, class-string>
     */
    protected $policies = [
        //
    ];

    /**
     * @return void
     */
    public function boot()
    {
        $this->registerPolicies();

        // Only alice is an admin: /probe/gate answers from the Gate, which
        // must see the user of the current request.
        Gate::define('admin', function ($user) {
            return $user->email === 'alice@example.com';
        });
    }
}
