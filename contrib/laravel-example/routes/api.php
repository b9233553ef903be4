<?php

use Illuminate\Support\Facades\Route;

/*
 * Stateless routes (the `api` middleware group: no session, no cookies),
 * under /api.
 */

Route::get('/hello', function () {
    return response()->json([
        'hello' => 'world',
        'pid' => getmypid(),
    ]);
})->name('api.hello');
