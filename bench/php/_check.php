<?php
// Used by bench/run before measuring, to show that both backends run the same
// PHP configuration (same php.ini, same scanned ini files, opcache up) and
// that pfpm runs in the expected mode.  Served directly (/__bench_check) or,
// for the Laravel scenarios, from a route of bench's copy of the app (see
// bench/laravel/prepare).  Not benchmarked.
$op = function_exists('opcache_get_status') ? @opcache_get_status(false) : false;
header('Content-Type: application/json');
echo json_encode([
    'sapi'           => PHP_SAPI,
    'php_version'    => PHP_VERSION,
    'pid'            => getmypid(),
    'ini_loaded'     => php_ini_loaded_file(),
    'ini_scanned'    => php_ini_scanned_files() === false ? false
                        : array_map('trim', explode(',', trim(php_ini_scanned_files()))),
    'opcache_loaded' => extension_loaded('Zend OPcache'),
    'opcache_enabled'=> is_array($op) ? (bool)$op['opcache_enabled'] : false,
    'jit'            => is_array($op) && isset($op['jit']) ? (bool)$op['jit']['on'] : false,
    'memory_limit'   => ini_get('memory_limit'),
    'extensions'     => get_loaded_extensions(),
    'zend_extensions'=> get_loaded_extensions(true),
    // pfpm only: pool, mode (classic/worker), pid, requests served by this process
    'pfpm_worker'    => function_exists('pfpm_worker_info') ? pfpm_worker_info() : null,
]);
