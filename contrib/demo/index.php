<?php
/* pfpm demo: a page served through nginx -> pfpm (classic mode). */
$info = function_exists('pfpm_worker_info') ? pfpm_worker_info() : [];
$opcache = function_exists('opcache_get_status') ? opcache_get_status(false) : false;
setcookie('visits', (string)((int)($_COOKIE['visits'] ?? 0) + 1));
?><!doctype html>
<html><head><meta charset="utf-8"><title>pfpm demo</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto}td{padding:.2em .8em}code{background:#eee}</style>
</head><body>
<h1>pfpm is serving PHP <?= htmlspecialchars(PHP_VERSION) ?></h1>
<table>
<tr><td>SAPI</td><td><code><?= php_sapi_name() ?></code></td></tr>
<tr><td>pool</td><td><code><?= htmlspecialchars($info['pool'] ?? '?') ?></code></td></tr>
<tr><td>worker pid</td><td><code><?= getmypid() ?></code></td></tr>
<tr><td>opcache</td><td><code><?= $opcache && $opcache['opcache_enabled'] ? 'on, shared by all workers' : 'off' ?></code></td></tr>
<tr><td>your visits (cookie)</td><td><code><?= (int)($_COOKIE['visits'] ?? 0) + 1 ?></code></td></tr>
</table>
<h2>Try</h2>
<form method="post" action="form.php" enctype="multipart/form-data">
<input name="name" placeholder="your name"> <input type="file" name="file"> <button>send</button>
</form>
<p><a href="stream.php">a streamed response (flush)</a> &middot; <a href="finish.php">fastcgi_finish_request()</a></p>
</body></html>
