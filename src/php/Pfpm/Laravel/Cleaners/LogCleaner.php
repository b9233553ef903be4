<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Monolog\ResettableInterface;
use Pfpm\Laravel\Cleaner;

/**
 * Log::withContext() adds to the context of the shared channel loggers:
 * each request starts without it.  Monolog loggers are reset (buffering
 * handlers flushed, processors such as the UID processor renewed).
 */
final class LogCleaner implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        if (!$base->resolved('log')) {
            return;
        }
        $log = $sandbox->make('log');
        if (method_exists($log, 'flushSharedContext')) {
            $log->flushSharedContext();
        }
        $channels = method_exists($log, 'getChannels') ? $log->getChannels() : [];
        foreach ($channels as $logger) {
            if (method_exists($logger, 'withoutContext')) {
                $logger->withoutContext();
            }
            $monolog = method_exists($logger, 'getLogger') ? $logger->getLogger() : null;
            if ($monolog instanceof ResettableInterface) {
                $monolog->reset();
            }
        }
    }
}
