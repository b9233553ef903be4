<?php
header('Content-Type: text/plain; charset=utf-8');
echo "Hello, ", $_POST['name'] ?? 'stranger', "\n";
if (!empty($_FILES['file']['tmp_name'])) {
	printf("uploaded %s: %d bytes, sha1 %s\n", $_FILES['file']['name'],
	    $_FILES['file']['size'], sha1_file($_FILES['file']['tmp_name']));
}
