<?php
header('Content-Type: text/plain; charset=utf-8');
echo "The response is complete; the worker goes on for 2 s without the client.\n";
fastcgi_finish_request();
sleep(2);
error_log("finish.php: background work done");
