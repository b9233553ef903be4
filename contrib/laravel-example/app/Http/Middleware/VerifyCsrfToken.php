<?php

namespace App\Http\Middleware;

use Illuminate\Foundation\Http\Middleware\VerifyCsrfToken as Middleware;

class VerifyCsrfToken extends Middleware
{
    /**
     * URIs excluded from CSRF verification.  /login is excluded so that the
     * test suite can log in with one POST; /web/form is protected (a POST
     * without the token gets Laravel's 419 "Page Expired").
     *
     * @var array<int, string>
     */
    protected $except = [
        'login',
        'logout',
        'native/*',
    ];
}
