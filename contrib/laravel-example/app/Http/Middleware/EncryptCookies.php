<?php

namespace App\Http\Middleware;

use Illuminate\Cookie\Middleware\EncryptCookies as Middleware;

class EncryptCookies extends Middleware
{
    /**
     * Cookies that are not encrypted (set natively with setcookie() by the
     * probe routes, read back as they are).
     *
     * @var array<int, string>
     */
    protected $except = [
        'native',
        'plain',
    ];
}
