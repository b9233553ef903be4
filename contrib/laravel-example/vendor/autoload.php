<?php

/*
 * This app has no Composer install: Laravel 8 and its dependencies come from
 * Debian packages (php-laravel-framework and friends, under /usr/share/php),
 * each of which ships its own autoloader.  This file plays the part of
 * Composer's vendor/autoload.php: it loads Debian's autoloaders, then
 * registers PSR-4 autoloading for the application's own namespaces as
 * composer.json declares them (App\ => app/, Database\ => database/).
 *
 * With a Composer install, delete this file and run `composer install`.
 */

// Debian's autoloaders require their dependencies relative to the include
// path (require_once 'Carbon/autoload.php'): make sure /usr/share/php is on it
// whatever php.ini says.
$pfpmExampleShare = '/usr/share/php';
if (!in_array($pfpmExampleShare, explode(PATH_SEPARATOR, get_include_path()), true)) {
    set_include_path(get_include_path() . PATH_SEPARATOR . $pfpmExampleShare);
}

// Illuminate's umbrella autoloader pulls in every component of the framework
// (illuminate/*) and their dependencies: Symfony, Monolog, Carbon, Dotenv,
// Doctrine Inflector, League Flysystem/CommonMark, Ramsey UUID, ...
require_once $pfpmExampleShare . '/Illuminate/autoload.php';
unset($pfpmExampleShare);

spl_autoload_register(static function (string $class): void {
    static $map = null;
    if ($map === null) {
        $root = dirname(__DIR__);
        $map = [
            'App\\' => $root . '/app/',
            'Database\\Factories\\' => $root . '/database/factories/',
            'Database\\Seeders\\' => $root . '/database/seeders/',
        ];
    }
    foreach ($map as $prefix => $dir) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});

// pfpm's adapter classes (Pfpm\Task, Pfpm\Event, ...), which the app's
// tasks, events and jobs extend.  In pfpm's worker mode laravel-worker.php
// has registered its own loader for them already; this one serves artisan,
// php-fpm and pfpm's classic mode: $PFPM_PHP_DIR, this source tree's
// src/php, or pfpm's installed copy.
spl_autoload_register(static function (string $class): void {
    static $dirs = null;
    if (strncmp($class, 'Pfpm\\', 5) !== 0) {
        return;
    }
    if ($dirs === null) {
        $dirs = array_filter([
            getenv('PFPM_PHP_DIR') ?: null,
            dirname(__DIR__, 3).'/src/php',
            '/usr/local/share/pfpm/php',
            '/usr/share/pfpm/php',
        ]);
    }
    foreach ($dirs as $dir) {
        $file = $dir.'/'.str_replace('\\', '/', $class).'.php';
        if (is_file($file)) {
            require $file;
            return;
        }
    }
});
