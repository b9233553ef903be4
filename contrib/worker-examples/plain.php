<?php
/*
 * A plain-PHP application in pfpm worker mode.
 *
 *     pool plain {
 *         listen = /run/pfpm/plain.sock
 *         pm = static
 *         pm.max_children = 4
 *         worker = "/srv/plain/plain.php"
 *         worker.max_memory = 64M
 *         env = {"PLAIN_DB=/srv/plain/var/notes.sqlite"}
 *     }
 *
 * nginx sends every request to the pool, as for any front controller:
 *
 *     location / { try_files $uri $uri/ /index.php?$query_string; }
 *     location ~ \.php$ { include fastcgi_params; fastcgi_pass unix:/run/pfpm/plain.sock; }
 *
 * (SCRIPT_FILENAME does not matter in worker mode: the booted script below
 * answers every request of the pool.)
 *
 * The file has two parts:
 *
 *   1. BOOT: runs once per worker process, before its first request.  Put
 *      here what is expensive and safe to share between requests: the
 *      prime table and the PDO connection with its prepared statements.
 *   2. REQUEST LOOP: pfpm_handle_request($handle) waits for a request,
 *      gives the engine a fresh per-request state ($_GET, $_POST, $_COOKIE,
 *      $_FILES, $_SERVER, php://input, headers, status code, output
 *      buffers, session, ini_set() changes), calls $handle(), sends what it
 *      printed with the headers it set, and returns true; it returns false
 *      when the process must stop (reload, shutdown, pm.max_requests,
 *      worker.max_memory), and the script then simply ends.
 *
 * Without pfpm (php-fpm, php -S, classic pool) the same file serves one
 * request per run: see the end of the file.
 *
 * Routes:
 *   GET  /                  worker info
 *   GET  /prime?n=97        answer from the table built at boot
 *   GET  /notes             rows of the SQLite table
 *   POST /notes   text=...  insert a row (201 + Location)
 *   GET  /visit             a cookie counter ($_COOKIE in, setcookie() out)
 *   POST /upload  file=@f   name, size and sha1 of an uploaded file
 */

declare(strict_types=1);

// ---------------------------------------------------------------- 1. BOOT

$bootStarted = hrtime(true);

// Expensive state built once: a sieve of Eratosthenes up to PRIME_MAX,
// one byte per number ("1" = prime).
const PRIME_MAX = 1000000;
$sieve = str_repeat('1', PRIME_MAX + 1);
$sieve[0] = $sieve[1] = '0';
for ($i = 2; $i * $i <= PRIME_MAX; $i++) {
    if ($sieve[$i] === '1') {
        for ($j = $i * $i; $j <= PRIME_MAX; $j += $i) {
            $sieve[$j] = '0';
        }
    }
}

// One database connection per worker process, opened at boot and reused
// by every request (a persistent connection without PDO::ATTR_PERSISTENT).
$dbPath = getenv('PLAIN_DB') ?: sys_get_temp_dir() . '/pfpm-plain-example.sqlite';
$db = new PDO('sqlite:' . $dbPath, null, null, [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
]);
$db->exec('PRAGMA journal_mode = WAL');
$db->exec('PRAGMA busy_timeout = 5000');
$db->exec('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
$insertNote = $db->prepare('INSERT INTO notes (text) VALUES (?)');
$listNotes = $db->prepare('SELECT id, text FROM notes ORDER BY id DESC LIMIT 100');

$bootMs = (hrtime(true) - $bootStarted) / 1e6;

// A helper shared by all requests.  It only writes the response: nothing
// it does outlives the request (pfpm resets headers and status).
function respond(int $status, array $data, array $headers = []): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    foreach ($headers as $name => $value) {
        header("$name: $value");
    }
    echo json_encode($data, JSON_UNESCAPED_SLASHES), "\n";
}

// ------------------------------------------------------- 2. REQUEST LOOP

// Everything the handler needs from the boot comes in through `use`.  Do
// not keep request data in statics, globals or captured references unless
// sharing it with the next requests is what you want: pfpm resets the
// engine's per-request state, not your application's.
$handle = function () use ($sieve, $db, $insertNote, $listNotes, $bootMs): void {
    $method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
    $path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';

    try {
        switch ("$method $path") {
        case 'GET /':
            respond(200, [
                'app' => 'plain',
                'worker' => function_exists('pfpm_worker_info') ? pfpm_worker_info()
                    : ['mode' => 'classic', 'pid' => getmypid()],
                'boot_ms' => round($bootMs, 1),
            ]);
            return;

        case 'GET /prime':
            $n = filter_var($_GET['n'] ?? null, FILTER_VALIDATE_INT,
                ['options' => ['min_range' => 0, 'max_range' => PRIME_MAX]]);
            if ($n === false) {
                respond(400, ['error' => 'n must be an integer in 0..' . PRIME_MAX]);
                return;
            }
            respond(200, ['n' => $n, 'prime' => $sieve[$n] === '1']);
            return;

        case 'GET /notes':
            $listNotes->execute();
            $rows = $listNotes->fetchAll();
            $listNotes->closeCursor();
            foreach ($rows as &$row) {
                $row['id'] = (int)$row['id'];
            }
            respond(200, ['notes' => $rows]);
            return;

        case 'POST /notes':
            $text = trim((string)($_POST['text'] ?? ''));
            if ($text === '') {
                respond(422, ['error' => 'text is required']);
                return;
            }
            $insertNote->execute([$text]);
            $id = (int)$db->lastInsertId();
            respond(201, ['id' => $id, 'text' => $text], ['Location' => "/notes/$id"]);
            return;

        case 'GET /visit':
            $visits = (int)($_COOKIE['visits'] ?? 0) + 1;
            setcookie('visits', (string)$visits, [
                'expires' => time() + 86400,
                'path' => '/',
                'httponly' => true,
                'samesite' => 'Lax',
            ]);
            respond(200, ['visits' => $visits]);
            return;

        case 'POST /upload':
            $f = $_FILES['file'] ?? null;
            if ($f === null || $f['error'] !== UPLOAD_ERR_OK) {
                respond(400, ['error' => 'send a file in the "file" field',
                    'code' => $f['error'] ?? null]);
                return;
            }
            // The temporary file is removed after the request, as under
            // php-fpm: move_uploaded_file() it to keep it.
            respond(200, [
                'name' => $f['name'],
                'size' => $f['size'],
                'sha1' => sha1_file($f['tmp_name']),
            ]);
            return;
        }
        $known = ['/', '/prime', '/notes', '/visit', '/upload'];
        if (in_array($path, $known, true)) {
            respond(405, ['error' => 'Method Not Allowed']);
        } else {
            respond(404, ['error' => 'Not Found', 'path' => $path]);
        }
    } catch (Throwable $e) {
        // Catch what the application can recover from.  An exception that
        // escapes the handler is logged by pfpm and answered with a 500 too;
        // the worker continues either way.  (A fatal error such as memory
        // exhaustion cannot be caught: pfpm answers 500 and replaces the
        // process.)
        error_log('plain.php: ' . $e);
        if (!headers_sent()) {
            header_remove();
            respond(500, ['error' => 'Internal Server Error']);
        }
    }
};

if (function_exists('pfpm_handle_request')) {
    while (pfpm_handle_request($handle)) {
        // Between requests: nothing to do.  (A good place for a cheap
        // health check of the boot state, e.g. reconnect $db on failure.)
    }
} else {
    $handle();      // php-fpm / classic mode: one request per run
}
