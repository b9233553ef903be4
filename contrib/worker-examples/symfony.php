<?php
/*
 * Symfony HttpFoundation in pfpm worker mode.
 *
 *     pool sf {
 *         listen = /run/pfpm/sf.sock
 *         pm = static
 *         pm.max_children = 4
 *         worker = "/srv/sf/symfony.php"
 *     }
 *
 * Per request: Request::createFromGlobals() reads the superglobals pfpm has
 * just filled for this request, the application builds a Response, and
 * $response->send() emits it with header()/setcookie()/echo and then calls
 * fastcgi_finish_request(): the client has its answer, and anything the
 * handler does afterwards (a kernel's terminate(), logging, cleanup) runs
 * without making it wait.
 *
 * A full Symfony application would boot its Kernel here instead of the
 * route table below, and per request call
 *     $response = $kernel->handle($request);
 *     $response->send();
 *     $kernel->terminate($request, $response);
 * resetting its services between requests (the "services_resetter").
 *
 * HttpFoundation is loaded from Composer's autoloader when the application
 * has one (vendor/autoload.php next to this file, or SYMFONY_AUTOLOAD), else
 * from Debian's php-symfony-http-foundation package.
 */

declare(strict_types=1);

use Symfony\Component\HttpFoundation\Cookie;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;

// ---------------------------------------------------------------- BOOT

$autoload = getenv('SYMFONY_AUTOLOAD') ?: null;
foreach ([$autoload, __DIR__ . '/vendor/autoload.php',
          '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php'] as $file) {
    if ($file !== null && is_file($file)) {
        require_once $file;
        break;
    }
}
if (!class_exists(Request::class)) {
    throw new RuntimeException('symfony/http-foundation not found (composer require symfony/http-foundation, or apt install php-symfony-http-foundation)');
}

// Request settings are static in HttpFoundation: set them once, at boot.
Request::setTrustedProxies(['127.0.0.1', '::1'],
    Request::HEADER_X_FORWARDED_FOR | Request::HEADER_X_FORWARDED_PROTO);
Request::enableHttpMethodParameterOverride();

function worker_mode(): string
{
    return function_exists('pfpm_worker_info') ? pfpm_worker_info()['mode'] : 'classic';
}

// The "application": a route table built at boot, controllers that take a
// Request and return a Response.
$routes = [
    'GET /hello' => function (Request $request): Response {
        $seen = $request->cookies->get('seen');
        $response = new JsonResponse([
            'hello' => $request->query->get('name', 'world'),
            'seen' => $seen,
            'mode' => worker_mode(),
            'pid' => getmypid(),
        ]);
        $response->headers->setCookie(Cookie::create('seen', (string)((int)$seen + 1))
            ->withExpires(time() + 3600)->withSameSite(Cookie::SAMESITE_LAX));
        return $response;
    },
    'POST /echo' => function (Request $request): Response {
        return new JsonResponse([
            'json' => $request->toArray(),          // decoded php://input
            'content_type' => $request->headers->get('Content-Type'),
        ]);
    },
];

$handle = function () use ($routes): void {
    $request = Request::createFromGlobals();
    $route = $request->getMethod() . ' ' . $request->getPathInfo();
    try {
        $controller = $routes[$route] ?? null;
        $response = $controller !== null ? $controller($request)
            : new JsonResponse(['error' => 'Not Found'], Response::HTTP_NOT_FOUND);
    } catch (Throwable $e) {
        error_log('symfony.php: ' . $e);
        $response = new JsonResponse(['error' => 'Internal Server Error'],
            Response::HTTP_INTERNAL_SERVER_ERROR);
    }
    $response->prepare($request);
    $response->send();              // headers, cookies, body, fastcgi_finish_request()
    // after send(): the client has the response; "terminate" work goes here
};

// -------------------------------------------------------- REQUEST LOOP

if (function_exists('pfpm_handle_request')) {
    while (pfpm_handle_request($handle)) {
    }
} else {
    $handle();      // php-fpm / classic mode: one request per run
}
