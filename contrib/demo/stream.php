<?php
header('Content-Type: text/plain; charset=utf-8');
header('X-Accel-Buffering: no');
for ($i = 1; $i <= 5; $i++) {
	echo "chunk $i at ", date('H:i:s'), "\n";
	flush();
	usleep(500000);
}
