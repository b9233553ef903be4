<?php

namespace App\Support;

/**
 * Counts things within one request.  Bound as `scoped` in
 * AppServiceProvider: every request must start from zero.
 */
class RequestTally
{
    public $count = 0;

    public function bump(): int
    {
        return ++$this->count;
    }
}
