<?php

use Illuminate\Support\Facades\Artisan;

Artisan::command('app:about', function () {
    $this->info(config('app.name').' on Laravel '.app()->version());
})->purpose('Show the application name and the Laravel version');
