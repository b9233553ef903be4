<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Contracts\Auth\Access\Gate as GateContract;
use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;
use Pfpm\Laravel\Props;

/**
 * The auth manager caches its guards, and a guard caches the user it
 * authenticated: forget them, so that each request authenticates its own
 * user.  The gate resolves "the current user" and policies through the
 * sandbox.
 */
final class AuthCleaner implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        $sandbox->forgetInstance('auth.driver');

        if ($base->resolved('auth')) {
            $auth = $sandbox->make('auth');
            $auth->setApplication($sandbox);
            $auth->forgetGuards();
        }

        if ($base->resolved(GateContract::class)) {
            $gate = $sandbox->make(GateContract::class);
            if (method_exists($gate, 'setContainer')) {
                $gate->setContainer($sandbox);
            }
            Props::set($gate, 'userResolver', static function () use ($sandbox) {
                return call_user_func($sandbox->make('auth')->userResolver());
            });
        }
    }
}
