<?php

namespace App\Listeners;

use Illuminate\Foundation\Application;
use Illuminate\Http\Request;
use Symfony\Component\HttpFoundation\Response;

/**
 * Listens to pfpm's worker events (EventServiceProvider): counts them per
 * worker process and reports the counts in response headers.
 */
class RecordPfpmEvent
{
    /** @var array<string, int> per process, across requests */
    public static $counts = ['received' => 0, 'generated' => 0];

    /**
     * `pfpm.received_request` payload: [Request, Application (the sandbox)].
     * `pfpm.generated_response` payload: [Request, Response, Application].
     */
    public function handle(Request $request, ...$rest)
    {
        if ($rest[0] instanceof Response) {
            [$response, $app] = $rest;
            self::$counts['generated']++;
            $response->headers->set('X-Pfpm-Events', sprintf('received=%d generated=%d sandbox=%s',
                self::$counts['received'], self::$counts['generated'],
                $app === app() ? 'current' : 'other'));
            if ($request->attributes->get('pfpm.received')) {
                $response->headers->set('X-Pfpm-Received', 'yes');
            }
        } else {
            self::$counts['received']++;
            $request->attributes->set('pfpm.received', true);
        }
    }
}
