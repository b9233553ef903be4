<?php

namespace App\Http\Controllers;

use Illuminate\Contracts\Foundation\Application;
use Illuminate\Http\Request;

/**
 * Probes of pfpm's ApplicationCleaner: the controller must be built for
 * the request (a new instance, from the request's container) and its
 * method injection must give the current request.
 */
class ProbeController extends Controller
{
    /** @var string|null reset by App\Pfpm\ResetProbeStatics (an application cleaner) */
    public static $staticNote;

    /** @var int */
    private $calls = 0;

    /** @var Application */
    private $app;

    public function __construct(Application $app)
    {
        $this->app = $app;
    }

    public function container(Request $request)
    {
        $this->calls++;

        return response()->json([
            'calls' => $this->calls,
            'q' => $request->query('q'),
            'same_app' => $this->app === app(),
            'same_request' => $request === request(),
            'pid' => getmypid(),
        ]);
    }

    public function setStatic(Request $request)
    {
        self::$staticNote = $request->query('v');

        return response()->json(['static' => self::$staticNote]);
    }

    public function getStatic()
    {
        return response()->json(['static' => self::$staticNote, 'pid' => getmypid()]);
    }
}
