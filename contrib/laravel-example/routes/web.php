<?php

use App\Events\RecordEvent;
use App\Http\Controllers\AuthController;
use App\Http\Controllers\ProbeController;
use App\Models\Hit;
use App\Support\RequestTally;
use App\Tasks\RecordTask;
use App\Tasks\ServicesTask;
use Carbon\Carbon;
use Illuminate\Http\Request;
use Illuminate\Pagination\Paginator;
use Illuminate\Support\Facades\App;
use Illuminate\Support\Facades\Cookie;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Log;
use Illuminate\Support\Facades\Route;
use Illuminate\Support\Facades\URL;
use Illuminate\Support\Facades\View;
use Pfpm\Task;

/*
 * Routes of the `web` middleware group (session, cookies, CSRF).
 */

Route::get('/', function () {
    return view('welcome', [
        'pid' => getmypid(),
        'worker' => function_exists('pfpm_worker_info') ? pfpm_worker_info() : null,
        'sapi' => PHP_SAPI,
    ]);
})->name('home');

Route::get('/web/hello', function (Request $request) {
    $visits = $request->session()->increment('visits');

    return response()->json([
        'hello' => 'web',
        'visits' => $visits,
        'csrf' => csrf_token(),
        'pid' => getmypid(),
    ]);
});

// Needs the CSRF token: a POST without it gets Laravel's 419 page.
Route::post('/web/form', function (Request $request) {
    return response()->json(['accepted' => $request->input('name')]);
});

Route::get('/db/write', function () {
    DB::table('hits')->insert([
        'pid' => getmypid(),
        'path' => request()->path(),
        'created_at' => now(),
        'updated_at' => now(),
    ]);

    return response()->json(['count' => DB::table('hits')->count(), 'last' => Hit::latest('id')->value('id')]);
});

/*
 * pfpm tasks and events (the pool needs task_workers > 0).  The tasks and
 * listeners record into PFPM_TEST_DB (App\Support\TestRecorder).
 *
 * GET /tasks/deliver?n=10&prefix=a&delay=0&tries=1&fail=0&sleep=
 *   delivers n App\Tasks\RecordTask named <prefix><i> (i = 0..n-1), each
 *   delayed `delay` seconds, with `tries` attempts, failing its first `fail`
 *   attempts, sleeping `sleep` ms (default PFPM_TEST_TASK_SLEEP_MS);
 *   answers {"ids": [task ids], "names": [...], "false": refused delivers}.
 * GET /tasks/services
 *   delivers App\Tasks\ServicesTask (config, database and injection in a task).
 * GET /tasks/event?name=x[&tries=1]
 *   fires App\Events\RecordEvent: its two listeners record event1:x and
 *   event2:x (the first stops the propagation when name is "stop").
 */
Route::get('/tasks/deliver', function (Request $request) {
    $n = max(0, min(100000, (int) $request->query('n', 1)));
    $prefix = (string) $request->query('prefix', 't');
    $delay = (float) $request->query('delay', 0);
    $tries = max(1, (int) $request->query('tries', 1));
    $fail = max(0, (int) $request->query('fail', 0));
    $sleep = $request->query('sleep');
    $sleep = $sleep === null || $sleep === '' ? null : max(0, (int) $sleep);

    $ids = [];
    $names = [];
    $refused = 0;
    for ($i = 0; $i < $n; $i++) {
        $task = new RecordTask($prefix.$i, $fail, $sleep);
        $task->tries($tries);
        if ($delay > 0) {
            $task->delay($delay);
        }
        $id = Task::deliver($task);
        if ($id === false) {
            $refused++;
        } else {
            $ids[] = $id;
            $names[] = $prefix.$i;
        }
    }

    return response()->json(['ids' => $ids, 'names' => $names, 'false' => $refused, 'pid' => getmypid()]);
});

Route::get('/tasks/services', function () {
    return response()->json(['id' => Task::deliver(new ServicesTask()), 'pid' => getmypid()]);
});

Route::get('/tasks/event', function (Request $request) {
    $id = RecordEvent::fire(new RecordEvent((string) $request->query('name', 'x')),
        max(1, (int) $request->query('tries', 1)));

    return response()->json(['id' => $id, 'pid' => getmypid()]);
});

Route::get('/login', [AuthController::class, 'form'])->name('login.form');
Route::post('/login', [AuthController::class, 'login'])->name('login');
Route::post('/logout', [AuthController::class, 'logout'])->name('logout');
Route::get('/whoami', [AuthController::class, 'whoami'])->name('whoami');
Route::get('/home', function () {
    return response()->json(['user' => auth()->user()->email]);
})->middleware('auth');

/*
 * State-leak probes: each pair sets some state in one request and reads it
 * in the next (tests/integration/test_laravel.py sends both to the same
 * worker).
 */
Route::prefix('probe')->group(function () {

    // config: ConfigCleaner
    Route::get('/config/set', function (Request $request) {
        config(['probe.value' => $request->query('v')]);
        return response()->json(['value' => config('probe.value')]);
    });
    Route::get('/config/get', function () {
        return response()->json(['value' => config('probe.value'), 'app_name' => config('app.name')]);
    });

    // locale: TranslatorCleaner
    Route::get('/locale/set', function (Request $request) {
        App::setLocale($request->query('l', 'fr'));
        return response()->json(['locale' => App::getLocale(), 'greeting' => __('messages.greeting')]);
    });
    Route::get('/locale', function () {
        return response()->json([
            'app_locale' => App::getLocale(),
            'translator_locale' => app('translator')->getLocale(),
            'carbon_locale' => Carbon::getLocale(),
            'greeting' => __('messages.greeting'),
        ]);
    });

    // a scoped instance resolved while booting: ScopedInstancesCleaner
    Route::get('/scoped', function () {
        return response()->json(['count' => app(RequestTally::class)->bump()]);
    });
    // an instance bound during a request: gone with the request's sandbox
    Route::get('/singleton/set', function (Request $request) {
        app()->instance('probe.singleton', $request->query('v'));
        app()->singleton('probe.lazy', function () use ($request) {
            return 'lazy-' . $request->query('v');
        });
        return response()->json(['value' => app('probe.singleton'), 'lazy' => app('probe.lazy')]);
    });
    Route::get('/singleton/get', function () {
        return response()->json([
            'bound' => app()->bound('probe.singleton'),
            'lazy_bound' => app()->bound('probe.lazy'),
        ]);
    });

    // queued cookies: CookieCleaner
    Route::get('/cookie/queue', function (Request $request) {
        Cookie::queue('probe_queued', $request->query('v', 'x'), 10);
        return response()->json(['queued' => true]);
    });
    Route::get('/cookie/none', function () {
        return response()->json(['queued' => count(Cookie::getQueuedCookies())]);
    });

    // View::share: ViewCleaner
    Route::get('/view/share', function (Request $request) {
        View::share('probe', $request->query('v'));
        return view('probe');
    });
    Route::get('/view', function () {
        return view('probe');
    });

    // query log and transactions: DatabaseCleaner
    Route::get('/db/log/enable', function () {
        DB::enableQueryLog();
        DB::table('users')->count();
        return response()->json(['logging' => DB::logging(), 'queries' => count(DB::getQueryLog())]);
    });
    Route::get('/db/log', function () {
        DB::table('users')->count();
        return response()->json(['logging' => DB::logging(), 'queries' => count(DB::getQueryLog())]);
    });
    Route::get('/db/tx/open', function () {
        // No statement inside: an SQLite transaction that wrote (or read)
        // would lock the database for the other workers until rolled back.
        DB::beginTransaction();
        exit('left a transaction open');
    });
    Route::get('/db/tx', function () {
        return response()->json([
            'level' => DB::transactionLevel(),
            'pdo_in_transaction' => DB::getPdo()->inTransaction(),
        ]);
    });

    // Log::withContext: LogCleaner (the test reads storage/logs/laravel.log)
    Route::get('/log/context', function (Request $request) {
        Log::withContext(['probe' => $request->query('v')]);
        Log::info('probe-context-set');
        return response()->json(['ok' => true]);
    });
    Route::get('/log/write', function (Request $request) {
        Log::info('probe-line ' . $request->query('tag'));
        return response()->json(['ok' => true]);
    });

    // session data: SessionCleaner
    Route::get('/session/put', function (Request $request) {
        session(['probe' => $request->query('v')]);
        return response()->json(['probe' => session('probe')]);
    });
    Route::get('/session/get', function () {
        return response()->json(['probe' => session('probe'), 'visits' => session('visits')]);
    });

    // URL generator: RequestCleaner
    Route::get('/url', function (Request $request) {
        return response()->json([
            'current' => url()->current(),
            'full' => $request->fullUrl(),
            'route' => route('probe.url', ['x' => 1]),
            'same' => app('url')->getRequest() === request(),
        ]);
    })->name('probe.url');
    Route::get('/url/force', function (Request $request) {
        URL::forceRootUrl($request->query('root', 'http://forced.example'));
        return response()->json(['current' => url()->current()]);
    });

    // paginator: PaginatorCleaner
    Route::get('/paginate', function () {
        $page = DB::table('users')->orderBy('id')->paginate(1);
        return response()->json([
            'page' => $page->currentPage(),
            'path' => $page->path(),
            'resolved_page' => Paginator::resolveCurrentPage(),
        ]);
    });

    // config/pfpm.php 'providers': registered again for each request
    Route::get('/provider', function () {
        return response()->json(['stamp' => app('request.stamp')]);
    });

    // controllers: ApplicationCleaner
    Route::get('/controller', [ProbeController::class, 'container']);

    // an application cleaner (config/pfpm.php 'cleaners')
    Route::get('/static/set', [ProbeController::class, 'setStatic']);
    Route::get('/static/get', [ProbeController::class, 'getStatic']);

    // dump() / dd(): DumperCleaner
    Route::get('/dump', function () {
        dump(['probe' => 'dumped-value']);
        return 'after dump';
    });
    Route::get('/dd', function () {
        dd(['probe' => 'dd-value']);
    });

    Route::get('/exit', function () {
        header('X-Before-Exit: yes');
        exit('bye');
    });
    Route::get('/throw', function () {
        throw new RuntimeException('probe exception');
    });
    Route::get('/terminate-error', function () {
        app()->terminating(function () {
            throw new RuntimeException('thrown while terminating');
        });
        return 'answered before terminate';
    });
    // fatal errors: pfpm answers 500 and replaces the process
    Route::get('/fatal/memory', function () {
        ini_set('memory_limit', '32M');
        $blocks = [];
        while (true) {
            $blocks[] = str_repeat('x', 1024 * 1024);
        }
    });
    Route::get('/fatal/timeout', function () {
        set_time_limit(1);
        $x = 0;
        while (true) {
            $x++;
        }
    });
    // terminate() runs after the client has the response
    Route::get('/slow-terminate', function (Request $request) {
        $file = storage_path('logs/terminated-' . preg_replace('/\W/', '', $request->query('tag')));
        app()->terminating(function () use ($file) {
            usleep(700000);
            file_put_contents($file, (string) microtime(true));
        });
        return response()->json(['answered' => microtime(true)]);
    });
    Route::get('/stream', function () {
        return response()->stream(function () {
            foreach (['first', 'second', 'third'] as $chunk) {
                echo $chunk, "\n";
                flush();
            }
        }, 200, ['Content-Type' => 'text/plain', 'X-Streamed' => 'yes']);
    });
    Route::get('/events', function () {
        return response()->json(['pid' => getmypid()]);
    });
    Route::get('/pid', function () {
        return response()->json([
            'pid' => getmypid(),
            'worker' => function_exists('pfpm_worker_info') ? pfpm_worker_info() : null,
            'memory' => memory_get_usage(),
        ]);
    });
});

/*
 * Native PHP behaviour through Laravel (CSRF is off for /native/*).
 */
Route::prefix('native')->group(function () {
    Route::any('/echo', function (Request $request) {
        return response()->json([
            'method' => $request->method(),
            'get' => $_GET,
            'post' => $_POST,
            'cookie' => $_COOKIE,
            'files' => array_keys($_FILES),
            'query' => $request->query(),
            'input' => $request->post(),
            'cookies' => $request->cookies->all(),
            'header' => $request->header('X-Probe'),
            'raw' => $request->getContent(),
        ]);
    });
    Route::post('/upload', function (Request $request) {
        $out = [];
        foreach ($request->allFiles() as $field => $file) {
            $stored = $file->storeAs('uploads', getmypid() . '-' . $field . '.bin');
            $out[$field] = [
                'name' => $file->getClientOriginalName(),
                'size' => $file->getSize(),
                'valid' => $file->isValid(),
                'sha1' => sha1_file($file->getRealPath()),
                'stored_sha1' => sha1_file(storage_path('app/' . $stored)),
                'uploaded' => is_uploaded_file($file->getRealPath()),
            ];
        }
        return response()->json(['files' => $out, 'fields' => $request->except(array_keys($out))]);
    });
    Route::get('/headers', function () {
        header('X-Native: yes');
        setcookie('native', 'from-setcookie');
        return response('native ok')->header('X-Laravel', 'yes')->cookie('plain', 'from-laravel', 10, null, null, false, false, false, null);
    });
    Route::get('/status/{code}', function ($code) {
        return response('status ' . $code, (int) $code);
    });
    Route::get('/teapot', function () {
        abort(418);
    });
    Route::get('/http-response-code', function () {
        http_response_code(418);
        echo "short and stout";
        exit;
    });
});
