<?php

namespace Pfpm\Laravel;

use Illuminate\Contracts\Http\Kernel as HttpKernelContract;
use Illuminate\Foundation\Application;
use Illuminate\Foundation\Bootstrap\RegisterProviders;
use Illuminate\Foundation\Bootstrap\SetRequestForConsole;
use RuntimeException;

/**
 * Creates and bootstraps the application of an app root, once per worker.
 */
final class ApplicationFactory
{
    /** @var string */
    private $basePath;

    public function __construct(string $basePath)
    {
        $this->basePath = rtrim($basePath, '/');
    }

    public function basePath(): string
    {
        return $this->basePath;
    }

    /**
     * vendor/autoload.php + bootstrap/app.php, then the HTTP kernel's
     * bootstrappers (environment, configuration, exception handling,
     * facades, providers, boot), as public/index.php would on its first
     * request.
     */
    public function createApplication(): Application
    {
        if (!is_dir($this->basePath)) {
            throw new RuntimeException("pfpm: app_root {$this->basePath} is not a directory");
        }
        // Relative paths in the application (storage, views, sqlite files)
        // resolve as under public/index.php... relative to the app root.
        chdir($this->basePath);

        $autoload = $this->basePath . '/vendor/autoload.php';
        if (!is_file($autoload)) {
            throw new RuntimeException("pfpm: {$autoload} not found (run composer install in {$this->basePath})");
        }
        require_once $autoload;

        $bootstrap = $this->basePath . '/bootstrap/app.php';
        if (!is_file($bootstrap)) {
            throw new RuntimeException("pfpm: {$bootstrap} not found: is {$this->basePath} a Laravel application?");
        }
        $app = require $bootstrap;
        if (!$app instanceof Application) {
            throw new RuntimeException("pfpm: {$bootstrap} did not return an Illuminate\\Foundation\\Application");
        }

        return $this->bootstrap($app);
    }

    public function bootstrap(Application $app): Application
    {
        $kernel = $app->make(HttpKernelContract::class);

        // The kernel's own list (protected bootstrappers()), with
        // SetRequestForConsole before RegisterProviders: providers that
        // resolve the URL generator or request() while booting get a
        // request for app.url, as under artisan.  The base application
        // keeps that request; requests never touch the base application.
        $bootstrappers = (function () {
            return $this->bootstrappers();
        })->call($kernel);
        $at = array_search(RegisterProviders::class, $bootstrappers, true);
        if ($at !== false && !in_array(SetRequestForConsole::class, $bootstrappers, true)) {
            array_splice($bootstrappers, $at, 0, [SetRequestForConsole::class]);
        }
        $app->bootstrapWith($bootstrappers);

        // Deferred providers registered now are shared by every request;
        // registered during a request they would be registered again (and
        // booted again) in every sandbox.
        $app->loadDeferredProviders();

        return $app;
    }

    /**
     * Resolve services now so that every request shares one instance
     * (config/pfpm.php 'warm'); the cleaners reset their per-request state.
     *
     * @param string[] $services
     */
    public function warm(Application $app, array $services): void
    {
        foreach ($services as $service) {
            if (is_string($service) && $app->bound($service)) {
                $app->make($service);
            }
        }
    }
}
