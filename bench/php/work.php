<?php
// CPU-bound page: build 1,000 associative arrays and JSON-encode them
// (roughly what an API endpoint returning a list of records does).
$rows = [];
for ($i = 0; $i < 1000; $i++) {
    $rows[] = [
        'id'      => $i,
        'name'    => 'user' . $i,
        'email'   => "user{$i}@example.com",
        'active'  => ($i % 3) !== 0,
        'score'   => $i * 1.5,
        'roles'   => ['reader', $i % 10 === 0 ? 'admin' : 'member'],
        'created' => '2024-01-01T00:00:00Z',
    ];
}
header('Content-Type: application/json');
echo json_encode($rows);
