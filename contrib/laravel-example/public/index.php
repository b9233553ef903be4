<?php

/*
 * The classic Laravel front controller: under php-fpm or pfpm's classic mode
 * every request boots the application from scratch here.  In pfpm's worker
 * mode this file is not used: the worker script boots the application once
 * per process and serves each request from a sandboxed clone of it.
 */

use Illuminate\Contracts\Http\Kernel;
use Illuminate\Http\Request;

define('LARAVEL_START', microtime(true));

if (file_exists($maintenance = __DIR__.'/../storage/framework/maintenance.php')) {
    require $maintenance;
}

require __DIR__.'/../vendor/autoload.php';

$app = require_once __DIR__.'/../bootstrap/app.php';

$kernel = $app->make(Kernel::class);

$response = $kernel->handle(
    $request = Request::capture()
)->send();

$kernel->terminate($request, $response);
