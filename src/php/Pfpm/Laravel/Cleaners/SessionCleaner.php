<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Illuminate\Session\DatabaseSessionHandler;
use Pfpm\Laravel\Cleaner;

/**
 * A session store loads the session by merging what the handler read into
 * the attributes it already has: a store kept from the previous request
 * would hand the previous client's session (its login!) to the next one.
 * Empty the stores and give them a new id before StartSession loads this
 * request's session.
 */
final class SessionCleaner implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        if (!$base->resolved('session')) {
            return;
        }
        $manager = $sandbox->make('session');
        if (method_exists($manager, 'setContainer')) {
            $manager->setContainer($sandbox);
        }
        $stores = method_exists($manager, 'getDrivers') ? $manager->getDrivers() : [$manager->driver()];
        foreach ($stores as $store) {
            $store->flush();
            $store->regenerate();
            $handler = method_exists($store, 'getHandler') ? $store->getHandler() : null;
            if ($handler instanceof DatabaseSessionHandler) {
                $handler->setContainer($sandbox);
            }
        }
    }
}
