<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;
use Pfpm\Laravel\Props;

/**
 * The view factory is shared: View::share() during a request (and the
 * `errors` bag the web middleware shares) must not reach the next request's
 * views; `$app` in views is the sandbox; sections, stacks and the render
 * count of a rendering that an exception or exit() interrupted are dropped;
 * the PHP and Blade engines are recreated (the Blade engine keeps a stack
 * of the views it is compiling).
 */
final class ViewCleaner implements Cleaner
{
    /** @var array|null data shared while booting */
    private $shared;

    public function clean(Application $sandbox, Application $base): void
    {
        if (!$base->resolved('view')) {
            return;
        }
        $view = $sandbox->make('view');
        if ($this->shared === null) {
            $this->shared = $view->getShared();
        }

        $view->setContainer($sandbox);
        Props::set($view, 'shared', array_merge($this->shared, ['app' => $sandbox]));
        $view->flushState();

        $engines = $view->getEngineResolver();
        $engines->forget('blade');
        $engines->forget('php');
    }
}
