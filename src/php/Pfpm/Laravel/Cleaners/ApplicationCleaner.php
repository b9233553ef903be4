<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Contracts\Broadcasting\Factory as BroadcastFactory;
use Illuminate\Contracts\Pipeline\Hub;
use Illuminate\Foundation\Application;
use Illuminate\Support\Manager;
use Pfpm\Laravel\Cleaner;
use Pfpm\Laravel\Props;

/**
 * Services resolved while booting keep the container they were created
 * with: the base application.  They must build what they build for a
 * request (controllers, middleware, listeners, validation rules, cache and
 * database connections, ...) from the request's sandbox, or a controller's
 * `Request $request` argument is the boot-time request.
 *
 * Also forgets the controller instance the previous request's route kept:
 * controllers are built per request, as under php-fpm.
 */
final class ApplicationCleaner implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        if ($base->resolved('router')) {
            $router = $sandbox->make('router');
            $previous = $router->current();
            if ($previous !== null && method_exists($previous, 'flushController')) {
                $previous->flushController();
            }
            $router->setContainer($sandbox);
        }

        if ($base->resolved('events')) {
            Props::set($sandbox->make('events'), 'container', $sandbox);
        }

        if ($base->resolved(Hub::class)) {
            $sandbox->make(Hub::class)->setContainer($sandbox);
        }

        if ($base->resolved('validator')) {
            $sandbox->make('validator')->setContainer($sandbox);
        }

        // Managers with setApplication() (database: DatabaseCleaner).
        foreach (['queue', 'filesystem', 'mail.manager', BroadcastFactory::class] as $abstract) {
            if ($base->resolved($abstract)) {
                $manager = $sandbox->make($abstract);
                if (method_exists($manager, 'setApplication')) {
                    $manager->setApplication($sandbox);
                }
            }
        }

        // Managers without a setter for their application.
        foreach (['cache', 'auth.password', 'log'] as $abstract) {
            if ($base->resolved($abstract)) {
                Props::set($sandbox->make($abstract), 'app', $sandbox);
            }
        }

        // Illuminate\Support\Manager subclasses (hash, notification channels).
        foreach (['hash', \Illuminate\Notifications\ChannelManager::class] as $abstract) {
            if ($base->resolved($abstract)) {
                $manager = $sandbox->make($abstract);
                if ($manager instanceof Manager) {
                    $manager->setContainer($sandbox);
                }
            }
        }
    }
}
