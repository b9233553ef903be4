<?php

namespace Pfpm\Laravel;

/**
 * Events the worker dispatches on the sandbox's event dispatcher
 * (string events with a payload, as Event::listen('pfpm.received_request',
 * function ($request, $app) { ... }) receives them).
 */
final class Events
{
    /** Before the HTTP kernel handles the request. Payload: [Request, Application $sandbox]. */
    public const RECEIVED_REQUEST = 'pfpm.received_request';

    /** After the kernel produced the response, before it is sent (listeners may change it).
     *  Payload: [Request, Response, Application $sandbox]. */
    public const GENERATED_RESPONSE = 'pfpm.generated_response';

    private function __construct()
    {
    }
}
