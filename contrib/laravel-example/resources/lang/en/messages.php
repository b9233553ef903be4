<?php

return [
    'greeting' => 'Hello from',
];
