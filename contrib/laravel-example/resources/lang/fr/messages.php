<?php

return [
    'greeting' => 'Bonjour de',
];
