<?php

namespace Pfpm\Laravel;

use Illuminate\Contracts\Debug\ExceptionHandler;
use Illuminate\Contracts\Http\Kernel as HttpKernelContract;
use Illuminate\Foundation\Application;
use Illuminate\Http\Request;
use RuntimeException;
use Symfony\Component\HttpFoundation\Response;
use Throwable;

/**
 * Serves a Laravel application in pfpm's worker mode.
 *
 * boot() creates and bootstraps the application once per process (the
 * "base" application).  handle() is the pfpm_handle_request() handler: for
 * each request it clones the base application into a sandbox, makes the
 * sandbox the current application (app(), facades, Container::getInstance()),
 * binds the request pfpm's SAPI put in the superglobals, runs the cleaners,
 * lets the HTTP kernel handle the request, sends the response natively
 * (header(), setcookie(), status line, body: Symfony's Response::send()),
 * ends the FastCGI request, runs the kernel's terminate() (terminable
 * middleware, terminating callbacks) with the client already answered, and
 * makes the base application current again.
 *
 * The clone copies the container's arrays (bindings, instances, aliases,
 * resolved, ...), so whatever a request binds or resolves into its sandbox
 * is gone with it.  The objects the base application resolved while booting
 * (router, config, session and auth managers, view factory, ...) are shared
 * by the sandboxes: the cleaners give them the sandbox and reset what a
 * request may leave in them.
 */
final class Worker
{
    /**
     * The default cleaners, in the order they run (short name => class).
     * config/pfpm.php 'disabled_cleaners' accepts either form.
     */
    public const DEFAULT_CLEANERS = [
        'config' => Cleaners\ConfigCleaner::class,
        'application' => Cleaners\ApplicationCleaner::class,
        'auth' => Cleaners\AuthCleaner::class,
        'session' => Cleaners\SessionCleaner::class,
        'cookies' => Cleaners\CookieCleaner::class,
        'request' => Cleaners\RequestCleaner::class,
        'translator' => Cleaners\TranslatorCleaner::class,
        'view' => Cleaners\ViewCleaner::class,
        'database' => Cleaners\DatabaseCleaner::class,
        'log' => Cleaners\LogCleaner::class,
        'scoped' => Cleaners\ScopedInstancesCleaner::class,
        'paginator' => Cleaners\PaginatorCleaner::class,
        'dumper' => Cleaners\DumperCleaner::class,
    ];

    /** @var Worker|null */
    private static $current;

    /** @var ApplicationFactory */
    private $factory;

    /** @var Application|null the booted application */
    private $app;

    /** @var \Illuminate\Foundation\Http\Kernel|null */
    private $kernel;

    /** @var array the effective pfpm configuration */
    private $config = [];

    /** @var Cleaner[] */
    private $cleaners = [];

    /** @var int requests handled by this process */
    private $requests = 0;

    public function __construct(string $appRoot)
    {
        $this->factory = new ApplicationFactory($appRoot);
    }

    public static function current(): ?self
    {
        return self::$current;
    }

    /** The booted (base) application. */
    public function application(): Application
    {
        if ($this->app === null) {
            throw new RuntimeException('pfpm: the worker has not booted');
        }
        return $this->app;
    }

    /** @return Cleaner[] the cleaners that run, in order */
    public function cleaners(): array
    {
        return $this->cleaners;
    }

    public function config(): array
    {
        return $this->config;
    }

    public function requestsHandled(): int
    {
        return $this->requests;
    }

    /**
     * Boot the application once for this process.
     */
    public function boot(): void
    {
        if (!defined('LARAVEL_START')) {
            define('LARAVEL_START', microtime(true));
        }
        $app = $this->factory->createApplication();
        $this->app = $app;
        self::$current = $this;

        $this->config = self::mergeConfig(
            require dirname(__DIR__, 2) . '/config/pfpm.php',
            (array) $app['config']->get('pfpm', [])
        );

        $this->kernel = $app->make(HttpKernelContract::class);
        $this->factory->warm($app, (array) $this->config['warm']);
        $this->cleaners = $this->makeCleaners($app);

        CurrentApplication::set($app);
        $this->callHook('on_worker_start', [$app]);
    }

    /**
     * The pfpm_handle_request() handler: one request.
     */
    public function handle(): void
    {
        $base = $this->app;
        $kernel = $this->kernel;
        $sandbox = clone $base;
        $request = null;
        $response = null;
        $responded = false;
        $this->requests++;

        CurrentApplication::set($sandbox);
        try {
            $request = Request::capture();
            $kernel->setApplication($sandbox);
            $this->prepareSandbox($sandbox, $request);

            $events = $sandbox['events'];
            $events->dispatch(Events::RECEIVED_REQUEST, [$request, $sandbox]);

            $response = $kernel->handle($request);

            $events->dispatch(Events::GENERATED_RESPONSE, [$request, $response, $sandbox]);

            // Headers through header()/setcookie(), then the body, then
            // fastcgi_finish_request(): the client has its answer before
            // terminate() runs.
            $response->send();
            $responded = true;
            if (function_exists('fastcgi_finish_request')) {
                fastcgi_finish_request();
            }

            $kernel->terminate($request, $response);
        } catch (Throwable $e) {
            $this->handleError($e, $sandbox, $request, $responded);
        } finally {
            $kernel->setApplication($base);
            CurrentApplication::set($base);
            unset($sandbox, $request, $response, $events);
            $this->collectGarbage();
        }
    }

    /**
     * Run $callback($sandbox) in a sandbox of the booted application, as a
     * request runs: a fresh clone of the booted application made current,
     * a request bound as 'request' (by default a GET of app.url, as artisan
     * has), the cleaners, pfpm.flush and pfpm.providers; afterwards the
     * booted application is current again.  Tasks, timer jobs and custom
     * processes run this way.  Returns what the callback returns;
     * exceptions propagate (the caller decides who reports them).
     *
     * @return mixed
     */
    public function sandboxed(callable $callback, ?Request $request = null)
    {
        $base = $this->application();
        $sandbox = clone $base;

        CurrentApplication::set($sandbox);
        try {
            $this->prepareSandbox($sandbox, $request ?? $this->consoleRequest($base));
            return $callback($sandbox);
        } finally {
            CurrentApplication::set($base);
            unset($sandbox, $request);
            $this->collectGarbage();
        }
    }

    /**
     * Report an exception through the application's exception handler
     * (storage/logs, error trackers), falling back to error_log().
     */
    public function report(Throwable $e, ?Application $app = null): void
    {
        try {
            ($app ?? $this->application())->make(ExceptionHandler::class)->report($e);
        } catch (Throwable $reportError) {
            error_log('pfpm: ' . get_class($e) . ': ' . $e->getMessage() . ' in '
                . $e->getFile() . ':' . $e->getLine() . ' (and reporting it failed: '
                . $reportError->getMessage() . ')');
        }
    }

    /**
     * What every sandbox gets before its work runs: the request, the
     * cleaners, pfpm.flush and pfpm.providers.
     */
    private function prepareSandbox(Application $sandbox, Request $request): void
    {
        $base = $this->app;
        $sandbox->instance('request', $request);

        foreach ($this->cleaners as $cleaner) {
            $cleaner->clean($sandbox, $base);
        }
        foreach ((array) $this->config['flush'] as $binding) {
            $sandbox->forgetInstance($binding);
        }
        foreach ((array) $this->config['providers'] as $provider) {
            $sandbox->register($provider, true);
        }
    }

    /**
     * The request outside HTTP (tasks, timer jobs, processes): a GET of
     * app.url, new each time, as Laravel's SetRequestForConsole builds it
     * for artisan.
     */
    private function consoleRequest(Application $base): Request
    {
        $uri = (string) $base->make('config')->get('app.url', 'http://localhost');
        $components = parse_url($uri);
        $server = $_SERVER;
        if (is_array($components) && isset($components['path'])) {
            $server = array_merge($server, [
                'SCRIPT_FILENAME' => $components['path'],
                'SCRIPT_NAME' => $components['path'],
            ]);
        }
        return Request::create($uri, 'GET', [], [], [], $server);
    }

    /**
     * The process is stopping (pfpm_handle_request() returned false:
     * graceful stop, reload, pm.max_requests, worker.max_memory).
     */
    public function stop(): void
    {
        if ($this->app !== null) {
            $this->callHook('on_worker_stop', [$this->app]);
        }
    }

    /**
     * An exception outside Laravel's own handling (the kernel renders what
     * routes and middleware throw): from a listener, send(), terminate(),
     * a cleaner.  Reported through the application's exception handler,
     * answered with its error page when nothing was sent yet; the worker
     * goes on with the next request.
     */
    private function handleError(Throwable $e, Application $sandbox, ?Request $request, bool $responded): void
    {
        $this->report($e, $sandbox);
        $handler = null;
        try {
            $handler = $sandbox->make(ExceptionHandler::class);
        } catch (Throwable $ignored) {
        }

        if (!$responded) {
            $sent = false;
            if ($handler !== null && !headers_sent()) {
                try {
                    $handler->render($request ?? Request::capture(), $e)->send();
                    $sent = true;
                } catch (Throwable $renderError) {
                    error_log('pfpm: rendering the error page failed: ' . $renderError->getMessage());
                }
            }
            if (!$sent && !headers_sent()) {
                http_response_code(500);
                header('Content-Type: text/plain; charset=UTF-8');
                echo "500 Internal Server Error\n";
            }
        }

        try {
            $this->callHook('on_worker_error', [$e, $sandbox]);
        } catch (Throwable $hookError) {
            error_log('pfpm: on_worker_error hook failed: ' . $hookError->getMessage());
        }
    }

    private function collectGarbage(): void
    {
        $limit = (int) ($this->config['garbage'] ?? 0);
        if ($limit > 0 && memory_get_usage() > $limit * 1024 * 1024) {
            gc_collect_cycles();
        }
    }

    /** @return Cleaner[] */
    private function makeCleaners(Application $app): array
    {
        $disabled = [];
        foreach ((array) $this->config['disabled_cleaners'] as $name) {
            $name = trim((string) $name);
            if ($name === '') {
                continue;
            }
            $disabled[ltrim(self::DEFAULT_CLEANERS[$name] ?? $name, '\\')] = true;
        }

        $classes = [];
        foreach (self::DEFAULT_CLEANERS as $class) {
            $classes[] = $class;
        }
        foreach ((array) $this->config['cleaners'] as $class) {
            $classes[] = ltrim($class, '\\');
        }

        $cleaners = [];
        foreach (array_unique($classes) as $class) {
            if (isset($disabled[$class])) {
                continue;
            }
            $cleaner = $app->make($class);
            if (!$cleaner instanceof Cleaner) {
                throw new RuntimeException("pfpm: cleaner {$class} does not implement " . Cleaner::class);
            }
            $cleaners[] = $cleaner;
        }
        return $cleaners;
    }

    /**
     * config/pfpm.php hooks: a callable, 'Class@method', or an invokable
     * class name (resolved from the container).
     */
    private function callHook(string $name, array $args): void
    {
        $hook = $this->config[$name] ?? null;
        if ($hook === null || $hook === '' || $hook === []) {
            return;
        }
        if (is_string($hook) && strpos($hook, '@') !== false) {
            [$class, $method] = explode('@', $hook, 2);
            $hook = [$this->app->make($class), $method];
        } elseif (is_string($hook) && class_exists($hook)) {
            $hook = $this->app->make($hook);
        } elseif (is_array($hook) && count($hook) === 2 && is_string($hook[0] ?? null)
            && method_exists($hook[0], (string) ($hook[1] ?? ''))
            && !(new \ReflectionMethod($hook[0], $hook[1]))->isStatic()) {
            // [Class::class, 'method'] naming an instance method
            $hook = [$this->app->make($hook[0]), $hook[1]];
        }
        if (!is_callable($hook)) {
            throw new RuntimeException("pfpm: config pfpm.{$name} is not callable");
        }
        $hook(...$args);
    }

    private static function mergeConfig(array $defaults, array $app): array
    {
        foreach ($app as $key => $value) {
            $defaults[$key] = $value;
        }
        return $defaults;
    }
}
