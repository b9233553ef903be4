<?php

namespace App\Pfpm;

use App\Http\Controllers\ProbeController;
use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;

/**
 * An application cleaner (listed in config/pfpm.php 'cleaners'): resets a
 * static that the application keeps per request.
 */
class ResetProbeStatics implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        ProbeController::$staticNote = null;
    }
}
